/**
 * The cost of one hop over the cluster mesh, in one process: a mesh server whose entity
 * host answers at once, called through the mesh forwarder on 127.0.0.1, against the same
 * host called directly. What it measures is the transport alone (framing, protobuf of the
 * command and outcome, one HTTP/2 stream, loopback), not an entity or a user function;
 * the cross-process figures (a forwarded call against one the owner answers) come from
 * the cluster benchmarks.
 *
 *   node --import tsx bench/mesh-hop.ts [--calls 20000] [--concurrency 64]
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { anyPack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { ClientActionSchema } from "@switchboard/protocol";
import { createMeshForwarder, startMeshServer } from "../packages/proxy/src/cluster/mesh/index.js";
import type { EntityHost, RemoteCommand } from "../packages/proxy/src/cluster/types.js";
import type { EntityOutcome } from "../packages/proxy/src/entities/shared/types.js";
import { silentLogger } from "../packages/proxy/src/observability/logger.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "20000" }, concurrency: { type: "string", default: "64" } } });
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);

const text = (s: string) => anyPack(StringValueSchema, create(StringValueSchema, { value: s }));
const outcome: EntityOutcome = {
  clientAction: create(ClientActionSchema, { action: { case: "reply", value: { payload: text("x".repeat(64)) } } }),
  sideEffects: [],
};
const host: EntityHost = {
  model: () => undefined,
  handle: async () => outcome,
  async *handleStreamed() {},
  passivate: async () => {},
};
const command: RemoteCommand = {
  service: "bench.Counter",
  method: "Increment",
  entityId: "entity-1",
  payload: text("y".repeat(64)),
  deadline: Date.now() + 3_600_000,
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function sequential(label: string, call: () => Promise<unknown>, n: number): Promise<void> {
  for (let i = 0; i < Math.min(1000, n); i++) await call(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call();
    samples.push((performance.now() - t) * 1000);
  }
  samples.sort((a, b) => a - b);
  process.stdout.write(`${label.padEnd(34)} one at a time: p50 ${percentile(samples, 50).toFixed(0)} µs, p99 ${percentile(samples, 99).toFixed(0)} µs\n`);
}

async function concurrent(label: string, call: () => Promise<unknown>, n: number, width: number): Promise<void> {
  let left = n;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (left-- > 0) await call();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${label.padEnd(34)} ${width} concurrent: ${Math.round(n / seconds)} calls/s\n`);
}

const server = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost: host, logger: silentLogger });
const forwarder = createMeshForwarder({ logger: silentLogger });
const peer = { nodeId: "owner", address: server.address };
try {
  await sequential("direct EntityHost.handle", () => host.handle(command), calls);
  await sequential("mesh forward (HTTP/2, loopback)", () => forwarder.forward(peer, command), calls);
  await concurrent("direct EntityHost.handle", () => host.handle(command), calls, concurrency);
  await concurrent("mesh forward (HTTP/2, loopback)", () => forwarder.forward(peer, command), calls, concurrency);
} finally {
  forwarder.close();
  await server.close();
}
