/**
 * Issue #4: CRDT benchmarks, through the proxy on SQLite (a file, WAL, synchronous=FULL —
 * the proxy's default store; every CRDT change is durable before its caller or any
 * watcher sees it). The user function is the Cloudstate TCK CRDT model written with our
 * SDK (test/conformance/supports/typescript-sdk, `CrdtTckModel`), in its own process;
 * the entity id's prefix picks the CRDT type (`PNCounter-…`).
 *
 * - PNCounter increments (`Process` with one `pncounter {change: 1}` update) with the
 *   run's concurrency (64) on one hot key and over 1,000 keys, alternating in rounds on
 *   the same stack. Every counter is read back afterwards: the stored total must equal
 *   the acknowledged increments.
 * - Streamed fan-out: 1,000 `ProcessStreamed` calls stay open on one PNCounter (spread
 *   over several HTTP/2 sessions of their own); then, one at a time, an update
 *   (`Process`, change 1) on a separate session. For each update, every watcher's
 *   message carrying the new value is timed from the arrival of the update's reply (and
 *   from the moment it was sent). Percentiles pool all watchers of all updates.
 */
import * as path from "node:path";
import { processCpuSeconds } from "../load/cpu.js";
import { closedLoop, interleave, type PointResult, type Variant } from "../load/driver.js";
import { GrpcClient } from "../load/grpc.js";
import { LatencyRecorder, type LatencySummary, nowMs } from "../load/latency.js";
import { ms, pointsTable, rate, ratio } from "../support/format.js";
import { crdtWatchRequest, PATHS, pnCounterRequest, pnCounterValue } from "../support/messages.js";
import { forEachLimited, type SwitchboardStack, startSwitchboard, touchKeys } from "../support/stacks.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";

const KEYS = 1000;
const HOT_KEY = "PNCounter-hot";
const WATCHERS = 1000;
/** Updates timed in the fan-out, after {@link FANOUT_WARMUP} untimed ones. */
const UPDATES = 20;
const FANOUT_WARMUP = 3;
/** HTTP/2 sessions the watchers spread over (the proxy allows 10,000 streams per session). */
const WATCH_SESSIONS = 4;
const WAIT_MS = 15_000;

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** A closed-loop PNCounter increment workload: `ids` in turn, acknowledged increments counted per id. */
function incrementCaller(stack: SwitchboardStack, ids: readonly string[], acknowledged: Map<string, number>) {
  const bodies = ids.map((id) => pnCounterRequest(id, 1n));
  return (_worker: number, seq: number, done: (error?: string) => void) => {
    const i = seq % ids.length;
    stack.client.call(PATHS.crdtProcess, bodies[i] as Buffer, (status, message) => {
      if (status === 0) {
        const id = ids[i] as string;
        acknowledged.set(id, (acknowledged.get(id) ?? 0) + 1);
        done();
      } else done(`grpc-status ${status}: ${message}`);
    });
  };
}

async function readCounter(client: GrpcClient, id: string): Promise<bigint> {
  const value = pnCounterValue(await client.unary(PATHS.crdtProcess, pnCounterRequest(id)));
  if (value === undefined) throw new Error(`${id}: the reply holds no PNCounter state`);
  return value;
}

/** What the fan-out measured. */
interface FanOut {
  readonly openMs: number;
  readonly fromReply: LatencySummary;
  readonly fromSend: LatencySummary;
  readonly updateCall: LatencySummary;
  /** Per update: the last watcher's message, from the update's reply. */
  readonly lastWatcher: LatencySummary;
  readonly beforeReply: number;
  readonly missing: number;
  readonly unexpected: number;
  readonly streamErrors: number;
  readonly cpuPerUpdateMs: Readonly<Record<string, number>>;
}

