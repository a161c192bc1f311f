/**
 * CRDT gossip between three in-process replicas over real mesh servers on 127.0.0.1:
 * deltas reach every member, `majority`/`all` waits resolve only once that many replicas
 * hold the change (and fail at their deadline or on abort), and anti-entropy makes the
 * replicas converge after a partition and after a replica was closed and reopened. The
 * replicas' states are the CRDT code's own (apply, merge, storage format), driven by
 * the CRDT arbitraries.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { mesh } from "@switchboard/protocol/cluster";
import fc from "fast-check";
import { bytesOf, deltaFor, intentArb, join, KINDS, testReplica, type Intent } from "../../entities/crdt/arbitraries.fixture.js";
import { applyDelta, CRDT_OPS, type CrdtKind, type CrdtState, mergeStates } from "../../entities/crdt/state.js";
import { decodeCrdtState, encodeCrdtState } from "../../entities/crdt/storage-format.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import { silentLogger } from "../../observability/logger.js";
import type { EntityHost, RemoteNode, ReplicatedDelta } from "../types.js";
import { createGossipReplicas, createMeshClient, type GossipReplicas, type MeshServer, startMeshServer } from "./index.js";
import { MESH_PATHS } from "./wire.js";

const noEntities: EntityHost = {
  model: () => undefined,
  handle: () => Promise.reject(new SwitchboardError("no entities here", Code.Unimplemented)),
  // biome-ignore lint/correctness/useYield: fails before yielding
  async *handleStreamed() {
    throw new SwitchboardError("no entities here", Code.Unimplemented);
  },
  passivate: async () => {},
};

const PID = "crdts";
const key = (entityId: string) => `${PID}|${entityId}`;

/** One replica's durable CRDTs: they outlive its gossip replicas (a restart keeps them). */
type Held = Map<string, CrdtState>;

