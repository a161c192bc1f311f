/**
 * `npm run soak`: the proxy under steady load for a long time, with the user function
 * killed (SIGKILL) and restarted every minute, checking that memory and tail latency stay
 * flat and that no acknowledged write is lost. Not part of CI (it runs for minutes).
 *
 *   npm run soak                                  10 minutes at 70% of the measured capacity
 *   npm run soak -- --minutes 3 --keys 5000       shorter, over other keys
 *   npm run soak -- --entities 100000             activate 100,000 distinct entities instead (all of them
 *                                                 kept active: passivation after an hour unless
 *                                                 --passivation-timeout says otherwise), and report the
 *                                                 proxy's and the user function's memory
 *
 * Everything runs as real processes: the `switchboard` CLI on a SQLite file
 * (`synchronous=FULL`), the counter example (TypeScript SDK) as the user function, and the
 * load generator of `bench/load` in this process. The last lines printed are the checks,
 * each PASS or FAIL; the exit code is 1 when one failed.
 */
import { readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CurrentCounterSchema, GetCounterSchema } from "../examples/counter/src/gen/counter_pb.js";
import { type Caller, closedLoop, openLoop, type PointResult } from "./load/driver.js";
import { frame, GrpcClient } from "./load/grpc.js";
import { counterIncreases, PATHS } from "./support/messages.js";
import { type Child, freePort, ROOT, startProxy, startUserFunction } from "./support/processes.js";
import { forEachLimited } from "./support/stacks.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    load: { type: "string", default: "0.7" },
    keys: { type: "string", default: "10000" },
    "kill-every": { type: "string", default: "60" },
    window: { type: "string", default: "10" },
    entities: { type: "string" },
    "max-active-entities": { type: "string" },
    "passivation-timeout": { type: "string" },
  },
});

const COUNTER_GET = "/com.example.counter.CounterService/GetCurrentCounter";
const log = (message: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** Resident memory of a process in MB, from /proc. */
function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024;
}

const checks: { name: string; pass: boolean; detail: string }[] = [];
function check(name: string, pass: boolean, detail: string): void {
  checks.push({ name, pass, detail });
}

const tmpDir = path.join(ROOT, "bench", ".tmp", `soak-${process.pid}`);
const store = `sqlite:${path.join(tmpDir, "soak.db")}`;
const ufPort = await freePort();
let uf: Child = await startUserFunction("counter", ufPort);
// An entity run keeps every entity active (no idle passivation while it runs) unless told otherwise.
const passivation = values["passivation-timeout"] ?? (values.entities === undefined ? undefined : "3600000");
const proxyArgs = [
  ...(values["max-active-entities"] === undefined ? [] : ["--max-active-entities", values["max-active-entities"]]),
  ...(passivation === undefined ? [] : ["--passivation-timeout", passivation]),
];
const proxy = await startProxy({ userFunctionPort: ufPort, store, extraArgs: ["--admin-port", "0", ...proxyArgs] });
const client = await GrpcClient.connect("127.0.0.1", proxy.port, 4);
log(`proxy pid ${proxy.pid} on ${proxy.port}, user function pid ${uf.pid} on ${ufPort}, store ${store}`);

/** Reads every counter `c-0 … c-(keys-1)` back. */
async function readCounters(keys: number): Promise<bigint[]> {
  const totals: bigint[] = new Array(keys).fill(0n);
  await forEachLimited(keys, 64, async (i) => {
    const reply = await client.unary(COUNTER_GET, frame(toBinary(GetCounterSchema, create(GetCounterSchema, { counterId: `c-${i}` }))));
    totals[i] = fromBinary(CurrentCounterSchema, reply).value;
  });
  return totals;
}

try {
  if (values.entities !== undefined) await entitiesRun(Number(values.entities));
  else await soakRun();
} finally {
  client.close();
  await proxy.stop();
  await uf.stop();
  rmSync(tmpDir, { recursive: true, force: true });
}