async function fanOut(stack: SwitchboardStack, log: (m: string) => void): Promise<FanOut> {
  const id = "PNCounter-fanout";
  const watchClient = await GrpcClient.connect("127.0.0.1", stack.proxy.port, WATCH_SESSIONS);
  const updateClient = await GrpcClient.connect("127.0.0.1", stack.proxy.port, 1);
  const cancels: (() => void)[] = [];
  let stopping = false;
  let streamErrors = 0;
  let unexpected = 0;
  try {
    let expected = await readCounter(updateClient, id);
    const arrivals = new Float64Array(WATCHERS).fill(Number.NaN);
    let received = 0;
    let allIn: (() => void) | undefined;
    const onMessage = (i: number, message: Buffer) => {
      const t = nowMs();
      const value = pnCounterValue(message);
      if (value !== expected || !Number.isNaN(arrivals[i] as number)) {
        unexpected++;
        return;
      }
      arrivals[i] = t;
      if (++received === WATCHERS) allIn?.();
    };
    const waitAll = () =>
      received === WATCHERS ? Promise.resolve(true) : Promise.race([new Promise<boolean>((r) => (allIn = () => r(true))), sleep(WAIT_MS).then(() => false)]);

    log(`crdt: opening ${WATCHERS} ProcessStreamed watchers on ${id} over ${WATCH_SESSIONS} HTTP/2 sessions`);
    const body = crdtWatchRequest(id);
    const opened = nowMs();
    for (let i = 0; i < WATCHERS; i++) {
      cancels.push(
        watchClient.stream(
          PATHS.crdtProcessStreamed,
          body,
          (m) => onMessage(i, m),
          (status) => {
            if (!stopping || status !== 1) streamErrors++;
          },
          i % WATCH_SESSIONS,
        ),
      );
    }
    if (!(await waitAll())) throw new Error(`only ${received} of ${WATCHERS} watchers got the initial state within ${WAIT_MS} ms`);
    const openMs = nowMs() - opened;

    const fromReply = new LatencyRecorder();
    const fromSend = new LatencyRecorder();
    const updateCall = new LatencyRecorder();
    const lastWatcher = new LatencyRecorder();
    let beforeReply = 0;
    let missing = 0;
    const update = pnCounterRequest(id, 1n);
    const cpu0 = { proxy: processCpuSeconds(stack.proxy.pid), uf: processCpuSeconds(stack.userFunction.pid) };
    log(`crdt: ${FANOUT_WARMUP} + ${UPDATES} updates, each waiting for all ${WATCHERS} watchers`);
    for (let u = 0; u < FANOUT_WARMUP + UPDATES; u++) {
      if (u === FANOUT_WARMUP) {
        cpu0.proxy = processCpuSeconds(stack.proxy.pid);
        cpu0.uf = processCpuSeconds(stack.userFunction.pid);
      }
      arrivals.fill(Number.NaN);
      received = 0;
      expected += 1n;
      const sent = nowMs();
      await updateClient.unary(PATHS.crdtProcess, update);
      const replied = nowMs();
      const complete = await waitAll();
      if (u < FANOUT_WARMUP) continue;
      updateCall.record(replied - sent);
      let last = Number.NEGATIVE_INFINITY;
      for (const t of arrivals) {
        if (Number.isNaN(t)) {
          missing++;
          continue;
        }
        fromReply.record(t - replied);
        fromSend.record(t - sent);
        if (t < replied) beforeReply++;
        last = Math.max(last, t - replied);
      }
      if (complete) lastWatcher.record(last);
      await sleep(20);
    }
    const cpuPerUpdateMs: Record<string, number> = {};
    const proxyCpu = processCpuSeconds(stack.proxy.pid);
    const ufCpu = processCpuSeconds(stack.userFunction.pid);
    if (proxyCpu !== undefined && cpu0.proxy !== undefined) cpuPerUpdateMs.proxy = ((proxyCpu - cpu0.proxy) * 1000) / UPDATES;
    if (ufCpu !== undefined && cpu0.uf !== undefined) cpuPerUpdateMs["user function"] = ((ufCpu - cpu0.uf) * 1000) / UPDATES;
    return {
      openMs,
      fromReply: fromReply.summary(),
      fromSend: fromSend.summary(),
      updateCall: updateCall.summary(),
      lastWatcher: lastWatcher.summary(),
      beforeReply,
      missing,
      unexpected,
      streamErrors,
      cpuPerUpdateMs,
    };
  } finally {
    stopping = true;
    for (const cancel of cancels) cancel();
    await sleep(200);
    watchClient.close();
    updateClient.close();
  }
}

const latencyLine = (s: LatencySummary) => `p50 ${ms(s.p50Ms)}, p99 ${ms(s.p99Ms)}, max ${ms(s.maxMs)}`;

