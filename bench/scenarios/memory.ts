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
 *
 * The figures are what an idle process holds: no forced GC. To tell a leak from a heap
 * V8 has not shrunk, each phase ends with a diagnostic the product never does: the
 * proxy's inspector is opened (SIGUSR1; started with `--inspect-port`, so it is off
 * until then) and asked for a full GC, and RSS and heap are read again.
 */
import { readFileSync } from "node:fs";
import { WebSocket } from "undici";
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

/** RSS and V8 heap after a full GC. */
interface AfterGc {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
}

/**
 * Diagnostic only: opens the proxy's inspector (SIGUSR1; the port was set with
 * `--inspect-port`), runs a full GC through it and reads RSS and heap. Undefined (with
 * the reason logged) when the inspector cannot be reached.
 */
async function afterForcedGc(ctx: BenchContext, pid: number, inspectPort: number): Promise<AfterGc | undefined> {
  process.kill(pid, "SIGUSR1");
  let url: string | undefined;
  const until = Date.now() + 10_000;
  while (url === undefined && Date.now() < until) {
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
      url = targets[0]?.webSocketDebuggerUrl;
    } catch {
      await sleep(200);
    }
  }
  if (url === undefined) {
    ctx.log(`memory: the proxy's inspector did not open on port ${inspectPort}; no forced-GC figures`);
    return undefined;
  }
  const ws = new WebSocket(url);
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    let nextId = 0;
    const pending = new Map<number, (result: unknown) => void>();
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
      if (message.id !== undefined) pending.get(message.id)?.(message.result);
    };
    const send = (method: string, params: object = {}) =>
      new Promise<unknown>((resolve) => {
        const id = ++nextId;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      });
    await send("HeapProfiler.collectGarbage");
    const evaluated = (await send("Runtime.evaluate", { expression: "JSON.stringify(process.memoryUsage())", returnByValue: true })) as {
      result: { value: string };
    };
    const usage = JSON.parse(evaluated.result.value) as { heapUsed: number; heapTotal: number };
    return { rssMb: rssMb(pid), heapUsedMb: usage.heapUsed / 2 ** 20, heapTotalMb: usage.heapTotal / 2 ** 20 };
  } catch (error) {
    ctx.log(`memory: forced GC through the inspector failed: ${(error as Error).message}`);
    return undefined;
  } finally {
    ws.close();
  }
}

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
  /** At idle after a forced full GC (the active phase only). */
  readonly idleGc: AfterGc | undefined;
  readonly peakMb: number;
  readonly afterMb: number;
  readonly afterHeapMb: number | undefined;
  /** V8 heap committed (used, garbage and free space) after. */
  readonly afterHeapTotalMb: number | undefined;
  /** After a forced full GC (diagnostic). */
  readonly gc: AfterGc | undefined;
  readonly active: number | undefined;
  readonly touchSeconds: number;
  readonly waitedSeconds: number;
}

/**
 * One proxy, idle then touched. `passivate`: wait until every entity has passivated
 * (the idle figure is left as it is); otherwise they stay active, and a forced GC at
 * idle too gives the live cost per entity.
 */
