/**
 * Where SQLite commits its write batches: on the proxy's main thread (`--sqlite-commit
 * inline`) against a writer thread that owns the write connection (`--sqlite-commit
 * worker`), on the event-sourced and value-entity points of `npm run bench`, all
 * variants alternating in rounds with the raw batched-insert ceiling of the same file
 * settings (WAL, synchronous=FULL), each round starting one variant later. Besides throughput, latency and CPU per call it
 * reads each proxy's own store metrics over the measured rounds (admin port
 * `/metrics`): the mean batch size, the mean commit time and, inline, the share of the
 * main thread's wall time spent blocked in COMMIT. Unless `--no-profile` it then
 * profiles the proxy's main thread on the event-sourced point, once per mode.
 *
 *   node --import tsx bench/sqlite-commit.ts [--duration 10] [--rounds 5] [--warmup 1] [--no-profile]
 *   node --import tsx bench/sqlite-commit.ts --store-only [--work-us 250] [--duration 10] [--rounds 5]
 *
 * `--store-only` measures the mechanism alone, in this one process: 64 concurrent
 * "commands" each spend `--work-us` of CPU on the main thread (standing in for the
 * proxy's own work per command) and then append one event through the store, inline
 * against worker, alternating; no user function, gRPC or other process.
 *
 * It runs the built proxy (`npm run build` first) and prints a markdown section.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { closedLoop, mergeRounds, type PointResult, type Variant } from "./load/driver.js";
import { esWorkload } from "./scenarios/event-sourced.js";
import { sqliteCeiling } from "./support/ceiling.js";
import { ms, rate, ratio } from "./support/format.js";
import { freePort, ROOT } from "./support/processes.js";
import { analyseProfile } from "./support/profile.js";
import { incrementWorkload, type SwitchboardStack, startSwitchboard } from "./support/stacks.js";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    rounds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    concurrency: { type: "string", default: "64" },
    "no-profile": { type: "boolean", default: false },
    "store-only": { type: "boolean", default: false },
    "work-us": { type: "string", default: "250" },
  },
});
const durationMs = Number(values.duration) * 1000;
const rounds = Number(values.rounds);
const warmupMs = Number(values.warmup) * 1000;
const concurrency = Number(values.concurrency);
const KEYS = 1000;
const tmp = path.join(ROOT, "bench/.tmp/sqlite-commit");
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
const log = (message: string) => process.stderr.write(`[sqlite-commit ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

type Mode = "inline" | "worker";
type Workload = "event-sourced" | "value-entity";

/** The store metrics of one proxy, as summed counters. */
interface StoreCounters {
  commitSeconds: number;
  commits: number;
  writes: number;
}

async function storeCounters(adminPort: number): Promise<StoreCounters> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    commitSeconds: value("switchboard_store_commit_duration_seconds_sum"),
    commits: value("switchboard_store_commit_duration_seconds_count"),
    writes: value("switchboard_store_batch_size_sum"),
  };
}

interface Run {
  readonly workload: Workload;
  readonly mode: Mode;
  readonly label: string;
  readonly stack: SwitchboardStack;
  readonly adminPort: number;
  readonly call: Parameters<typeof closedLoop>[0]["call"];
  readonly verify: () => Promise<string | undefined>;
  /** Store counters summed over the measured rounds (warm-up included), and the wall time they cover. */
  readonly totals: StoreCounters & { wallSeconds: number };
}

async function start(workload: Workload, mode: Mode, profileDir?: string): Promise<Run> {
  const adminPort = await freePort();
  const stack = await startSwitchboard({
    kind: workload === "event-sourced" ? "shopping-cart" : "counter",
    store: `sqlite:${path.join(tmp, `${workload}-${mode}${profileDir ? "-profiled" : ""}.db`)}`,
    sessions: 4,
    proxyArgs: ["--sqlite-commit", mode, "--admin-port", String(adminPort)],
    ...(profileDir ? { cpuProfileDir: profileDir } : {}),
  });
  const totals = { commitSeconds: 0, commits: 0, writes: 0, wallSeconds: 0 };
  if (workload === "event-sourced") {
    const w = esWorkload(stack, "shopping-cart", concurrency);
    return { workload, mode, label: `shopping cart AddItem, ${mode}`, stack, adminPort, call: w.call, verify: w.verify, totals };
  }
  const w = incrementWorkload(stack, "counter", KEYS);
  return {
    workload,
    mode,
    label: `counter Increase, ${mode}`,
    stack,
    adminPort,
    call: w.call,
    verify: async () => {
      const v = await w.verify();
      return v === undefined ? undefined : `${v.ok ? "OK" : "MISMATCH"} — ${v.detail}`;
    },
    totals,
  };
}

