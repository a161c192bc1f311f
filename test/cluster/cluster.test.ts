import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { crdt, eventsourced, valueentity } from "@switchboard/protocol/tck";
import { shardOf } from "../../packages/proxy/src/cluster/shard.js";
import { DEFAULT_SHARD_COUNT } from "../../packages/proxy/src/cluster/cluster-node.js";
import { type PostgresServer, startPostgres } from "../postgres/pg-server.js";
import { createTestClient } from "../support/grpc-client.js";
import { COUNTER_USER_FUNCTION, ClusterDatabase, type ClusterNodeProcess, readyStatus, startNode, waitFor } from "./cluster-harness.js";
import { ES_PATH, ES_PERSISTENCE_ID, eventValue, Load, stateValue, VE_PATH, VE_PERSISTENCE_ID } from "./load.js";

/**
 * Three real nodes (each a `switchboard start --cluster-port` process beside its own TCK
 * user function process) on one real PostgreSQL, under load through every node, while
 * nodes are killed, paused, restarted and stopped. After every chaos step the database
 * is read directly: every acknowledged event and value write is there, journals have
 * no gaps and no duplicates, and every shard has one unexpired lease.
 */
// Short, yet long enough that a node of this test is not declared dead while the machine is
// busy starting another node beside the load (a stall past the lease is the SIGSTOP case).
const LEASE_TTL_MS = 3000;

let server: PostgresServer | undefined;
let db: ClusterDatabase | undefined;
let url = "";
const nodes: ClusterNodeProcess[] = [];
/** Nodes a load balancer would send to: alive and not paused. */
const paused = new Set<string>();
const targets = () => nodes.filter((n) => n.alive() && !paused.has(n.nodeId));
let nextId = 1;
/** Figures for the closing report. */
const figures: string[] = [];

async function addNode(): Promise<ClusterNodeProcess> {
  const node = await startNode({ nodeId: `node-${nextId++}`, databaseUrl: url, leaseTtlMs: LEASE_TTL_MS });
  nodes.push(node);
  return node;
}

function database(): ClusterDatabase {
  assert.ok(db);
  return db;
}

/** Every shard has exactly one unexpired lease, held by one of `owners`. */
async function allShardsOwnedBy(owners: readonly string[]): Promise<boolean> {
  const leases = await database().shardOwners();
  if (leases.size !== DEFAULT_SHARD_COUNT) return false;
  return [...leases.values()].every((l) => owners.includes(l.owner));
}

/** The invariants, read from the database: acknowledged writes present, journals gap- and duplicate-free. */
async function checkInvariants(load: Load): Promise<{ events: number; journals: number }> {
  const journals = await database().journals(ES_PERSISTENCE_ID);
  let events = 0;
  for (const [entity, rows] of journals) {
    for (const [index, row] of rows.entries()) assert.equal(row.seq, index + 1, `${entity}: seq ${row.seq} at position ${index + 1} (a gap or a duplicate)`);
    const values = rows.map((row) => eventValue(row.payload));
    assert.equal(new Set(values).size, values.length, `${entity}: an event stored twice`);
    events += rows.length;
  }
  for (const [entity, acked] of load.ackedEvents) {
    const stored = (journals.get(entity) ?? []).map((row) => eventValue(row.payload));
    // Every acknowledged event is stored, in acknowledgement order (unacknowledged ones may sit between).
    let at = 0;
    for (const value of acked) {
      const found = stored.indexOf(value, at);
      assert.ok(found >= 0, `${entity}: acknowledged event ${value} is not in the journal (or out of order)`);
      at = found + 1;
    }
  }
  const values = await database().values(VE_PERSISTENCE_ID);
  for (const [entity, counter] of load.ackedValues) {
    const stored = values.get(entity);
    assert.ok(stored !== undefined, `${entity}: acknowledged value ${counter} is not stored`);
    assert.ok(Number(stateValue(stored)) >= counter, `${entity}: stored ${stateValue(stored)}, acknowledged ${counter}`);
  }
  return { events, journals: journals.size };
}