for (const c of checks) process.stdout.write(`${c.pass ? "PASS" : "FAIL"} ${c.name}: ${c.detail}\n`);
process.exitCode = checks.every((c) => c.pass) ? 0 : 1;

/** The soak: capacity, then windows of open-loop load at a share of it, the user function killed every minute. */
async function soakRun(): Promise<void> {
  const keys = Number(values.keys);
  const minutes = Number(values.minutes);
  const windowS = Number(values.window);
  const killEvery = Number(values["kill-every"]);
  const bodies = counterIncreases(keys);
  const acked = new Uint32Array(keys);
  let next = 0;
  const increment: Caller = (_worker, _seq, done) => {
    const key = next++ % keys;
    client.call(PATHS.counterIncrease, bodies[key] as Buffer, (status, message) => {
      if (status === 0) {
        acked[key] = (acked[key] ?? 0) + 1;
        done();
      } else done(`grpc-status ${status}: ${message.slice(0, 60)}`);
    });
  };
  log("measuring capacity: 10 s closed loop, 64 concurrent");
  const capacity = await closedLoop({ label: "capacity", concurrency: 64, durationMs: 10_000, warmupMs: 2_000, call: increment });
  const rate = Math.max(10, Math.round(capacity.throughput * Number(values.load)));
  log(`capacity ${Math.round(capacity.throughput)}/s; soaking at ${rate}/s for ${minutes} min, killing the user function every ${killEvery} s`);

  const windows: { at: number; point: PointResult; proxyRss: number; ufRss: number; killed: boolean }[] = [];
  const started = Date.now();
  let lastKill = Date.now();
  let kills = 0;
  while (Date.now() - started < minutes * 60_000) {
    let killed = false;
    if (Date.now() - lastKill >= killEvery * 1000) {
      lastKill = Date.now();
      killed = true;
      kills++;
      uf.process.kill("SIGKILL");
      await uf.exited;
      // Restarted at once on the same port; the proxy reconnects and discovers again by itself.
      uf = await startUserFunction("counter", ufPort);
    }
    const point = await openLoop({ label: `window ${windows.length + 1}`, rate, durationMs: windowS * 1000, warmupMs: 0, call: increment });
    const at = Math.round((Date.now() - started) / 1000);
    windows.push({ at, point, proxyRss: rssMb(proxy.pid), ufRss: rssMb(uf.pid), killed });
    log(
      `${at}s: ${Math.round(point.throughput)}/s ok, ${point.errors} failed, p50 ${point.latency.p50Ms.toFixed(1)} ms, p99 ${point.latency.p99Ms.toFixed(1)} ms, proxy RSS ${rssMb(proxy.pid).toFixed(0)} MB${killed ? " (user function killed at the start of this window)" : ""}`,
    );
  }

  log(`reading ${keys} counters back`);
  const stored = await readCounters(keys);
  let lost = 0;
  let unacknowledged = 0;
  let acknowledgedTotal = 0;
  stored.forEach((total, i) => {
    const a = acked[i] ?? 0;
    acknowledgedTotal += a;
    if (total < BigInt(a)) lost += a - Number(total);
    if (total > BigInt(a)) unacknowledged += Number(total) - a;
  });
  const failed = windows.reduce((sum, w) => sum + w.point.errors, 0);
  const calm = windows.filter((w) => !w.killed);
  const third = Math.max(1, Math.floor(calm.length / 3));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const early = calm.slice(0, third);
  const late = calm.slice(-third);
  const rssEarly = median(early.map((w) => w.proxyRss));
  const rssLate = median(late.map((w) => w.proxyRss));
  const p99Early = median(early.map((w) => w.point.latency.p99Ms));
  const p99Late = median(late.map((w) => w.point.latency.p99Ms));
  const rssMax = Math.max(...windows.map((w) => w.proxyRss));

  process.stdout.write(
    `\nsoak: ${minutes} min at ${rate}/s (${Number(values.load) * 100}% of ${Math.round(capacity.throughput)}/s measured), ${keys} counters, ${kills} user-function kills, ${windowS} s windows\n`,
  );
  process.stdout.write("| at (s) | calls/s | failed | p50 | p99 | proxy RSS | user function RSS | note |\n|---|---|---|---|---|---|---|---|\n");
  for (const w of windows) {
    process.stdout.write(
      `| ${w.at} | ${Math.round(w.point.throughput)} | ${w.point.errors} | ${w.point.latency.p50Ms.toFixed(1)} ms | ${w.point.latency.p99Ms.toFixed(1)} ms | ${w.proxyRss.toFixed(0)} MB | ${w.ufRss.toFixed(0)} MB | ${w.killed ? "user function killed" : ""} |\n`,
    );
  }
  process.stdout.write("\n");
  check("no acknowledged write lost", lost === 0, `${acknowledgedTotal} increments acknowledged, ${lost} missing from the store`);
  check(
    "no write stored that was reported failed",
    unacknowledged === 0,
    `${unacknowledged} increments stored beyond the acknowledged ones (of ${failed} calls that failed during user-function restarts)`,
  );
  check(
    "proxy RSS flat",
    rssLate <= rssEarly * 1.25 + 16,
    `median ${rssEarly.toFixed(0)} MB in the first third of the calm windows, ${rssLate.toFixed(0)} MB in the last (bound: ×1.25 + 16 MB), max ${rssMax.toFixed(0)} MB`,
  );
  check(
    "p99 flat",
    p99Late <= p99Early * 2 + 5,
    `median p99 ${p99Early.toFixed(1)} ms in the first third of the calm windows, ${p99Late.toFixed(1)} ms in the last (bound: ×2 + 5 ms)`,
  );
}