function variant(run: Run): Variant {
  return {
    label: run.label,
    async run(duration, warmup) {
      const before = await storeCounters(run.adminPort);
      const started = performance.now();
      const point = await closedLoop({ label: run.label, concurrency, durationMs: duration, warmupMs: warmup, watched: run.stack.watched, call: run.call });
      const after = await storeCounters(run.adminPort);
      run.totals.wallSeconds += (performance.now() - started) / 1000;
      run.totals.commitSeconds += after.commitSeconds - before.commitSeconds;
      run.totals.commits += after.commits - before.commits;
      run.totals.writes += after.writes - before.writes;
      return point;
    },
  };
}

/**
 * Runs the variants in `rounds` rounds of `durationMs / rounds` each, like `interleave`,
 * but starting each round one variant later, so that no variant always follows the same
 * one (the disk-heavy ceiling leaves write-back behind it for whoever comes next).
 */
async function rotate(variants: readonly Variant[]): Promise<PointResult[]> {
  const parts: PointResult[][] = variants.map(() => []);
  const per = durationMs / rounds;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (r + k) % variants.length;
      const v = variants[i] as Variant;
      log(`  round ${r + 1}/${rounds}: ${v.label}`);
      (parts[i] as PointResult[]).push(await v.run(per, r === 0 ? warmupMs : Math.min(warmupMs, 250)));
    }
  }
  return parts.map((p) => mergeRounds(p));
}

const perCall = (p: PointResult, label: string) => {
  const pctOfCore = label === "generator" ? p.cpu.generatorPct : p.cpu.processes[label];
  return pctOfCore === undefined ? Number.NaN : ((pctOfCore / 100) * 1e6) / p.throughput;
};
const us = (value: number) => (Number.isFinite(value) ? `${Math.round(value)} µs` : "–");

if (values["store-only"]) {
  await storeOnly(Number(values["work-us"]));
  process.exit(0);
}