export const crdtScenario: Scenario = {
  id: "crdt",
  title: "CRDTs: PNCounter increments and streamed fan-out",
  issue: 4,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const store = `sqlite:${path.join(ctx.tmpDir, "crdt.db")}`;
    const stack = await startSwitchboard({ kind: "tck-sdk", store, sessions: ctx.sessions });
    let points: PointResult[] = [];
    let verification = "";
    let verified = false;
    let fan: FanOut | undefined;
    let fanError = "";
    try {
      const acknowledged = new Map<string, number>();
      const spreadIds = Array.from({ length: KEYS }, (_, i) => `PNCounter-${i}`);
      const hotCall = incrementCaller(stack, [HOT_KEY], acknowledged);
      const spreadCall = incrementCaller(stack, spreadIds, acknowledged);
      ctx.log(`crdt: touching the hot key and ${KEYS} keys once (activation outside the measurement)`);
      await touchKeys(hotCall, 1, 1);
      await touchKeys(spreadCall, KEYS, ctx.concurrency);
      const variants: Variant[] = [
        {
          label: "one hot key",
          run: (durationMs, warmupMs) =>
            closedLoop({ label: "hot", concurrency: ctx.concurrency, durationMs, warmupMs, watched: stack.watched, call: hotCall }),
        },
        {
          label: `${KEYS.toLocaleString("en-US")} keys`,
          run: (durationMs, warmupMs) =>
            closedLoop({ label: "spread", concurrency: ctx.concurrency, durationMs, warmupMs, watched: stack.watched, call: spreadCall }),
        },
      ];
      ctx.log(`crdt: PNCounter increments, ${ctx.concurrency} concurrent: ${variants.map((v) => v.label).join(" vs ")}`);
      points = await interleave(variants, { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log });
      points = points.map((p, i) => ({ ...p, label: variants[i]?.label ?? p.label }));
      // Read back every counter: stored values must equal the acknowledged increments.
      let stored = 0n;
      let expected = 0n;
      let wrong = 0;
      await forEachLimited(KEYS + 1, 32, async (i) => {
        const id = i === KEYS ? HOT_KEY : (spreadIds[i] as string);
        const value = await readCounter(stack.client, id);
        const acked = BigInt(acknowledged.get(id) ?? 0);
        stored += value;
        expected += acked;
        if (value !== acked) wrong++;
      });
      verified = wrong === 0;
      verification = `${verified ? "OK" : "MISMATCH"} — ${expected.toLocaleString("en-US")} increments acknowledged, ${stored.toLocaleString("en-US")} stored over ${KEYS + 1} counters${wrong ? ` (${wrong} counters differ)` : ""}`;
      try {
        fan = await fanOut(stack, ctx.log);
      } catch (error) {
        fanError = (error as Error).message.split("\n")[0] ?? "failed";
      }
    } finally {
      await stack.stop();
    }

    const hot = points[0] as PointResult;
    const spread = points[1] as PointResult;
    const valueEntity = ctx.results.get("value-entity")?.data.headline as PointResult | undefined;
    const pointLine = (p: PointResult) => `${rate(p.throughput)} (p50 ${ms(p.latency.p50Ms)}, p99 ${ms(p.latency.p99Ms)})`;
    const incrementStatus = (p: PointResult): Check["status"] => (p.errors === 0 && verified ? "met" : "not met");
    const incrementNote = verified ? {} : { note: `stored totals differ from acknowledged increments: ${verification}` };
    const fanComplete = fan !== undefined && fan.missing === 0 && fan.unexpected === 0 && fan.streamErrors === 0;
    const checks: Check[] = [
      {
        name: `PNCounter increments, SQLite synchronous=FULL, ${ctx.concurrency} concurrent on one hot key`,
        measured: pointLine(hot),
        comparison: `${KEYS.toLocaleString("en-US")} keys: ${pointLine(spread)}`,
        ratio: ratio(hot.throughput / spread.throughput),
        target: "measure only",
        status: incrementStatus(hot),
        ...incrementNote,
      },
      {
        name: `PNCounter increments, SQLite synchronous=FULL, ${ctx.concurrency} concurrent over ${KEYS.toLocaleString("en-US")} keys`,
        measured: pointLine(spread),
        comparison: valueEntity ? `value-entity increments, same settings: ${rate(valueEntity.throughput)}` : "–",
        ratio: valueEntity ? ratio(spread.throughput / valueEntity.throughput) : "–",
        target: "measure only",
        status: incrementStatus(spread),
        ...incrementNote,
      },
      fan === undefined
        ? {
            name: `Streamed-message fan-out latency to ${WATCHERS.toLocaleString("en-US")} watchers`,
            measured: "–",
            comparison: "–",
            ratio: "–",
            target: "measure only",
            status: "not run",
            note: `the fan-out failed: ${fanError}`,
          }
        : {
            name: `Streamed-message fan-out latency to ${WATCHERS.toLocaleString("en-US")} watchers (from the update's reply)`,
            measured: latencyLine(fan.fromReply),
            comparison: `update call ${latencyLine(fan.updateCall)}`,
            ratio: "–",
            target: "measure only",
            status: fanComplete ? "met" : "not met",
            ...(fanComplete ? {} : { note: `${fan.missing} watcher messages missing, ${fan.unexpected} unexpected, ${fan.streamErrors} streams failed` }),
          },
    ];

    const fanBody =
      fan === undefined
        ? [`Fan-out not run: ${fanError}.`]
        : [
            `**Fan-out.** ${WATCHERS.toLocaleString("en-US")} \`CrdtTckModel/ProcessStreamed\` calls open on one PNCounter (\`PNCounter-fanout\`), spread over ${WATCH_SESSIONS} HTTP/2 sessions of their own ` +
              `(all ${WATCHERS.toLocaleString("en-US")} had their initial state ${ms(fan.openMs)} after the first was opened). ` +
              `Then ${UPDATES} updates (after ${FANOUT_WARMUP} untimed), one at a time from a separate session: \`Process\` with \`pncounter {change: 1}\`; each waits for every watcher's message carrying the new value. ` +
              `The proxy relays a streamed message only once the change is durable, as it does the reply. Latencies pool every watcher of every update (${fan.fromReply.count.toLocaleString("en-US")} messages).`,
            "",
            "| measured | p50 | p90 | p99 | max |",
            "|---|---|---|---|---|",
            `| watcher message, from the update's reply | ${ms(fan.fromReply.p50Ms)} | ${ms(fan.fromReply.p90Ms)} | ${ms(fan.fromReply.p99Ms)} | ${ms(fan.fromReply.maxMs)} |`,
            `| watcher message, from the update's send | ${ms(fan.fromSend.p50Ms)} | ${ms(fan.fromSend.p90Ms)} | ${ms(fan.fromSend.p99Ms)} | ${ms(fan.fromSend.maxMs)} |`,
            `| last of the ${WATCHERS.toLocaleString("en-US")} watchers per update, from the reply | ${ms(fan.lastWatcher.p50Ms)} | ${ms(fan.lastWatcher.p90Ms)} | ${ms(fan.lastWatcher.p99Ms)} | ${ms(fan.lastWatcher.maxMs)} |`,
            `| the update call itself | ${ms(fan.updateCall.p50Ms)} | ${ms(fan.updateCall.p90Ms)} | ${ms(fan.updateCall.p99Ms)} | ${ms(fan.updateCall.maxMs)} |`,
            "",
            `${fan.beforeReply.toLocaleString("en-US")} of the messages arrived before the update's reply (negative latency from the reply). ` +
              `Missing: ${fan.missing}, unexpected: ${fan.unexpected}, failed streams: ${fan.streamErrors}. ` +
              `CPU per update (${WATCHERS.toLocaleString("en-US")} messages): ${Object.entries(fan.cpuPerUpdateMs)
                .map(([k, v]) => `${k} ${ms(v)}`)
                .join(", ")}.`,
          ];
    const body = [
      `User function: the Cloudstate TCK CRDT model written with our SDK (\`test/conformance/supports/typescript-sdk\`, \`CrdtTckModel\`), in its own process. ` +
        `One SQLite file (\`--store sqlite:<file>\`, WAL, synchronous=FULL: the proxy's default), fresh at the start; every change is durable before the caller gets its reply.`,
      "",
      `**Increments.** \`CrdtTckModel/Process\` with one \`pncounter {change: 1}\` update, ${ctx.concurrency} concurrent callers, on one key (\`${HOT_KEY}\`) or over ${KEYS.toLocaleString("en-US")} keys (\`PNCounter-0\` … in turn; each touched once before). The two points alternate in ${ctx.rounds} rounds (${(ctx.durationMs / 1000).toFixed(0)} s each in all).`,
      "",
      pointsTable(points),
      "",
      `Read-back after the run: ${verification}.`,
      "",
      ...fanBody,
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points, data: { hot, spread, fanOut: fan } };
  },
};