/** Activates `count` distinct entities (one increment each, 64 at a time) and reports memory and failures. */
async function entitiesRun(count: number): Promise<void> {
  const bodies = counterIncreases(count);
  const before = { proxy: rssMb(proxy.pid), uf: rssMb(uf.pid) };
  let failed = 0;
  const kinds = new Map<string, number>();
  let peakProxy = before.proxy;
  let peakUf = before.uf;
  const sampler = setInterval(() => {
    peakProxy = Math.max(peakProxy, rssMb(proxy.pid));
    peakUf = Math.max(peakUf, rssMb(uf.pid));
  }, 500);
  const started = Date.now();
  let done = 0;
  await forEachLimited(count, 64, async (i) => {
    try {
      await client.unary(PATHS.counterIncrease, bodies[i] as Buffer);
    } catch (error) {
      failed++;
      const kind = (error as Error).message.slice(0, 80);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    if (++done % 10_000 === 0) log(`${done} entities activated, proxy RSS ${rssMb(proxy.pid).toFixed(0)} MB, user function RSS ${rssMb(uf.pid).toFixed(0)} MB`);
  });
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  const after = { proxy: rssMb(proxy.pid), uf: rssMb(uf.pid) };
  const cap = `--max-active-entities ${values["max-active-entities"] ?? "unset"}, --passivation-timeout ${passivation ?? "default"} ms`;
  process.stdout.write(
    `\nentities: ${count} distinct counters activated in ${seconds.toFixed(0)} s (${Math.round(count / seconds)}/s), ${cap}\n` +
      `proxy RSS ${before.proxy.toFixed(0)} MB before, ${after.proxy.toFixed(0)} MB after, peak ${peakProxy.toFixed(0)} MB ` +
      `(${(((after.proxy - before.proxy) * 1024 * 1024) / count / 1024).toFixed(1)} KB per entity)\n` +
      `user function RSS ${before.uf.toFixed(0)} MB before, ${after.uf.toFixed(0)} MB after, peak ${peakUf.toFixed(0)} MB\n\n`,
  );
  check(
    "every activation succeeded",
    failed === 0,
    `${failed} of ${count} failed${kinds.size > 0 ? `: ${[...kinds].map(([k, n]) => `${n}× ${k}`).join("; ")}` : ""}`,
  );
  const sample = await readCounters(Math.min(count, 1000));
  check(
    "state stored",
    sample.every((v) => v === 1n),
    `the first ${sample.length} counters read back as 1`,
  );
}