async function runPhase(ctx: BenchContext, label: string, passivationMs: number, passivate: boolean, bodies: readonly Buffer[]): Promise<Phase> {
  const ufPort = await freePort();
  const adminPort = await freePort();
  const inspectPort = await freePort();
  const uf = await startUserFunction("model", ufPort);
  let proxy: (Child & { readonly port: number }) | undefined;
  let client: GrpcClient | undefined;
  try {
    proxy = await startProxy({
      userFunctionPort: ufPort,
      store: `sqlite:${path.join(ctx.tmpDir, `memory-${label}.db`)}`,
      extraArgs: ["--passivation-timeout", String(passivationMs), "--admin-port", String(adminPort)],
      nodeArgs: [`--inspect-port=127.0.0.1:${inspectPort}`],
    });
    client = await GrpcClient.connect("127.0.0.1", proxy.port, ctx.sessions);
    const call = caller(client, bodies);
    // One call of another key, then quiet: the idle figure.
    await touchKeys((w, _seq, done) => call(w, bodies.length - 1, done), 1, 1);
    await sleep(2000);
    const idleMb = rssMb(proxy.pid);
    const idleHeapMb = ((await metric(adminPort, "nodejs_heap_size_used_bytes")) ?? Number.NaN) / 2 ** 20;
    const idleGc = passivate ? undefined : await afterForcedGc(ctx, proxy.pid, inspectPort);
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
    if (passivate) {
      // Passivation runs on each entity's idle timer; give it the timeout and then some.
      const until = Date.now() + passivationMs + 60_000;
      while ((active ?? 0) > 0 && Date.now() < until) {
        await sleep(1000);
        active = await metric(adminPort, "switchboard_entities_active");
      }
      // The proxy gives its heap back once quiet after the wave (--heap-release, 5 s after the last passivation): wait for it to report that.
      const releaseUntil = Date.now() + 30_000;
      while (((await metric(adminPort, "switchboard_heap_releases_total")) ?? 1) < 1 && Date.now() < releaseUntil) await sleep(1000);
      // Let the heap settle the way it does on an idle process (no forced GC).
      await sleep(10_000);
    } else {
      await sleep(2000);
      active = await metric(adminPort, "switchboard_entities_active");
    }
    const afterMb = rssMb(proxy.pid);
    const afterHeapMb = ((await metric(adminPort, "nodejs_heap_size_used_bytes")) ?? Number.NaN) / 2 ** 20;
    const afterHeapTotalMb = ((await metric(adminPort, "nodejs_heap_size_total_bytes")) ?? Number.NaN) / 2 ** 20;
    const waitedSeconds = (Date.now() - waitStart) / 1000;
    const releases = await metric(adminPort, "switchboard_heap_releases_total");
    ctx.log(`memory (${label}): peak ${peakMb.toFixed(1)} MB, after ${afterMb.toFixed(1)} MB, active entities ${active}, heap releases ${releases ?? "–"}`);
    const gc = await afterForcedGc(ctx, proxy.pid, inspectPort);
    if (gc !== undefined) ctx.log(`memory (${label}): after a forced GC ${gc.rssMb.toFixed(1)} MB (heap used ${gc.heapUsedMb.toFixed(1)} MB)`);
    return { idleMb, idleHeapMb, idleGc, peakMb, afterMb, afterHeapMb, afterHeapTotalMb, gc, active, touchSeconds, waitedSeconds };
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
    // The live cost: both ends after a forced GC.
    const live =
      active.gc !== undefined && active.idleGc !== undefined
        ? {
            rss: ((active.gc.rssMb - active.idleGc.rssMb) * 2 ** 20) / ENTITIES,
            heapUsed: ((active.gc.heapUsedMb - active.idleGc.heapUsedMb) * 2 ** 20) / ENTITIES,
            heapTotal: ((active.gc.heapTotalMb - active.idleGc.heapTotalMb) * 2 ** 20) / ENTITIES,
          }
        : undefined;
    const bytes = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? "–" : `${Math.round(value).toLocaleString("en-US")} B`);
    // The target is about what stays after passivation; the peak while touching is reported beside it.
    const passivatedMet = passivated.afterMb <= RSS_TARGET_MB && backWithin <= 0.1 && passivated.active === 0;
    const gcNote =
      passivated.gc === undefined
        ? "no forced-GC figure"
        : `after a forced full GC (diagnostic): ${mb(passivated.gc.rssMb)} RSS, heap used ${mb(passivated.gc.heapUsedMb)}, committed ${mb(passivated.gc.heapTotalMb)}`;
    const checks: Check[] = [
      {
        name: `Proxy RSS after ${ENTITIES.toLocaleString("en-US")} value entities touched once and passivated`,
        measured: `after passivation ${mb(passivated.afterMb)} (${passivated.active ?? "?"} still active; peak while touching ${mb(passivated.peakMb)})`,
        comparison: `idle ${mb(passivated.idleMb)}`,
        ratio: `${(passivated.afterMb / passivated.idleMb).toFixed(2)}×`,
        target: `≤ ${RSS_TARGET_MB} MB, and back within 10% of idle`,
        status: passivatedMet ? "met" : "not met",
        ...(passivatedMet
          ? {}
          : {
              note: `${(backWithin * 100).toFixed(0)}% over idle; V8 heap used ${mb(passivated.afterHeapMb)} of ${mb(passivated.afterHeapTotalMb)} committed (idle: ${mb(passivated.idleHeapMb)} used), ${mb(passivated.afterMb - (passivated.afterHeapTotalMb ?? Number.NaN))} of RSS outside the V8 heap: what the heap release (or a forced GC) leaves is native memory; ${gcNote}`,
            }),
      },
      {
        name: `Proxy RSS with ${ENTITIES.toLocaleString("en-US")} active value entities`,
        measured: `${mb(active.afterMb)} (${active.active ?? "?"} active)`,
        comparison: `idle ${mb(active.idleMb)}`,
        ratio: `${bytes(perEntity)} per active entity (V8 heap used ${bytes(heapPerEntity)})${live === undefined ? "" : `; live, after a forced GC: ${bytes(live.rss)} (V8 heap used ${bytes(live.heapUsed)})`}`,
        target: "measure and explain",
        status: "met",
      },
    ];
    const gcCell = (p: Phase) => (p.gc === undefined ? "–" : `${mb(p.gc.rssMb)} / ${mb(p.gc.heapUsedMb)} / ${mb(p.gc.heapTotalMb)}`);
    const row = (label: string, p: Phase) =>
      `| ${label} | ${mb(p.idleMb)} | ${mb(p.idleHeapMb)} | ${mb(p.peakMb)} | ${mb(p.afterMb)} | ${mb(p.afterHeapMb)} / ${mb(p.afterHeapTotalMb)} | ${gcCell(p)} | ${p.active ?? "?"} | ${p.touchSeconds.toFixed(1)} s | ${p.waitedSeconds.toFixed(1)} s |`;
    const body = [
      `The proxy on SQLite (file, WAL, \`synchronous=FULL\`) in front of the raw-protocol TCK model; ${ENTITIES.toLocaleString("en-US")} value entities (\`ValueEntityTckModel/Process\` with no action: an activation and a reply, no write), ${ctx.concurrency} concurrent. RSS from /proc/<pid>/status; V8 heap used and committed from the proxy's own metrics (\`nodejs_heap_size_used_bytes\`, \`nodejs_heap_size_total_bytes\`); active entities from \`switchboard_entities_active\`. The figures are what an idle process holds (no forced GC). The forced-GC column is a diagnostic the product never does: the proxy's inspector (opened with SIGUSR1) runs a full GC, then RSS / heap used / heap committed are read again; it tells a leak (still held) from a heap V8 has not shrunk.`,
      "",
      "| run | idle RSS | idle heap used | peak RSS | RSS after | heap used / committed after | after a forced GC: RSS / heap used / committed | active after | touching took | waited after |",
      "|---|---|---|---|---|---|---|---|---|---|",
      row(`touched once, passivation after ${PASSIVATION_MS / 1000} s idle`, passivated),
      row("touched once, kept active", active),
      "",
      `Per active entity at rest (no forced GC): ${bytes(perEntity)} of RSS, of which ${bytes(heapPerEntity)} V8 heap used (live objects and garbage not yet collected).`,
      live === undefined
        ? "No live figure (the forced GC did not run)."
        : `Live, both ends after a forced GC (idle: ${mb(active.idleGc?.rssMb)} RSS, ${mb(active.idleGc?.heapUsedMb)} heap used): ${bytes(live.rss)} of RSS per active entity, of which ${bytes(live.heapUsed)} V8 heap used (${bytes(live.heapTotal)} committed) and ${bytes(live.rss - live.heapTotal)} outside the V8 heap (buffers and the allocator's own overhead; over \`--user-function-http2 node\` also node:http2's native stream per entity: nghttp2's stream and Node's C++ stream object). What each byte is: docs/design.md, "Memory per entity".`,
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points: [], data: { passivated, active, perEntity, heapPerEntity, live } };
  },
};
