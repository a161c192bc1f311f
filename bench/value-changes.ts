/**
 * What value-entity changes as an event source cost (docs/eventing.md, "Value-entity
 * changes"): durable increments of a value entity whose changes nothing consumes, against
 * the same increments with one consumer group, alternating in rounds in one run:
 *
 *   node --import tsx bench/value-changes.ts [--duration 30] [--rounds 6] [--warmup 1] [--concurrency 64] [--catch-up 60]
 *
 * (after `npm run build`). Each variant is its own proxy (the real `switchboard start` CLI,
 * SQLite file, WAL, synchronous=FULL) in front of its own user function process
 * (bench/value-changes-user-function.ts: the `Counter` entity of the value-change tests,
 * with `--no-consumer` for the first variant, and with the `CounterAudit` action, whose
 * handler only notes what it saw, for the second); this process is the load generator:
 * `--concurrency` callers send `Counter/Add` (by 1) over 1,000 keys, in turn. With a consumer
 * each write also records its change in the change log in the same transaction, and the
 * proxy's consumer delivers it to the action and prunes the log.
 *
 * How far the consumer keeps up: the generator notes when each increment was acknowledged,
 * against the entity id and the value it returned; the action notes when it saw each
 * (id, value); both on CLOCK_MONOTONIC in µs, one clock for every process of the machine.
 * After each round of the second variant the bench reads the action's notes
 * (`GET /seen` on its report port) until every acknowledged increment has been seen (at
 * most `--catch-up` seconds), before the next round starts, so no backlog runs into the
 * other variant's round. It prints: the backlog (acknowledged, not yet seen) when each
 * round's load stopped; the changes seen inside the measured windows per second against the
 * increments acknowledged there; and the delivery lag (seen − acknowledged) over every
 * change of the run, which is negative when the action saw a change before its caller had
 * the reply. CPU per call is taken from /proc over the measured windows, as in the other
 * bench scripts; the consumer's work during a catch-up is outside them (hence the backlog).
 */
import { mkdirSync, rmSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CounterStateSchema, IncreaseSchema } from "../test/topics/gen/switchboard/test/topics/counters_pb.js";
import { processCpuSeconds } from "./load/cpu.js";
import { closedLoop, mergeRounds, monotonicUs, type PointResult } from "./load/driver.js";
import { frame, GrpcClient } from "./load/grpc.js";
import { ms, rate, ratio } from "./support/format.js";
import { type Child, freePort, ROOT, startChild, startProxy } from "./support/processes.js";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "30" },
    rounds: { type: "string", default: "6" },
    warmup: { type: "string", default: "1" },
    concurrency: { type: "string", default: "64" },
    "catch-up": { type: "string", default: "60" },
  },
});
const durationMs = Number(values.duration) * 1000;
const rounds = Number(values.rounds);
const warmupMs = Number(values.warmup) * 1000;
const concurrency = Number(values.concurrency);
const catchUpMs = Number(values["catch-up"]) * 1000;
const KEYS = 1000;
const signedMs = (v: number) => (v < 0 ? `−${ms(-v)}` : ms(v));
const ADD = "/switchboard.test.topics.Counter/Add";
const tmp = path.join(ROOT, "bench/.tmp/value-changes");
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
const log = (message: string) => process.stderr.write(`[value-changes ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const bodies = Array.from({ length: KEYS }, (_, i) => frame(toBinary(IncreaseSchema, create(IncreaseSchema, { id: `k-${i}`, by: 1n }))));

/** One variant: a proxy and its user function, and what the generator and the consumer saw. */
interface Stack {
  readonly label: string;
  readonly consumer: boolean;
  readonly proxy: Child;
  readonly userFunction: Child;
  readonly client: GrpcClient;
  readonly reportPort: number;
  /** "<id> <value>" of every acknowledged increment → when its reply arrived (µs, CLOCK_MONOTONIC). */
  readonly acked: Map<string, number>;
  /** "<id> <value>" of every change the action saw → when it first saw it (µs). */
  readonly seen: Map<string, number>;
  duplicates: number;
  readonly parts: PointResult[];
  /** Acknowledged − seen when each round's load stopped. */
  readonly backlogs: number[];
  readonly catchUpMs: number[];
  /** Over the catch-ups: changes seen, and CPU seconds of the proxy and the user function. */
  readonly catchUp: { changes: number; proxySeconds: number; userFunctionSeconds: number };
}

async function start(consumer: boolean): Promise<Stack> {
  const ufPort = await freePort();
  const reportPort = await freePort();
  const label = consumer ? "with a consumer group" : "no consumer";
  const userFunction = await startChild({
    label: `user function (${label})`,
    command: process.execPath,
    args: [
      "--import",
      "tsx",
      path.join(ROOT, "bench/value-changes-user-function.ts"),
      "--port",
      String(ufPort),
      "--report-port",
      String(reportPort),
      ...(consumer ? [] : ["--no-consumer"]),
    ],
    ready: /^value-changes user function ready/m,
    timeoutMs: 30_000,
  });
  const proxy = await startProxy({ userFunctionPort: ufPort, store: `sqlite:${path.join(tmp, `${consumer ? "consumer" : "none"}.db`)}` });
  const client = await GrpcClient.connect("127.0.0.1", proxy.port, 4);
  return {
    label,
    consumer,
    proxy,
    userFunction,
    client,
    reportPort,
    acked: new Map(),
    seen: new Map(),
    duplicates: 0,
    parts: [],
    backlogs: [],
    catchUpMs: [],
    catchUp: { changes: 0, proxySeconds: 0, userFunctionSeconds: 0 },
  };
}

/** Takes the action's notes since the last read into `stack.seen`. */
async function readSeen(stack: Stack): Promise<void> {
  const text = await (await fetch(`http://127.0.0.1:${stack.reportPort}/seen`)).text();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const cut = line.lastIndexOf(" ");
    const key = line.slice(0, cut);
    if (stack.seen.has(key)) stack.duplicates++;
    else stack.seen.set(key, Number(line.slice(cut + 1)));
  }
}

