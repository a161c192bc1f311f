/**
 * The two ways the load generator drives a target:
 *
 * - closed loop: `concurrency` callers, each sends its next call as soon as the last
 *   one completed (throughput at fixed concurrency);
 * - open loop: calls are started on a fixed schedule (`rate` per second) whatever
 *   happened to earlier ones, so a slow server cannot slow the generator down
 *   (latency at a fixed request rate, no coordinated omission).
 *
 * Both run a warm-up, then a measured window; only calls that complete inside the
 * window count. CPU of the generator and of the watched processes is taken over the
 * same window.
 */
import { type CpuReport, startCpuWindow, type Watched } from "./cpu.js";
import { type LatencySummary, LatencyRecorder, nowMs } from "./latency.js";

/** Starts one call; `done` gets undefined on success or an error label. */
export type Caller = (worker: number, seq: number, done: (error?: string) => void) => void;

/** Everything measured at one load point. */
export interface PointResult {
  readonly label: string;
  readonly mode: "closed" | "open";
  /** Closed loop: the number of concurrent callers. */
  readonly concurrency?: number;
  /** Open loop: the target rate, calls per second. */
  readonly rate?: number;
  readonly seconds: number;
  readonly completed: number;
  readonly errors: number;
  /** Error labels and how often each was seen (during the window). */
  readonly errorKinds: Readonly<Record<string, number>>;
  /** Successful calls per second in the window. */
  readonly throughput: number;
  /** Latency of the successful calls, from the moment each was sent. */
  readonly latency: LatencySummary;
  /** Open loop: latency from each call's scheduled start (includes generator lag). */
  readonly scheduledLatency?: LatencySummary;
  readonly cpu: CpuReport;
  /** The measured window on the monotonic clock, in µs (the clock of V8 CPU profiles). */
  readonly windowUs: readonly [number, number];
  /** How many alternating rounds were merged into this result. */
  readonly rounds?: number;
}

/** Microseconds on CLOCK_MONOTONIC, the clock V8 stamps CPU-profile samples with. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Common options of a load point. */
export interface PointOptions {
  readonly label: string;
  readonly call: Caller;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Processes whose CPU is reported over the window. */
  readonly watched?: readonly Watched[];
  /** How long to wait for in-flight calls at the end (default 10 s). */
  readonly drainMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a closed-loop point: `concurrency` callers back to back. */
export async function closedLoop(options: PointOptions & { readonly concurrency: number }): Promise<PointResult> {
  const { concurrency, call } = options;
  const latency = new LatencyRecorder();
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let completed = 0;
  let measuring = false;
  let stopping = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  let seq = 0;

  const start = (worker: number) => {
    if (stopping) {
      if (inFlight === 0) drained?.();
      return;
    }
    const t0 = nowMs();
    inFlight++;
    call(worker, seq++, (error) => {
      inFlight--;
      if (measuring) {
        if (error === undefined) {
          completed++;
          latency.record(nowMs() - t0);
        } else {
          errors++;
          errorKinds[error] = (errorKinds[error] ?? 0) + 1;
        }
      }
      start(worker);
    });
  };
  for (let w = 0; w < concurrency; w++) start(w);
  await sleep(options.warmupMs);
  measuring = true;
  const windowStart = nowMs();
  const usStart = monotonicUs();
  const cpuEnd = startCpuWindow(options.watched ?? []);
  await sleep(options.durationMs);
  const cpu = cpuEnd();
  const windowUs = [usStart, monotonicUs()] as const;
  measuring = false;
  const seconds = (nowMs() - windowStart) / 1000;
  stopping = true;
  if (inFlight > 0) {
    await Promise.race([new Promise<void>((r) => (drained = r)), sleep(options.drainMs ?? 10_000)]);
  }
  return withSamples(latency, undefined, {
    label: options.label,
    mode: "closed",
    concurrency,
    seconds,
    completed,
    errors,
    errorKinds,
    throughput: completed / seconds,
    latency: latency.summary(),
    cpu,
    windowUs,
  });
}

/** Runs an open-loop point: calls started at `rate` per second on a fixed schedule. */
export async function openLoop(options: PointOptions & { readonly rate: number }): Promise<PointResult> {
  const { rate, call } = options;
  const interval = 1000 / rate;
  const latency = new LatencyRecorder();
  const scheduled = new LatencyRecorder();
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let completed = 0;
  let measuring = false;
  let stopping = false;
  let inFlight = 0;
  let seq = 0;
  let drained: (() => void) | undefined;

  const issue = (due: number) => {
    const sent = nowMs();
    const counted = measuring;
    inFlight++;
    const n = seq++;
    call(n % 1_000_000, n, (error) => {
      inFlight--;
      if (counted && measuring) {
        if (error === undefined) {
          completed++;
          const end = nowMs();
          latency.record(end - sent);
          scheduled.record(end - due);
        } else {
          errors++;
          errorKinds[error] = (errorKinds[error] ?? 0) + 1;
        }
      }
      if (stopping && inFlight === 0) drained?.();
    });
  };

  let next = nowMs();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (stopping) return;
    const now = nowMs();
    while (next <= now) {
      issue(next);
      next += interval;
    }
    timer = setTimeout(tick, Math.max(0, next - nowMs()));
  };
  tick();
  await sleep(options.warmupMs);
  measuring = true;
  const windowStart = nowMs();
  const usStart = monotonicUs();
  const cpuEnd = startCpuWindow(options.watched ?? []);
  await sleep(options.durationMs);
  const cpu = cpuEnd();
  const windowUs = [usStart, monotonicUs()] as const;
  const seconds = (nowMs() - windowStart) / 1000;
  stopping = true;
  if (timer) clearTimeout(timer);
  if (inFlight > 0) {
    await Promise.race([new Promise<void>((r) => (drained = r)), sleep(options.drainMs ?? 10_000)]);
  }
  measuring = false;
  return withSamples(latency, scheduled, {
    label: options.label,
    mode: "open",
    rate,
    seconds,
    completed,
    errors,
    errorKinds,
    throughput: completed / seconds,
    latency: latency.summary(),
    scheduledLatency: scheduled.summary(),
    cpu,
    windowUs,
  });
}

