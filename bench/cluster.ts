/**
 * Cluster figures on this machine: real `switchboard start --cluster-port` processes, each
 * beside its own TCK user function process, on one throw-away PostgreSQL (fsync on).
 *
 *   node --import tsx bench/cluster.ts [--duration <s>] [--kills <n>] [--lease-ttl <ms>]
 *
 * - the latency a forward adds: the same value-entity reads, sent one at a time, to the
 *   entity's owner and to a node that forwards them to the owner (p50/p99);
 * - durable value-entity writes/s with 64 concurrent callers, spread over every node, on a
 *   1-node and on a 3-node cluster;
 * - failover: kill -9 of a node `--kills` times, time until every shard has an unexpired
 *   lease held by a survivor (read from the database) and until a call to an entity of the
 *   killed node's shards succeeds again (min/median/max).
 *
 * Prints a Markdown section for bench/RESULTS.md.
 */
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { valueentity } from "@switchboard/protocol/tck";
import { DEFAULT_SHARD_COUNT } from "../packages/proxy/src/cluster/cluster-node.js";
import { shardOf } from "../packages/proxy/src/cluster/shard.js";
import { ClusterDatabase, type ClusterNodeProcess, startNode, waitFor } from "../test/cluster/cluster-harness.js";
import { VE_PATH, VE_PERSISTENCE_ID } from "../test/cluster/load.js";
import { startPostgres } from "../test/postgres/pg-server.js";
import { createTestClient, type TestClient } from "../test/support/grpc-client.js";

const { values: args } = parseArgs({
  options: { duration: { type: "string", default: "5" }, kills: { type: "string", default: "10" }, "lease-ttl": { type: "string", default: "2000" } },
});
const durationMs = Number(args.duration) * 1000;
const kills = Number(args.kills);
const leaseTtlMs = Number(args["lease-ttl"]);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const ms = (n: number) => n.toFixed(2);

async function update(client: TestClient, id: string, value: string): Promise<grpc.status> {
  const r = await client.unary(
    VE_PATH,
    valueentity.RequestSchema,
    valueentity.ResponseSchema,
    { id, actions: [{ action: { case: "update", value: { value } } }] },
    { deadlineMs: 20_000 },
  );
  return r.code;
}

async function read(client: TestClient, id: string): Promise<grpc.status> {
  return (await client.unary(VE_PATH, valueentity.RequestSchema, valueentity.ResponseSchema, { id }, { deadlineMs: 20_000 })).code;
}

async function cluster(size: number, url: string, prefix: string): Promise<ClusterNodeProcess[]> {
  const nodes: ClusterNodeProcess[] = [await startNode({ nodeId: `${prefix}-1`, databaseUrl: url, leaseTtlMs })];
  nodes.push(...(await Promise.all(Array.from({ length: size - 1 }, (_, i) => startNode({ nodeId: `${prefix}-${i + 2}`, databaseUrl: url, leaseTtlMs })))));
  return nodes;
}

async function allOwned(db: ClusterDatabase, owners: readonly string[]): Promise<boolean> {
  const leases = await db.shardOwners();
  return leases.size === DEFAULT_SHARD_COUNT && [...leases.values()].every((l) => owners.includes(l.owner));
}

/** Closed-loop durable writes with `concurrency` callers over 1,000 keys, round robin over the nodes. */
async function throughput(nodes: readonly ClusterNodeProcess[], concurrency: number): Promise<{ perSecond: number; failed: number }> {
  const clients = nodes.map((n) => createTestClient(n.port));
  let ok = 0;
  let failed = 0;
  const warmupUntil = Date.now() + 1000;
  const end = warmupUntil + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        const code = await update(clients[(w + i) % clients.length] as TestClient, `tp-${(w * 7919 + i) % 1000}`, String(i));
        if (Date.now() < warmupUntil) continue;
        if (code === grpc.status.OK) ok++;
        else failed++;
      }
    }),
  );
  for (const client of clients) client.close();
  return { perSecond: ok / (durationMs / 1000), failed };
}