const unseen = (stack: Stack) => {
  let n = 0;
  for (const key of stack.acked.keys()) if (!stack.seen.has(key)) n++;
  return n;
};

async function round(stack: Stack, warmup: number): Promise<void> {
  // Both variants decode each reply and note its time: the same generator work on both sides.
  const point = await closedLoop({
    label: stack.label,
    concurrency,
    durationMs: durationMs / rounds,
    warmupMs: warmup,
    watched: [
      { label: "proxy", pid: stack.proxy.pid },
      { label: "user function", pid: stack.userFunction.pid },
    ],
    call: (_worker, seq, done) =>
      stack.client.call(ADD, bodies[seq % KEYS] as Buffer, (status, message, reply) => {
        if (status !== 0 || reply === undefined) return done(`grpc-status ${status}: ${message}`);
        const state = fromBinary(CounterStateSchema, reply);
        stack.acked.set(`${state.id} ${state.value}`, monotonicUs());
        done();
      }),
  });
  stack.parts.push(point);
  if (!stack.consumer) return;
  await readSeen(stack);
  stack.backlogs.push(unseen(stack));
  const started = performance.now();
  const seenBefore = stack.seen.size;
  const cpu = [stack.proxy.pid, stack.userFunction.pid].map((pid) => processCpuSeconds(pid) ?? Number.NaN);
  while (unseen(stack) > 0 && performance.now() - started < catchUpMs) {
    await new Promise((r) => setTimeout(r, 100));
    await readSeen(stack);
  }
  stack.catchUpMs.push(performance.now() - started);
  stack.catchUp.changes += stack.seen.size - seenBefore;
  stack.catchUp.proxySeconds += (processCpuSeconds(stack.proxy.pid) ?? Number.NaN) - (cpu[0] as number);
  stack.catchUp.userFunctionSeconds += (processCpuSeconds(stack.userFunction.pid) ?? Number.NaN) - (cpu[1] as number);
}