/** The `--store-only` measurement (see the header). */
async function storeOnly(workUs: number): Promise<void> {
  const { createSqliteStore } = (await import(
    new URL(`file://${path.join(ROOT, "packages/proxy/dist/store/sqlite/sqlite-store.js")}`).href
  )) as typeof import("../packages/proxy/src/store/sqlite/sqlite-store.js");
  const { LOCAL_WRITER } = await import("../packages/proxy/src/store/types.js");
  const payload = new Uint8Array(64).fill(7);
  const variants: Variant[] = [];
  const stores: { close(): Promise<void> }[] = [];
  for (const mode of ["inline", "worker"] as const) {
    const store = await createSqliteStore({ path: path.join(tmp, `store-only-${mode}.db`), commit: mode });
    stores.push(store);
    const seqs = new Array<number>(concurrency).fill(0);
    variants.push({
      label: `${workUs} µs of main-thread work + one append, ${mode}`,
      async run(duration, warmup) {
        const before = store.stats;
        const point = await closedLoop({
          label: mode,
          concurrency,
          durationMs: duration,
          warmupMs: warmup,
          call: (worker, _seq, done) => {
            const until = performance.now() + workUs / 1000;
            while (performance.now() < until) {
              // the command's own CPU
            }
            const seq = ++(seqs[worker] as number);
            store.append({ journalId: `w|${worker}`, tag: "w", firstSeq: seq, events: [{ typeUrl: "t/E", value: payload }], writer: LOCAL_WRITER }).then(
              () => done(),
              (err: Error) => done(err.message),
            );
          },
        });
        const after = store.stats;
        log(`${mode}: ${((after.writes - before.writes) / (after.transactions - before.transactions)).toFixed(1)} writes per transaction`);
        return point;
      },
    });
  }
  try {
    const points = await rotate(variants);
    const lines = ["| point | commands/s | p50 | p99 | CPU of this process per command |", "|---|---|---|---|---|"];
    for (const p of points) {
      lines.push(
        `| ${variants[points.indexOf(p)]?.label} | ${rate(p.throughput)} | ${ms(p.latency.p50Ms)} | ${ms(p.latency.p99Ms)} | ${us(perCall(p, "generator"))} |`,
      );
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    for (const store of stores) await store.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
const lines: string[] = [];
const ceiling = sqliteCeiling(path.join(tmp, "ceiling.db"), concurrency);
try {
  for (const workload of ["event-sourced", "value-entity"] as const) for (const mode of ["inline", "worker"] as const) runs.push(await start(workload, mode));
  log(`${runs.map((r) => r.label).join(", ")} and the raw ceiling: ${rounds} rounds of ${durationMs / rounds / 1000} s each`);
  const points = await rotate([...runs.map(variant), ceiling]);
  const ceilingPoint = points[runs.length] as PointResult;
  lines.push(
    "| point | calls/s | p50 | p99 | CPU proxy per call | CPU user function per call | CPU generator per call | mean batch (writes) | mean commit | main thread blocked in COMMIT | ÷ raw ceiling |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  );
  runs.forEach((run, i) => {
    const p = points[i] as PointResult;
    const t = run.totals;
    const blocked = run.mode === "inline" ? `${((100 * t.commitSeconds) / t.wallSeconds).toFixed(0)}% of wall time` : "0 (on the writer thread)";
    lines.push(
      `| ${run.label} | ${rate(p.throughput)} | ${ms(p.latency.p50Ms)} | ${ms(p.latency.p99Ms)} | ${us(perCall(p, "proxy"))} | ${us(perCall(p, "user function"))} | ${us(perCall(p, "generator"))} | ${(t.writes / t.commits).toFixed(1)} | ${ms((1000 * t.commitSeconds) / t.commits)} | ${blocked} | ${run.workload === "event-sourced" ? ratio(p.throughput / ceilingPoint.throughput) : "–"} |`,
    );
  });
  lines.push(
    `| raw batched insert (${concurrency} events per transaction) | ${rate(ceilingPoint.throughput)} events | ${ms(ceilingPoint.latency.p50Ms)} per transaction | ${ms(ceilingPoint.latency.p99Ms)} | – | – | ${us(perCall(ceilingPoint, "generator"))} per event | ${concurrency} | – | – | 1 |`,
  );
  const errors = points.filter((p) => p.errors > 0).map((p) => `${p.label}: ${p.errors} errors ${JSON.stringify(p.errorKinds)}`);
  if (errors.length > 0) lines.push("", `Errors: ${errors.join("; ")}`);
  lines.push("");
  for (const run of runs) lines.push(`Read-back, ${run.label}: ${(await run.verify()) ?? "not checked"}.`);
} finally {
  ceiling.close();
  for (const run of runs) await run.stack.stop();
}

if (!values["no-profile"]) {
  lines.push("");
  for (const mode of ["inline", "worker"] as const) {
    const dir = path.join(tmp, `profile-${mode}`);
    log(`profiling the proxy, event-sourced, ${mode}`);
    const run = await start("event-sourced", mode, dir);
    let point: PointResult;
    try {
      point = await closedLoop({ label: "profiled", concurrency, durationMs: durationMs / 2, warmupMs, call: run.call });
    } finally {
      await run.stack.stop();
    }
    // One profile per thread; the main thread's has thread id 0 in its name.
    const main = readdirSync(dir)
      .filter((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f))
      .map((f) => path.join(dir, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (main === undefined) {
      lines.push(`Profile, ${mode}: none written.`);
      continue;
    }
    const summary = analyseProfile(main, point.windowUs, 8);
    const top = summary.components
      .slice(0, 6)
      .map((h) => `${h.name} ${h.pct.toFixed(1)}%`)
      .join(", ");
    lines.push(
      `Main-thread profile, shopping cart AddItem, ${mode} (${rate(point.throughput)} while profiling): busy ${summary.busyPct.toFixed(0)}% of samples; ${top}.`,
      "",
    );
  }
}
rmSync(tmp, { recursive: true, force: true });
process.stdout.write(`${lines.join("\n")}\n`);