/** Every live node answers the same state for every entity the load wrote. */
async function checkSameStateEverywhere(load: Load): Promise<void> {
  const clients = targets().map((n) => ({ node: n.nodeId, client: createTestClient(n.port) }));
  try {
    for (const entity of load.ackedEvents.keys()) {
      const seen = new Set<string>();
      for (const { node, client } of clients) {
        const r = await client.unary(ES_PATH, eventsourced.RequestSchema, eventsourced.ResponseSchema, { id: entity }, { deadlineMs: 20_000 });
        assert.equal(r.code, grpc.status.OK, `${node} reading ${entity}: ${r.details}`);
        seen.add(r.messages[0]?.message ?? "");
      }
      assert.equal(seen.size, 1, `${entity} reads differently on different nodes`);
    }
    for (const entity of load.ackedValues.keys()) {
      const seen = new Set<string>();
      for (const { node, client } of clients) {
        const r = await client.unary(VE_PATH, valueentity.RequestSchema, valueentity.ResponseSchema, { id: entity }, { deadlineMs: 20_000 });
        assert.equal(r.code, grpc.status.OK, `${node} reading ${entity}: ${r.details}`);
        seen.add(r.messages[0]?.message ?? "");
      }
      assert.equal(seen.size, 1, `${entity} reads differently on different nodes`);
    }
  } finally {
    for (const { client } of clients) client.close();
  }
}

async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  await waitFor(what, timeoutMs, async () => ((await check()) ? true : undefined));
}