const SAMPLES = Symbol("samples");
type WithSamples = PointResult & { [SAMPLES]?: { latency: LatencyRecorder; scheduled: LatencyRecorder | undefined } };

/** Keeps the raw samples with a result (hidden from JSON) so rounds can be merged. */
export function withSamples(latency: LatencyRecorder, scheduled: LatencyRecorder | undefined, result: PointResult): PointResult {
  Object.defineProperty(result, SAMPLES, { value: { latency, scheduled }, enumerable: false });
  return result;
}

/** Merges the rounds of one point into one result: summed calls over summed time, pooled latencies. */
export function mergeRounds(parts: readonly PointResult[]): PointResult {
  const first = parts[0];
  if (first === undefined) throw new Error("no rounds to merge");
  if (parts.length === 1) return first;
  const latency = new LatencyRecorder();
  const scheduled = new LatencyRecorder();
  let seconds = 0;
  let completed = 0;
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  let generatorCpu = 0;
  const processCpu: Record<string, number> = {};
  for (const p of parts) {
    const samples = (p as WithSamples)[SAMPLES];
    if (samples) {
      latency.merge(samples.latency);
      if (samples.scheduled) scheduled.merge(samples.scheduled);
    }
    seconds += p.seconds;
    completed += p.completed;
    errors += p.errors;
    for (const [k, n] of Object.entries(p.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
    generatorCpu += p.cpu.generatorPct * p.seconds;
    for (const [k, v] of Object.entries(p.cpu.processes)) processCpu[k] = (processCpu[k] ?? 0) + v * p.seconds;
  }
  for (const k of Object.keys(processCpu)) processCpu[k] = (processCpu[k] ?? 0) / seconds;
  const last = parts[parts.length - 1] as PointResult;
  return withSamples(latency, first.mode === "open" ? scheduled : undefined, {
    ...first,
    seconds,
    completed,
    errors,
    errorKinds,
    throughput: completed / seconds,
    latency: latency.summary(),
    ...(first.mode === "open" ? { scheduledLatency: scheduled.summary() } : {}),
    cpu: { generatorPct: generatorCpu / seconds, processes: processCpu, ...(first.cpu.multiCore ? { multiCore: first.cpu.multiCore } : {}) },
    windowUs: [first.windowUs[0], last.windowUs[1]],
    rounds: parts.length,
  });
}

/** One variant of an interleaved comparison: runs one round of the given length. */
export interface Variant {
  readonly label: string;
  run(durationMs: number, warmupMs: number): Promise<PointResult>;
}

/**
 * Runs variants in alternation (A B A B …), `rounds` rounds of `durationMs / rounds`
 * each, and merges each variant's rounds. On a shared, noisy machine this spreads any
 * disturbance over all variants instead of hitting one of them.
 */
export async function interleave(
  variants: readonly Variant[],
  options: { rounds: number; durationMs: number; warmupMs: number; log?: (m: string) => void },
): Promise<PointResult[]> {
  const rounds = Math.max(1, Math.floor(options.rounds));
  const per = options.durationMs / rounds;
  const parts: PointResult[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[i] as Variant;
      options.log?.(`  round ${r + 1}/${rounds}: ${v.label}`);
      // A full warm-up before a variant's first round, a short settle before the others.
      (parts[i] as PointResult[]).push(await v.run(per, r === 0 ? options.warmupMs : Math.min(options.warmupMs, 250)));
    }
  }
  return parts.map((p) => mergeRounds(p));
}