interface TestNode {
  readonly nodeId: string;
  readonly held: Held;
  replicas: GossipReplicas;
  server: MeshServer;
  /** Applies an intent locally (as the CRDT runtime does) and publishes its delta; returns the published delta. */
  change(entityId: string, intent: Intent): ReplicatedDelta;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A small cluster of in-process replicas; `view[nodeId]` is what that node takes the membership to be. */
function createCluster(options: { antiEntropyIntervalMs?: number; consistencyTimeoutMs?: number } = {}) {
  const addresses = new Map<string, string>();
  const view = new Map<string, readonly string[]>();
  const nodes = new Map<string, TestNode>();
  const clock = { t: 1000n };
  const membersOf = (nodeId: string) => (): readonly RemoteNode[] =>
    (view.get(nodeId) ?? []).flatMap((id) => {
      const address = addresses.get(id);
      return address === undefined ? [] : [{ nodeId: id, address }];
    });

  async function open(nodeId: string, held: Held = new Map(), port = 0): Promise<TestNode> {
    const replicas = createGossipReplicas({
      nodeId,
      members: membersOf(nodeId),
      logger: silentLogger,
      antiEntropyIntervalMs: options.antiEntropyIntervalMs ?? 100,
      consistencyTimeoutMs: options.consistencyTimeoutMs ?? 10_000,
      retryDelayMs: 50,
      source: {
        *states() {
          for (const [k, state] of held) yield { persistenceId: PID, entityId: k.slice(PID.length + 1), delta: encodeCrdtState(state) };
        },
      },
    });
    // What the CRDT runtime does with a delta from another replica: join it into its state.
    replicas.onDelta((delta) => {
      const incoming = decodeCrdtState(delta.delta, "test");
      const k = key(delta.entityId);
      const current = held.get(k);
      held.set(k, current === undefined ? incoming : mergeStates(current, incoming));
    });
    // The lazy form, as a node that builds its replicas after binding the port passes them.
    const server = await startMeshServer({ host: "127.0.0.1", port, entityHost: noEntities, replicas: () => replicas, logger: silentLogger, closeGraceMs: 0 });
    addresses.set(nodeId, server.address);
    const node: TestNode = {
      nodeId,
      held,
      replicas,
      server,
      change(entityId, intent) {
        const k = key(entityId);
        const state = held.get(k);
        const members = replicas.members();
        const applied = applyDelta(state, deltaFor(state, intent, CRDT_OPS), testReplica(nodeId, members, clock));
        if (applied.kind === "rejected") throw new Error(applied.reason);
        held.set(k, applied.state);
        const delta: ReplicatedDelta = { persistenceId: PID, entityId, delta: encodeCrdtState(applied.delta) };
        replicas.publish(delta);
        return delta;
      },
      async close() {
        replicas.close();
        await server.close();
      },
    };
    nodes.set(nodeId, node);
    return node;
  }

  return {
    view,
    nodes,
    open,
    /** Closes a node and reopens it on the same port with the CRDTs it held (a restart). */
    async restart(nodeId: string): Promise<TestNode> {
      const old = nodes.get(nodeId);
      assert.ok(old);
      const port = Number(old.server.address.split(":").at(-1));
      await old.close();
      return open(nodeId, old.held, port);
    },
    async close() {
      for (const node of nodes.values()) await node.close();
    },
  };
}

const ALL = ["a", "b", "c"];
let cluster: ReturnType<typeof createCluster> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function threeNodes(options: Parameters<typeof createCluster>[0] = {}) {
  cluster = createCluster(options);
  for (const id of ALL) cluster.view.set(id, ALL);
  const [a, b, c] = [await cluster.open("a"), await cluster.open("b"), await cluster.open("c")];
  return { cluster, a, b, c };
}

const counter = (n: bigint): Intent => ({ kind: "gcounter", increment: n });
const total = (node: TestNode, entityId: string): bigint => {
  const state = node.held.get(key(entityId));
  return state?.kind === "gcounter" ? [...state.counts.values()].reduce((x, y) => x + y, 0n) : 0n;
};

describe("CRDT gossip replicas", () => {
  it("lists the members with itself included (Vote's total_voters)", async () => {
    const { cluster, a } = await threeNodes();
    assert.deepEqual([...a.replicas.members()].sort(), ALL);
    cluster.view.set("a", ["b"]);
    assert.deepEqual([...a.replicas.members()].sort(), ["a", "b"]);
  });

  it("gossips a delta to every member; `all` resolves only once both peers hold it", async () => {
    const { a, b, c } = await threeNodes();
    const delta = a.change("e1", counter(5n));
    await a.replicas.awaitConsistency("all", delta);
    assert.equal(total(b, "e1"), 5n, "b holds the change when ALL resolves");
    assert.equal(total(c, "e1"), 5n, "c holds the change when ALL resolves");
  });

  it("`local` resolves at once, `majority` once one peer of three holds it", async () => {
    const { a, b, c } = await threeNodes();
    await a.replicas.awaitConsistency("local", a.change("e2", counter(1n)));
    const delta = a.change("e2", counter(2n));
    await a.replicas.awaitConsistency("majority", delta);
    assert.ok(total(b, "e2") === 3n || total(c, "e2") === 3n, "a second replica holds the change when MAJORITY resolves");
  });

  it("with a peer down, `majority` still resolves and `all` fails at its deadline naming what was missing", async () => {
    const { cluster, a, b, c } = await threeNodes({ consistencyTimeoutMs: 700 });
    await c.close();
    const delta = a.change("e3", counter(1n));
    await a.replicas.awaitConsistency("majority", delta);
    assert.equal(total(b, "e3"), 1n);
    await assert.rejects(a.replicas.awaitConsistency("all", delta), (error: SwitchboardError) => {
      assert.equal(error.code, Code.DeadlineExceeded);
      assert.match(error.rawMessage, /write consistency ALL not reached for CRDT "crdts" entity "e3": 2 of the 3 replicas needed \(3 members\)/);
      return true;
    });
    cluster.nodes.delete("c");
  });

  it("an aborted wait rejects with the abort's reason", async () => {
    const { a, c } = await threeNodes();
    await c.close();
    const controller = new AbortController();
    const waiting = a.replicas.awaitConsistency("all", a.change("e4", counter(1n)), controller.signal);
    controller.abort(new SwitchboardError("client went away", Code.Canceled));
    await assert.rejects(waiting, /client went away/);
  });

  it("an `all` write that waits for a restarting peer resolves once it is back and holds the change", async () => {
    const { cluster, a, c } = await threeNodes();
    const port = Number(c.server.address.split(":").at(-1));
    const held = c.held;
    await c.close();
    const delta = a.change("e5", counter(7n));
    let resolved = false;
    const waiting = a.replicas.awaitConsistency("all", delta).then(() => {
      resolved = true;
    });
    await sleep(200);
    assert.equal(resolved, false, "ALL cannot be met while c is down");
    const back = await cluster.open("c", held, port);
    await waiting;
    assert.equal(total(back, "e5"), 7n);
  });

  it("a member leaving lowers the bar of a waiting `all` write", async () => {
    const { cluster, a, c } = await threeNodes();
    await c.close();
    const waiting = a.replicas.awaitConsistency("all", a.change("e6", counter(1n)));
    await sleep(100);
    cluster.view.set("a", ["a", "b"]);
    await waiting;
  });

  it("concurrent changes of every CRDT type on all three replicas converge to the join of every change", async () => {
    const { a, b, c } = await threeNodes();
    const nodes = [a, b, c];
    const expected = new Map<string, CrdtState | undefined>();
    for (const [i, kind] of KINDS.entries()) {
      const entityId = `${kind}-${i}`;
      const intents = fc.sample(
        fc.array(fc.record({ replica: fc.nat(2), intent: intentArb(kind as CrdtKind, 2, { inflationary: true }) }), { minLength: 3, maxLength: 12 }),
        {
          numRuns: 1,
          seed: 42 + i,
        },
      )[0];
      assert.ok(intents);
      let joined: CrdtState | undefined;
      for (const { replica, intent } of intents) {
        const node = nodes[replica] as TestNode;
        node.change(entityId, intent);
        joined = join(joined, node.held.get(key(entityId)));
      }
      expected.set(entityId, joined);
    }
    await eventually(
      () => [...expected.keys()].every((id) => nodes.every((n) => bytesOf(n.held.get(key(id))) === bytesOf(nodes[0]?.held.get(key(id))))),
      "the three replicas to agree",
    );
    for (const [id, joined] of expected) assert.equal(bytesOf(a.held.get(key(id))), bytesOf(joined), `${id}: the join of every change`);
  });

  it("replicas converge after a partition heals (anti-entropy carries what gossip could not)", async () => {
    const { cluster, a, b, c } = await threeNodes();
    // c is cut off: it sees only itself, a and b see only each other.
    cluster.view.set("c", ["c"]);
    cluster.view.set("a", ["a", "b"]);
    cluster.view.set("b", ["a", "b"]);
    c.change("p1", counter(3n));
    a.change("p1", counter(10n));
    b.change("p1", counter(20n));
    await eventually(() => total(a, "p1") === 30n && total(b, "p1") === 30n, "a and b to agree");
    await sleep(300);
    assert.equal(total(c, "p1"), 3n, "c saw nothing while cut off");
    for (const id of ALL) cluster.view.set(id, ALL);
    await eventually(() => [a, b, c].every((n) => total(n, "p1") === 33n), "all three to converge on 33");
  });

  it("a replica closed and reopened catches up on what it missed, and hands over what it had", async () => {
    const { cluster, a, b } = await threeNodes();
    a.change("r1", counter(1n));
    await eventually(() => total(cluster.nodes.get("c") as TestNode, "r1") === 1n, "c to see the first change");
    const c = cluster.nodes.get("c") as TestNode;
    // A change c made but never got out (as if it died right after committing it).
    c.held.set(key("r2"), { kind: "gcounter", counts: new Map([["c", 4n]]) } as CrdtState);
    await c.close();
    a.change("r1", counter(2n));
    b.change("r1", counter(3n));
    const back = await cluster.restart("c");
    await eventually(() => total(back, "r1") === 6n, "c to catch up on r1");
    await eventually(() => total(a, "r2") === 4n && total(b, "r2") === 4n, "a and b to get c's r2");
  });

  it("refuses an unreadable delta with INVALID_ARGUMENT naming the sender", async () => {
    const { a } = await threeNodes();
    const client = createMeshClient({ logger: silentLogger });
    try {
      await assert.rejects(
        client.unary(
          { nodeId: "a", address: a.server.address },
          MESH_PATHS.gossip,
          mesh.DeltaBatchSchema,
          create(mesh.DeltaBatchSchema, { from: "intruder", deltas: [{ persistenceId: PID, entityId: "x", delta: new Uint8Array([1, 2, 3]) }] }),
          mesh.GossipAckSchema,
        ),
        (error: SwitchboardError) => {
          assert.equal(error.code, Code.InvalidArgument);
          assert.match(error.rawMessage, /unreadable CRDT delta from node intruder for persistence id "crdts" entity "x"/);
          return true;
        },
      );
    } finally {
      client.close();
    }
  });
});
