/**
 * Issue #14: the proxy's memory per entity, from its resident set (VmRSS in
 * /proc/<pid>/status) and the V8 heap it reports on its own metrics port.
 *
 * 1. Touched once and passivated: a proxy with a short passivation timeout; 100,000
 *    value entities get one command each (64 concurrent), then the proxy is left idle
 *    until every entity has passivated (its `switchboard_entities_active` gauge reads
 *    0). Target: at most 80 MB, and back within 10% of the idle figure.
 * 2. Active: a proxy whose entities do not passivate during the run; 100,000 value
 *    entities touched once and kept active. Bytes per active entity = (RSS with them −
 *    idle RSS) / 100,000.
 *
 * The idle figure is taken after one call (discovery done, connections up). The user
 * function is the raw-protocol TCK model (`bench/user-function.ts`), with a request
 * that changes nothing, so the store only serves the activation reads.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { valueentity } from "@switchboard/protocol/tck";
import type { Caller } from "../load/driver.js";
import { frame, GrpcClient } from "../load/grpc.js";
import { PATHS } from "../support/messages.js";
import { type Child, freePort, startProxy, startUserFunction } from "../support/processes.js";
import { touchKeys } from "../support/stacks.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";

const ENTITIES = 100_000;
const PASSIVATION_MS = 3000;
const RSS_TARGET_MB = 80;

/** Resident set of a process in MB, from /proc. */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** One value of the proxy's Prometheus metrics (summed over its labels), or undefined. */
async function metric(adminPort: number, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    let sum: number | undefined;
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A value-entity request that reads and changes nothing, per key. */
function noopRequests(keys: number): Buffer[] {
  return Array.from({ length: keys }, (_, i) => frame(toBinary(valueentity.RequestSchema, create(valueentity.RequestSchema, { id: `m-${i}` }))));
}

function caller(client: GrpcClient, bodies: readonly Buffer[]): Caller {
  return (_worker, seq, done) =>
    client.call(PATHS.valueEntityProcess, bodies[seq % bodies.length] as Buffer, (status, message) =>
      done(status === 0 ? undefined : `grpc-status ${status}: ${message}`),
    );
}

interface Phase {
  readonly idleMb: number;
  readonly idleHeapMb: number | undefined;
  readonly peakMb: number;
  readonly afterMb: number;
  readonly afterHeapMb: number | undefined;
  readonly active: number | undefined;
  readonly touchSeconds: number;
  readonly waitedSeconds: number;
}

async function runPhase(ctx: BenchContext, label: string, passivationMs: number, waitForPassivation: boolean, bodies: readonly Buffer[]): Promise<Phase> {
  const ufPort = await freePort();
  const adminPort = await freePort();
  const uf = await startUserFunction("model", ufPort);
  let proxy: (Child & { readonly port: number }) | undefined;
  let client: GrpcClient | undefined;
  try {
    proxy = await startProxy({
      userFunctionPort: ufPort,
      store: `sqlite:${path.join(ctx.tmpDir, `memory-${label}.db`)}`,
      extraArgs: ["--passivation-timeout", String(passivationMs), "--admin-port", String(adminPort)],
    });
    client = await GrpcClient.connect("127.0.0.1", proxy.port, ctx.sessions);
    const call = caller(client, bodies);
    // One call of another key, then quiet: the idle figure.
    await touchKeys((w, _seq, done) => call(w, bodies.length - 1, done), 1, 1);
    await sleep(2000);
    const idleMb = rssMb(proxy.pid);
    const idleHeapMb = ((await metric(adminPort, "nodejs_heap_size_used_bytes")) ?? Number.NaN) / 2 ** 20;
    ctx.log(`memory (${label}): idle ${idleMb.toFixed(1)} MB; touching ${ENTITIES.toLocaleString("en-US")} entities`);
    const started = Date.now();
    let peakMb = idleMb;
    const sampler = setInterval(() => {
      if (proxy) peakMb = Math.max(peakMb, rssMb(proxy.pid));
    }, 250);
    try {
      await touchKeys(call, ENTITIES, ctx.concurrency);
    } finally {
      clearInterval(sampler);
    }
    peakMb = Math.max(peakMb, rssMb(proxy.pid));
    const touchSeconds = (Date.now() - started) / 1000;
    const waitStart = Date.now();
    let active = await metric(adminPort, "switchboard_entities_active");
    if (waitForPassivation) {
      // Passivation runs on each entity's idle timer; give it the timeout and then some.
      const until = Date.now() + passivationMs + 60_000;
      while ((active ?? 0) > 0 && Date.now() < until) {
        await sleep(1000);
        active = await metric(adminPort, "switchboard_entities_active");
      }
      // Let the heap settle the way it does on an idle process (no forced GC).
      await sleep(10_000);
    } else {
      await sleep(2000);
      active = await metric(adminPort, "switchboard_entities_active");
    }
    const afterMb = rssMb(proxy.pid);
    const afterHeapMb = ((await metric(adminPort, "nodejs_heap_size_used_bytes")) ?? Number.NaN) / 2 ** 20;
    ctx.log(`memory (${label}): peak ${peakMb.toFixed(1)} MB, after ${afterMb.toFixed(1)} MB, active entities ${active}`);
    return { idleMb, idleHeapMb, peakMb, afterMb, afterHeapMb, active, touchSeconds, waitedSeconds: (Date.now() - waitStart) / 1000 };
  } finally {
    client?.close();
    await proxy?.stop();
    await uf.stop();
  }
}

const mb = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? "–" : `${value.toFixed(1)} MB`);