async function main(): Promise<void> {
  const server = await startPostgres({ fsync: true });
  const lines: string[] = [];
  try {
    // 1 node, then 3 nodes (fresh databases, so each starts empty).
    const oneUrl = await server.createDatabase();
    const one = await cluster(1, oneUrl, "solo");
    const oneDb = new ClusterDatabase(oneUrl);
    await waitFor("the single node owns every shard", 30_000, async () => ((await allOwned(oneDb, ["solo-1"])) ? true : undefined));
    const tp1 = await throughput(one, 64);
    for (const node of one) await node.kill();
    await oneDb.close();

    const url = await server.createDatabase();
    const nodes = await cluster(3, url, "node");
    const db = new ClusterDatabase(url);
    await waitFor("every shard owned by the three nodes", 30_000, async () =>
      (await allOwned(
        db,
        nodes.map((n) => n.nodeId),
      ))
        ? true
        : undefined,
    );
    const tp3 = await throughput(nodes, 64);

    // Forwarded vs owner-answered: the same entities, one call at a time.
    const owners = await db.shardOwners();
    const entities = Array.from({ length: 60 }, (_, i) => `lat-${i}`);
    const clients = new Map(nodes.map((n) => [n.nodeId, createTestClient(n.port)]));
    for (const id of entities) await update(clients.get(nodes[0]?.nodeId ?? "") as TestClient, id, "0");
    const direct: number[] = [];
    const forwarded: number[] = [];
    const end = Date.now() + durationMs;
    for (let round = 0; Date.now() < end; round++) {
      for (const id of entities) {
        const owner = owners.get(shardOf(VE_PERSISTENCE_ID, id, DEFAULT_SHARD_COUNT))?.owner ?? "";
        const other = nodes.find((n) => n.nodeId !== owner)?.nodeId ?? "";
        // Alternate which goes first, so neither always meets a warmer cache.
        for (const [target, into] of round % 2 === 0
          ? ([
              [owner, direct],
              [other, forwarded],
            ] as const)
          : ([
              [other, forwarded],
              [owner, direct],
            ] as const)) {
          const started = performance.now();
          const code = await read(clients.get(target) as TestClient, id);
          if (code === grpc.status.OK) into.push(performance.now() - started);
        }
      }
    }
    for (const client of clients.values()) client.close();
    direct.sort((a, b) => a - b);
    forwarded.sort((a, b) => a - b);

    // Failover: kill -9 a node, measure, start a replacement, wait until it owns shards again.
    const shardMoves: number[] = [];
    const callsBack: number[] = [];
    let next = nodes.length + 1;
    for (let k = 0; k < kills; k++) {
      const live = nodes.filter((n) => n.alive());
      const victim = live[k % live.length] as ClusterNodeProcess;
      const survivor = live.find((n) => n !== victim) as ClusterNodeProcess;
      const leases = await db.shardOwners();
      const victimEntity = Array.from({ length: 10_000 }, (_, i) => `fo-${i}`).find(
        (id) => leases.get(shardOf(VE_PERSISTENCE_ID, id, DEFAULT_SHARD_COUNT))?.owner === victim.nodeId,
      ) as string;
      const client = createTestClient(survivor.port);
      await update(client, victimEntity, "before");
      const killedAt = performance.now();
      await victim.kill();
      const survivors = nodes.filter((n) => n.alive()).map((n) => n.nodeId);
      let moved = Number.NaN;
      let back = Number.NaN;
      await Promise.all([
        waitFor("shards owned again", 30_000, async () => ((await allOwned(db, survivors)) ? (moved = performance.now() - killedAt) : undefined)),
        (async () => {
          // Calls with a short deadline, one after another, until one succeeds.
          for (;;) {
            const r = await client.unary(
              VE_PATH,
              valueentity.RequestSchema,
              valueentity.ResponseSchema,
              { id: victimEntity, actions: [{ action: { case: "update", value: { value: "after" } } }] },
              { deadlineMs: 500 },
            );
            if (r.code === grpc.status.OK) {
              back = performance.now() - killedAt;
              return;
            }
          }
        })(),
      ]);
      client.close();
      shardMoves.push(moved);
      callsBack.push(back);
      const replacement = await startNode({ nodeId: `node-${next++}`, databaseUrl: url, leaseTtlMs });
      nodes.push(replacement);
      await waitFor("the replacement owns shards", 30_000, async () =>
        [...(await db.shardOwners()).values()].some((l) => l.owner === replacement.nodeId) ? true : undefined,
      );
    }
    for (const node of nodes) await node.kill();
    await db.close();

    const stats = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return `${Math.round(s[0] ?? 0)} / ${Math.round(percentile(s, 50))} / ${Math.round(s[s.length - 1] ?? 0)} ms`;
    };
    lines.push(
      "## Cluster",
      "",
      `Real processes on one machine (${cpus().length} cores, shared with the load generator and PostgreSQL 15 with fsync on): each node is`,
      "`switchboard start --cluster-port` beside its own TCK user function process (TypeScript SDK); value-entity",
      `calls over gRPC; lease TTL ${leaseTtlMs} ms; ${durationMs / 1000} s per point after 1 s of warm-up. \`node --import tsx bench/cluster.ts\`.`,
      "",
      "| measure | result |",
      "|---|---|",
      `| read answered by the owner, one call at a time | p50 ${ms(percentile(direct, 50))} ms, p99 ${ms(percentile(direct, 99))} ms (${direct.length} calls) |`,
      `| the same read through another node (one forward) | p50 ${ms(percentile(forwarded, 50))} ms, p99 ${ms(percentile(forwarded, 99))} ms (${forwarded.length} calls) |`,
      `| added by the forward | p50 +${ms(percentile(forwarded, 50) - percentile(direct, 50))} ms |`,
      `| durable writes/s, 64 callers over 1,000 keys, 1 node | ${Math.round(tp1.perSecond)} (${tp1.failed} failed) |`,
      `| durable writes/s, 64 callers over 1,000 keys, 3 nodes (calls spread over all) | ${Math.round(tp3.perSecond)} (${tp3.failed} failed) |`,
      `| failover over ${kills} kill -9: every shard leased by a survivor (min / median / max) | ${stats(shardMoves)} |`,
      `| failover over ${kills} kill -9: first successful call to an entity of the killed node | ${stats(callsBack)} |`,
      "",
    );
  } finally {
    await server.stop();
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
process.exit(0);