const stacks: Stack[] = [];
const lines: string[] = [];
try {
  stacks.push(await start(false), await start(true));
  log(`${stacks.map((s) => s.label).join(" and ")}: ${rounds} rounds of ${durationMs / rounds / 1000} s each, ${concurrency} concurrent over ${KEYS} keys`);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < stacks.length; k++) {
      const stack = stacks[(r + k) % stacks.length] as Stack;
      log(`  round ${r + 1}/${rounds}: ${stack.label}`);
      await round(stack, r === 0 ? warmupMs : Math.min(warmupMs, 250));
    }
  }
  const consumed = stacks[1] as Stack;
  const points = stacks.map((s) => mergeRounds(s.parts));
  const perCall = (p: PointResult, label: string) => {
    const pctOfCore = label === "generator" ? p.cpu.generatorPct : p.cpu.processes[label];
    return pctOfCore === undefined || !Number.isFinite(pctOfCore) ? "–" : `${Math.round(((pctOfCore / 100) * 1e6) / p.throughput)} µs`;
  };
  lines.push(
    `${concurrency} concurrent callers, \`Counter/Add\` (by 1) over ${KEYS} keys, SQLite (WAL, synchronous=FULL), ${rounds} alternating rounds, ${(durationMs / 1000).toFixed(0)} s measured per variant.`,
    "",
    "| variant | increments/s | p50 | p99 | CPU proxy per call | CPU user function per call | CPU generator per call | errors |",
    "|---|---|---|---|---|---|---|---|",
    ...stacks.map((s, i) => {
      const p = points[i] as PointResult;
      return `| ${s.label} | ${rate(p.throughput)} | ${ms(p.latency.p50Ms)} | ${ms(p.latency.p99Ms)} | ${perCall(p, "proxy")} | ${perCall(p, "user function")} | ${perCall(p, "generator")} | ${p.errors} |`;
    }),
    "",
    `With a consumer ÷ without: ${ratio((points[1] as PointResult).throughput / (points[0] as PointResult).throughput)} increments/s.`,
  );

  // The consumer, over the measured windows and over the whole run.
  const windows = consumed.parts.map((p) => p.windowUs);
  const inWindows = (us: number) => windows.some(([a, b]) => us >= a && us <= b);
  let ackedInWindows = 0;
  let seenInWindows = 0;
  for (const t of consumed.acked.values()) if (inWindows(t)) ackedInWindows++;
  for (const t of consumed.seen.values()) if (inWindows(t)) seenInWindows++;
  const windowSeconds = windows.reduce((a, [s, e]) => a + (e - s) / 1e6, 0);
  const lags: number[] = [];
  for (const [key, ackedAt] of consumed.acked) {
    const seenAt = consumed.seen.get(key);
    if (seenAt !== undefined) lags.push((seenAt - ackedAt) / 1000);
  }
  lags.sort((a, b) => a - b);
  const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? Number.NaN;
  const notAcked = [...consumed.seen.keys()].filter((k) => !consumed.acked.has(k)).length;
  lines.push(
    "",
    `Consumer (one group, an action that only notes what it saw), over the run: ${consumed.acked.size.toLocaleString("en-US")} increments acknowledged, ${(consumed.acked.size - unseen(consumed)).toLocaleString("en-US")} of them seen by the action (${notAcked} changes seen whose increment was not acknowledged, ${consumed.duplicates} seen twice).`,
    `Inside the measured windows: ${rate(ackedInWindows / windowSeconds)} increments acknowledged, ${rate(seenInWindows / windowSeconds)} changes seen.`,
    `Backlog when each round's load stopped: ${consumed.backlogs.map((b) => b.toLocaleString("en-US")).join(", ")} changes; caught up after ${consumed.catchUpMs.map((t) => ms(t)).join(", ")}.`,
    `While catching up (no load): ${consumed.catchUp.changes.toLocaleString("en-US")} changes delivered at ${rate(consumed.catchUp.changes / (consumed.catchUpMs.reduce((a, b) => a + b, 0) / 1000))}, CPU per change: proxy ${Math.round((consumed.catchUp.proxySeconds * 1e6) / consumed.catchUp.changes)} µs, user function ${Math.round((consumed.catchUp.userFunctionSeconds * 1e6) / consumed.catchUp.changes)} µs (the polling interval of the bench, 100 ms, is included in the time).`,
    `Delivery lag (action saw the change − its increment was acknowledged): p50 ${signedMs(q(0.5))}, p99 ${signedMs(q(0.99))}, max ${signedMs(lags.at(-1) ?? Number.NaN)} (min ${signedMs(lags[0] ?? Number.NaN)}), over ${lags.length.toLocaleString("en-US")} changes.`,
  );
  const errors = points.filter((p) => p.errors > 0).map((p) => `${p.label}: ${JSON.stringify(p.errorKinds)}`);
  if (errors.length > 0) lines.push("", `Errors: ${errors.join("; ")}`);
} finally {
  for (const s of stacks) {
    s.client.close();
    await s.proxy.stop();
    await s.userFunction.stop();
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.stdout.write(`${lines.join("\n")}\n`);