describe("a cluster of three nodes on PostgreSQL", () => {
  before(async () => {
    server = await startPostgres();
    url = server.url;
    db = new ClusterDatabase(url);
    // The first node creates the schema; the others start together.
    await addNode();
    await Promise.all([addNode(), addNode()]);
    // Every shard owned, and spread: the first node takes them all, the other two win
    // theirs as they join (without waiting for that, a fast first test can finish first).
    const ids = nodes.map((n) => n.nodeId);
    await until("every shard owned, by each of the three nodes", 30_000, async () => {
      if (!(await allShardsOwnedBy(ids))) return false;
      return new Set([...(await database().shardOwners()).values()].map((l) => l.owner)).size === 3;
    });
  });

  after(async () => {
    // CLUSTER_TEST_LOGS=<dir> keeps every node's output for a post-mortem.
    const logs = process.env.CLUSTER_TEST_LOGS;
    if (logs !== undefined) {
      mkdirSync(logs, { recursive: true });
      for (const node of nodes) writeFileSync(join(logs, `${node.nodeId}.log`), `${node.proxy.output()}\n--- user function ---\n${node.userFunction.output()}`);
    }
    for (const node of nodes) {
      if (paused.has(node.nodeId)) node.resume();
      await node.kill();
    }
    await db?.close();
    await server?.stop();
    if (figures.length > 0) console.log(`cluster figures:\n  ${figures.join("\n  ")}`);
  });

  it("serves every entity through every node, owned by one node each", async () => {
    const load = new Load(targets, 6, 2);
    load.start();
    await until("writes through every node", 30_000, () => load.acknowledged >= 60);
    await load.stop();
    assert.deepEqual(load.failures, []);
    await checkInvariants(load);
    await checkSameStateEverywhere(load);
    const owners = new Set([...(await database().shardOwners()).values()].map((l) => l.owner));
    assert.equal(owners.size, 3, "shards spread over the three nodes");
  });

  it("loses no acknowledged write when a node is killed mid-load, again and again; its shards move and calls succeed again", async () => {
    const load = new Load(targets, 10, 4);
    load.start();
    const failovers: number[] = [];
    const kills: { from: number; to: number; node: string }[] = [];
    try {
      await until("load running", 30_000, () => load.acknowledged >= 40);
      for (let round = 0; round < 3; round++) {
        const victim = nodes.filter((n) => n.alive())[round % 3] as ClusterNodeProcess;
        const owned = [...(await database().shardOwners())].filter(([, l]) => l.owner === victim.nodeId).map(([s]) => s);
        const before = load.acknowledged;
        const killedAt = Date.now();
        await victim.kill();
        // From the signal to the process's end: calls in flight in this window may fail.
        kills.push({ from: killedAt, to: Date.now(), node: victim.nodeId });
        const survivors = nodes.filter((n) => n.alive()).map((n) => n.nodeId);
        await until(`${victim.nodeId}'s shards owned again`, 20_000, () => allShardsOwnedBy(survivors));
        failovers.push(Date.now() - killedAt);
        // Calls to the killed node's entities succeed again.
        const victimEntities = [...load.ackedEvents.keys()].filter((e) => owned.includes(shardOf(ES_PERSISTENCE_ID, e, DEFAULT_SHARD_COUNT)));
        await until("calls to the killed node's entities succeed again", 20_000, () => victimEntities.some((e) => (load.lastOk.get(e) ?? 0) > killedAt));
        await until("more writes after the kill", 20_000, () => load.acknowledged >= before + 30);
        // A new node joins under load (as the killed one would be replaced).
        await addNode();
        await until("the joined node owns shards", 20_000, async () => new Set([...(await database().shardOwners()).values()].map((l) => l.owner)).size === 3);
      }
    } finally {
      await load.stop();
    }
    // Only calls in flight on a killed node at the moment it died may fail.
    const unexpected = load.failures.filter((f) => !kills.some((k) => f.startedAt <= k.to && f.endedAt >= k.from));
    assert.deepEqual(unexpected, [], "calls that were not in flight at a kill failed");
    const { events, journals } = await checkInvariants(load);
    await checkSameStateEverywhere(load);
    assert.ok(await allShardsOwnedBy(nodes.filter((n) => n.alive()).map((n) => n.nodeId)));
    figures.push(
      `kill -9 x3 (lease ttl ${LEASE_TTL_MS} ms): shards owned again after ${failovers.join(", ")} ms; ${load.acknowledged} acknowledged writes, ${events} events in ${journals} journals, ${load.failures.length} calls failed in flight, ${load.rerouted} rerouted`,
    );
  });

  it("refuses the late writes of a node paused past its lease, and loses nothing acknowledged", async () => {
    const load = new Load(targets, 8, 3);
    load.start();
    const victim = nodes.filter((n) => n.alive())[0] as ClusterNodeProcess;
    let refusedCalls = 0;
    try {
      await until("load running", 30_000, () => load.acknowledged >= 40);
      const tokensBefore = await database().shardOwners();
      // Pause the user function first so commands pile up in flight on the node, then the node itself.
      paused.add(victim.nodeId);
      victim.pause("userFunction");
      await new Promise((r) => setTimeout(r, 300));
      victim.pause("proxy");
      const survivors = nodes.filter((n) => n.alive() && n !== victim).map((n) => n.nodeId);
      await until("the paused node's shards taken over", 20_000, () => allShardsOwnedBy(survivors));
      const tokensAfter = await database().shardOwners();
      for (const [shard, before] of tokensBefore) {
        if (before.owner === victim.nodeId) assert.ok((tokensAfter.get(shard)?.token ?? 0) > before.token, `shard ${shard}: a newer fencing token`);
      }
      // Wake it: the node first, then its user function, whose replies it now tries to write.
      victim.resume("proxy");
      await new Promise((r) => setTimeout(r, 100));
      victim.resume("userFunction");
      await until("the woken node back in the cluster", 20_000, async () => (await readyStatus(victim.port)) === 200);
      paused.delete(victim.nodeId);
      await until("writes after the wake-up", 20_000, () => load.ok > 0);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      paused.delete(victim.nodeId);
      await load.stop();
    }
    const refusedInLog = (victim.proxy.output().match(/stale writer/g) ?? []).length;
    refusedCalls = load.failures.filter((f) => f.code === grpc.status.FAILED_PRECONDITION || /stale writer/.test(f.details)).length;
    // Every call that failed was one in flight on the paused node.
    for (const failure of load.failures) assert.match(failure.details, /stale writer|went away|unavailable|deadline/i, JSON.stringify(failure));
    await checkInvariants(load);
    await checkSameStateEverywhere(load);
    figures.push(
      `SIGSTOP past the lease: ${refusedCalls} late writes refused (calls answered "stale writer"; ${refusedInLog} mentions in its log), ${load.acknowledged} acknowledged, 0 lost`,
    );
  });

  it("hands shards over on SIGTERM under load: exit 0 and no failed call", async () => {
    const load = new Load(targets, 8, 3);
    load.start();
    const leaving = nodes.filter((n) => n.alive())[0] as ClusterNodeProcess;
    let code: number | null = null;
    try {
      await until("load running", 30_000, () => load.acknowledged >= 40);
      code = await leaving.stop();
      await until("its shards owned by the others", 20_000, () => allShardsOwnedBy(nodes.filter((n) => n.alive()).map((n) => n.nodeId)));
      const after = load.acknowledged;
      await until("writes after the leave", 20_000, () => load.acknowledged >= after + 30);
      await addNode();
      await until("three owners again", 20_000, async () => new Set([...(await database().shardOwners()).values()].map((l) => l.owner)).size === 3);
    } finally {
      await load.stop();
    }
    assert.equal(code, 0, leaving.proxy.output().slice(-2000));
    assert.deepEqual(load.failures, [], "no call failed during the graceful leave and the join");
    await checkInvariants(load);
    await checkSameStateEverywhere(load);
  });

  it("runs each event-log consumer on exactly one node", async () => {
    const consumers = (await database().leases()).filter((l) => l.name.startsWith("consumer/"));
    assert.ok(consumers.length > 0, "the TCK user function has event-log consumers");
    for (const consumer of consumers)
      assert.ok(
        nodes.some((n) => n.alive() && n.nodeId === consumer.owner),
        `${consumer.name} runs on a live node`,
      );
    assert.equal(new Set(consumers.map((c) => c.name)).size, consumers.length, "one lease per consumer");
  });

  it("converges CRDT replicas: concurrent updates on every node, a node paused and woken; MAJORITY waits for acknowledgements", async () => {
    const live = targets();
    assert.ok(live.length >= 3, "three live nodes");
    const clients = live.map((n) => createTestClient(n.port));
    const CRDT_PATH = "/cloudstate.tck.model.crdt.CrdtTckModel/Process";
    const increment = (client: (typeof clients)[number], id: string, consistency: crdt.UpdateWriteConsistency, deadlineMs = 20_000) =>
      client.unary(
        CRDT_PATH,
        crdt.RequestSchema,
        crdt.ResponseSchema,
        { id, actions: [{ action: { case: "update", value: { update: { case: "gcounter", value: { increment: 1n } }, writeConsistency: consistency } } }] },
        { deadlineMs },
      );
    const read = async (client: (typeof clients)[number], id: string) => {
      const r = await client.unary(CRDT_PATH, crdt.RequestSchema, crdt.ResponseSchema, { id }, { deadlineMs: 20_000 });
      assert.equal(r.code, grpc.status.OK, r.details);
      const state = r.messages[0]?.state?.value;
      return state?.case === "gcounter" ? Number(state.value.value) : 0;
    };
    const converged = async (id: string, total: number) => {
      let last: number[] = [];
      try {
        await until(`every node reads ${id} = ${total}`, 30_000, async () =>
          (last = await Promise.all(clients.map((c) => read(c, id)))).every((v) => v === total),
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}; the nodes read ${last.join(", ")}`);
      }
    };
    try {
      // Concurrent increments through every node at once.
      const perNode = 20;
      await Promise.all(
        clients.map(async (client) => {
          for (let i = 0; i < perNode; i++)
            assert.equal((await increment(client, "GCounter-converge", crdt.UpdateWriteConsistency.LOCAL)).code, grpc.status.OK);
        }),
      );
      await converged("GCounter-converge", perNode * clients.length);

      // One node paused (cut off), updates elsewhere, then it wakes and catches up.
      const [a, b] = clients as [(typeof clients)[number], (typeof clients)[number]];
      const sleeper = live[2] as ClusterNodeProcess;
      paused.add(sleeper.nodeId);
      sleeper.pause();
      try {
        for (let i = 0; i < 10; i++) {
          assert.equal((await increment(a, "GCounter-partition", crdt.UpdateWriteConsistency.LOCAL)).code, grpc.status.OK);
          assert.equal((await increment(b, "GCounter-partition", crdt.UpdateWriteConsistency.LOCAL)).code, grpc.status.OK);
        }
      } finally {
        sleeper.resume();
        paused.delete(sleeper.nodeId);
      }
      await converged("GCounter-partition", 20);

      // MAJORITY: with both peers paused no replica can acknowledge, so the write does not answer OK;
      // LOCAL answers at once; once the peers are back, MAJORITY answers OK.
      const others = live.slice(1);
      for (const node of others) {
        paused.add(node.nodeId);
        node.pause();
      }
      let majorityAlone: grpc.status;
      let localAlone: grpc.status;
      try {
        localAlone = (await increment(a, "GCounter-majority", crdt.UpdateWriteConsistency.LOCAL)).code;
        majorityAlone = (await increment(a, "GCounter-majority", crdt.UpdateWriteConsistency.MAJORITY, 1000)).code;
      } finally {
        for (const node of others) {
          node.resume();
          paused.delete(node.nodeId);
        }
      }
      assert.equal(localAlone, grpc.status.OK);
      assert.notEqual(majorityAlone, grpc.status.OK, "a MAJORITY write with no peer to acknowledge it is not answered OK");
      await until(
        "a MAJORITY write answered once the peers are back",
        20_000,
        async () => (await increment(a, "GCounter-majority", crdt.UpdateWriteConsistency.MAJORITY)).code === grpc.status.OK,
      );
      const total = await read(a, "GCounter-majority");
      await converged("GCounter-majority", total);
    } finally {
      for (const client of clients) client.close();
    }
  });

  it("keeps a node whose user function offers other services out, not ready, saying why", async () => {
    const odd = await startNode({ nodeId: "node-odd", databaseUrl: url, leaseTtlMs: LEASE_TTL_MS, userFunction: COUNTER_USER_FUNCTION, waitReady: false });
    nodes.push(odd);
    await until("the odd node says why", 20_000, () => /different set of services than the cluster/.test(odd.proxy.output()));
    assert.equal(await readyStatus(odd.port), 503);
    const owners = new Set([...(await database().shardOwners()).values()].map((l) => l.owner));
    assert.ok(!owners.has("node-odd"), "it owns no shard");
  });
});
