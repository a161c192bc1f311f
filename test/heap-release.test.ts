/**
 * The heap release through real processes: the `switchboard` CLI in front of the
 * raw-protocol model user function, read through its admin port's `/metrics`.
 * 12,000 value entities touched once passivate after 1 s; once quiet, the proxy runs
 * one full GC (`switchboard_heap_releases_total`) and its heap shrinks. With
 * `--heap-release off` it does not: that proxy's wave is over before the other's, so
 * the other releasing first shows it would have had its turn.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { valueentity } from "@switchboard/protocol/tck";
import { freePort } from "./observability/support/example-process.js";
import { createTestClient, eventually } from "./support/grpc-client.js";
import { type ModelUserFunction, startModelUserFunction } from "./support/model-user-function.js";
import { type ProxyProcess, startProxy } from "./support/proxy-process.js";

const PROCESS = "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process";
/** Above the 10,000 passivations that arm a release. */
const ENTITIES = 12_000;
const CONCURRENCY = 64;

/** Every sample of `name` in a Prometheus exposition, summed over its labels (undefined: absent). */
function sample(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

interface Proxied {
  readonly proxy: ProxyProcess;
  metric(name: string): Promise<number>;
}

async function start(uf: ModelUserFunction, heapRelease: "on" | "off"): Promise<Proxied> {
  const adminPort = await freePort();
  const proxy = await startProxy({
    userFunctionPort: uf.port,
    // Per-entity debug lines would be 60,000 lines here; the release's own line is checked in the unit tests.
    env: { LOG_LEVEL: "info" },
    extraArgs: ["--passivation-timeout", "1000", "--admin-port", String(adminPort), "--heap-release", heapRelease],
  });
  return {
    proxy,
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const value = sample(text, name);
      assert.ok(value !== undefined, `${name} is missing from /metrics`);
      return value;
    },
  };
}

/** Touches `ENTITIES` value entities once each (a command that changes nothing), `CONCURRENCY` at a time. */
async function touch(port: number, prefix: string): Promise<void> {
  const client = createTestClient(port);
  try {
    let next = 0;
    const worker = async () => {
      while (next < ENTITIES) {
        const id = `${prefix}-${next++}`;
        const result = await client.unary(PROCESS, valueentity.RequestSchema, valueentity.ResponseSchema, { id });
        assert.equal(result.code, grpc.status.OK, `${id}: ${result.details}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    client.close();
  }
}

describe("heap release after a passivation wave", () => {
  let uf: ModelUserFunction;
  let on: Proxied;
  let off: Proxied;

  before(async () => {
    uf = await startModelUserFunction();
    // The model keeps every message it sees; 24,000 streams of two messages are a few MB.
    on = await start(uf, "on");
    off = await start(uf, "off");
  });
  after(async () => {
    await on?.proxy.stop();
    await off?.proxy.stop();
    await uf?.close();
  });

  it("runs one full GC once quiet after 12,000 passivations, and the heap shrinks; with --heap-release off it does not", async (t) => {
    // The proxy without the release first: its wave ends before the other's does.
    await touch(off.proxy.port, "off");
    await touch(on.proxy.port, "on");
    // The peak: the most heap used seen from the end of the touching until the release.
    let peak = await on.metric("nodejs_heap_size_used_bytes");
    assert.equal(await on.metric("switchboard_heap_releases_total"), 0, "no release while entities are active");
    const sampled = async (check: () => Promise<boolean>) => {
      const done = await check();
      if (!done) peak = Math.max(peak, await on.metric("nodejs_heap_size_used_bytes"));
      return done;
    };
    await eventually(() => sampled(async () => (await on.metric("switchboard_entities_active")) === 0), 120_000, "every entity passivated");
    await eventually(() => sampled(async () => (await on.metric("switchboard_heap_releases_total")) >= 1), 120_000, "a heap release");
    const after = await on.metric("nodejs_heap_size_used_bytes");
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
    t.diagnostic(`heap used: at most ${mb(peak)} before the release, ${mb(after)} after it`);
    // An idle proxy that did not collect would hold its peak; the garbage of 12,000 activations is well over a quarter of it.
    assert.ok(after < peak * 0.75, `heap used at most ${mb(peak)} before the release, ${mb(after)} after it`);
    // Once per wave: still one.
    assert.equal(await on.metric("switchboard_heap_releases_total"), 1);

    assert.equal(await off.metric("switchboard_entities_active"), 0, "the other proxy's entities passivated first");
    assert.equal(await off.metric("switchboard_heap_releases_total"), 0, "--heap-release off runs no GC");
  });
});