export const memoryScenario: Scenario = {
  id: "memory",
  title: "Proxy memory per entity",
  issue: 14,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const bodies = noopRequests(ENTITIES + 1);
    const passivated = await runPhase(ctx, "passivated", PASSIVATION_MS, true, bodies);
    const active = await runPhase(ctx, "active", 3_600_000, false, bodies);
    const backWithin = passivated.afterMb / passivated.idleMb - 1;
    const perEntity = ((active.afterMb - active.idleMb) * 2 ** 20) / ENTITIES;
    const heapPerEntity =
      active.afterHeapMb !== undefined && active.idleHeapMb !== undefined ? ((active.afterHeapMb - active.idleHeapMb) * 2 ** 20) / ENTITIES : Number.NaN;
    const passivatedMet = passivated.peakMb <= RSS_TARGET_MB && backWithin <= 0.1 && passivated.active === 0;
    const checks: Check[] = [
      {
        name: `Proxy RSS after ${ENTITIES.toLocaleString("en-US")} value entities touched once and passivated`,
        measured: `peak ${mb(passivated.peakMb)}, after passivation ${mb(passivated.afterMb)} (${passivated.active ?? "?"} still active)`,
        comparison: `idle ${mb(passivated.idleMb)}`,
        ratio: `${(passivated.afterMb / passivated.idleMb).toFixed(2)}×`,
        target: `≤ ${RSS_TARGET_MB} MB, and back within 10% of idle`,
        status: passivatedMet ? "met" : "not met",
        ...(passivatedMet
          ? {}
          : {
              note: `peak ${mb(passivated.peakMb)} while touching; after passivation ${(backWithin * 100).toFixed(0)}% over idle (V8 heap used ${mb(passivated.afterHeapMb)} vs ${mb(passivated.idleHeapMb)} idle; no forced GC, so garbage not yet collected counts, and V8 returns freed pages to the OS only slowly)`,
            }),
      },
      {
        name: `Proxy RSS with ${ENTITIES.toLocaleString("en-US")} active value entities`,
        measured: `${mb(active.afterMb)} (${active.active ?? "?"} active)`,
        comparison: `idle ${mb(active.idleMb)}`,
        ratio: `${Math.round(perEntity).toLocaleString("en-US")} B per active entity (V8 heap ${Number.isNaN(heapPerEntity) ? "–" : Math.round(heapPerEntity).toLocaleString("en-US")} B)`,
        target: "measure and explain",
        status: "met",
      },
    ];
    const row = (label: string, p: Phase) =>
      `| ${label} | ${mb(p.idleMb)} | ${mb(p.idleHeapMb)} | ${mb(p.peakMb)} | ${mb(p.afterMb)} | ${mb(p.afterHeapMb)} | ${p.active ?? "?"} | ${p.touchSeconds.toFixed(1)} s | ${p.waitedSeconds.toFixed(1)} s |`;
    const body = [
      `The proxy on SQLite (file, WAL, \`synchronous=FULL\`) in front of the raw-protocol TCK model; ${ENTITIES.toLocaleString("en-US")} value entities (\`ValueEntityTckModel/Process\` with no action: an activation and a reply, no write), ${ctx.concurrency} concurrent. RSS from /proc/<pid>/status; V8 heap used from the proxy's own metrics (\`nodejs_heap_size_used_bytes\`); active entities from \`switchboard_entities_active\`. No forced GC: the figures are what an idle process holds.`,
      "",
      "| run | idle RSS | idle heap used | peak RSS | RSS after | heap used after | active after | touching took | waited after |",
      "|---|---|---|---|---|---|---|---|---|",
      row(`touched once, passivation after ${PASSIVATION_MS / 1000} s idle`, passivated),
      row("touched once, kept active", active),
      "",
      `Per active entity: ${Math.round(perEntity).toLocaleString("en-US")} B of RSS, of which ${Number.isNaN(heapPerEntity) ? "–" : Math.round(heapPerEntity).toLocaleString("en-US")} B V8 heap. An active entity holds its session (command queue and timers), its codec, and one open HTTP/2 stream to the user function (node:http2's stream object, its buffers and listeners), which is most of it.`,
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points: [], data: { passivated, active, perEntity, heapPerEntity } };
  },
};
