/**
 * Issue #2: durable value-entity increments through the proxy on SQLite (a file, WAL,
 * synchronous=FULL), the run's concurrency (64) over 1,000 keys. Target ≥ 10k/s.
 *
 * The headline runs the counter example (TypeScript SDK) when it is built — a real
 * increment, the same job as the Restate peer's counter; the raw-protocol TCK model
 * (an `update` per call) runs beside it, which separates SDK cost from proxy cost.
 * Afterwards every counter is read back: the stored total must equal the number of
 * acknowledged increments. A third stack runs the counter example on a Unix domain socket
 * (the SDK's `listen({ socket })`, the proxy's `--user-function-socket`) against TCP loopback.
 */
import { rmSync } from "node:fs";
import * as path from "node:path";
import { closedLoop, interleave, type PointResult, type Variant } from "../load/driver.js";
import { bottleneck, pointsTable, rate } from "../support/format.js";
import { analyseProfile, newestProfile, type ProfileSummary, profileMarkdown } from "../support/profile.js";
import { counterExampleBuilt, type IncrementWorkload, incrementWorkload, type SwitchboardStack, startSwitchboard, touchKeys } from "../support/stacks.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";

export const KEYS = 1000;
const TARGET = 10_000;

export const valueEntityScenario: Scenario = {
  id: "value-entity",
  title: "Value entity: durable increments on SQLite",
  issue: 2,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const kinds: { kind: "counter" | "model"; socket: boolean; baseline?: boolean }[] = counterExampleBuilt()
      ? [
          { kind: "counter", socket: false },
          { kind: "model", socket: false },
          { kind: "counter", socket: true },
        ]
      : [{ kind: "model", socket: false }];
    // The earlier build, when asked for: the headline stack once more, in the same rounds.
    if (ctx.baselineProxy !== undefined) kinds.push({ kind: (kinds[0] as { kind: "counter" | "model" }).kind, socket: false, baseline: true });
    const stacks: { kind: "counter" | "model"; socket: boolean; baseline: boolean; stack: SwitchboardStack; workload: IncrementWorkload }[] = [];
    const notes: string[] = [];
    if (!kinds.some((k) => k.kind === "counter"))
      notes.push("examples/counter is not built (no examples/counter/dist/main.js), so only the raw-protocol model ran.");
    let points: PointResult[] = [];
    let profileBody = "";
    let profile: ProfileSummary | undefined;
    const verifications: string[] = [];
    try {
      for (const { kind, socket, baseline = false } of kinds) {
        const name = `value-entity-${kind}${socket ? "-socket" : ""}${baseline ? "-baseline" : ""}`;
        const store = `sqlite:${path.join(ctx.tmpDir, `${name}.db`)}`;
        try {
          const stack = await startSwitchboard({
            kind,
            store,
            sessions: ctx.sessions,
            ...(socket ? { socket: path.join(ctx.socketDir, `${name}.sock`) } : {}),
            ...(baseline && ctx.baselineProxy !== undefined ? { root: ctx.baselineProxy } : {}),
          });
          stacks.push({ kind, socket, baseline, stack, workload: incrementWorkload(stack, kind, KEYS) });
        } catch (error) {
          notes.push(`The ${kind} user function${socket ? " on a Unix socket" : ""} could not be run: ${(error as Error).message.split("\n")[0]}`);
        }
      }
      if (stacks.length === 0) throw new Error(notes.join(" "));
      const variants: Variant[] = stacks.map(({ kind, socket, baseline, stack, workload }) => ({
        label:
          (kind === "counter" ? "counter example (SDK)" : "TCK model (raw protocol)") + (socket ? ", Unix socket" : "") + (baseline ? ", baseline build" : ""),
        run: (durationMs, warmupMs) =>
          closedLoop({ label: kind, concurrency: ctx.concurrency, durationMs, warmupMs, watched: stack.watched, call: workload.call }),
      }));
      ctx.log("value-entity: touching every key once (activation outside the measurement)");
      for (const { workload } of stacks) await touchKeys(workload.call, KEYS, ctx.concurrency);
      ctx.log(`value-entity: ${ctx.concurrency} concurrent over ${KEYS} keys: ${variants.map((v) => v.label).join(" vs ")}`);
      // Both stacks are up at once; only the one being measured gets load.
      points = await interleave(variants, { rounds: stacks.length > 1 ? ctx.rounds : 1, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log });
      points = points.map((p, i) => ({ ...p, label: variants[i]?.label ?? p.label }));
      for (const { kind, socket, baseline, workload } of stacks) {
        const v = await workload.verify();
        if (v) verifications.push(`${kind}${socket ? " (Unix socket)" : ""}${baseline ? " (baseline build)" : ""}: ${v.ok ? "OK" : "MISMATCH"} — ${v.detail}`);
      }
      if (ctx.profile) {
        const first = stacks[0];
        if (first) {
          ctx.log(`value-entity: profiling the proxy (${first.kind}, separate run)`);
          const dir = path.join(ctx.profileDir, "value-entity");
          rmSync(dir, { recursive: true, force: true });
          const store = `sqlite:${path.join(ctx.tmpDir, `value-entity-${first.kind}-profiled.db`)}`;
          const stack = await startSwitchboard({ kind: first.kind, store, sessions: ctx.sessions, cpuProfileDir: dir });
          const workload = incrementWorkload(stack, first.kind, KEYS);
          await touchKeys(workload.call, KEYS, ctx.concurrency);
          const profiled = await closedLoop({
            label: "profiled",
            concurrency: ctx.concurrency,
            durationMs: ctx.durationMs,
            warmupMs: ctx.warmupMs,
            call: workload.call,
          });
          await stack.stop();
          const file = newestProfile(dir);
          profile = file ? analyseProfile(file, profiled.windowUs) : undefined;
          profileBody = profile
            ? profileMarkdown(
                profile,
                `Proxy CPU profile, value-entity increments (${first.kind}) at ${ctx.concurrency} concurrent (${rate(profiled.throughput)} while profiling)`,
              )
            : "No CPU profile was written (the proxy did not exit cleanly).";
        }
      }
    } finally {
      for (const { stack } of stacks) await stack.stop();
    }
    const headline = points[0] as PointResult;
    const socketIndex = stacks.findIndex((s) => s.socket);
    const socketPoint = socketIndex >= 0 ? points[socketIndex] : undefined;
    const baselineIndex = stacks.findIndex((s) => s.baseline);
    const baselinePoint = baselineIndex >= 0 ? points[baselineIndex] : undefined;
    const proxyCpu = (p: PointResult) => Math.round(((p.cpu.processes.proxy ?? 0) / 100) * (1e6 / p.throughput));
    const headlineKind = stacks[0]?.kind ?? "model";
    const verified = verifications.every((v) => !v.includes("MISMATCH"));
    const checks: Check[] = [
      {
        name: `Value-entity durable increments, SQLite synchronous=FULL, ${ctx.concurrency} concurrent over ${KEYS.toLocaleString("en-US")} keys`,
        measured: `${rate(headline.throughput)} (p50 ${headline.latency.p50Ms.toFixed(2)} ms, p99 ${headline.latency.p99Ms.toFixed(2)} ms)`,
        comparison: points[1] ? `${points[1].label}: ${rate(points[1].throughput)}` : "–",
        ratio: `${(headline.throughput / TARGET).toFixed(2)}× target`,
        target: "≥ 10,000/s",
        status: headline.throughput >= TARGET && headline.errors === 0 && verified ? "met" : "not met",
        ...(verified ? {} : { note: "stored totals differ from acknowledged increments" }),
        ...(verified && headline.throughput < TARGET ? { note: bottleneck(headline, profile) } : {}),
      },
      ...(socketPoint !== undefined && headlineKind === "counter"
        ? [
            {
              name: `Value-entity durable increments (counter example), user function over a Unix socket vs TCP loopback (${ctx.concurrency} concurrent; proxy CPU per call)`,
              measured: `${rate(socketPoint.throughput)}, proxy ${proxyCpu(socketPoint)} µs per call (p99 ${socketPoint.latency.p99Ms.toFixed(2)} ms)`,
              comparison: `TCP: ${rate(headline.throughput)}, proxy ${proxyCpu(headline)} µs per call (p99 ${headline.latency.p99Ms.toFixed(2)} ms)`,
              ratio: `${(socketPoint.throughput / headline.throughput).toFixed(2)}× calls/s, ${(proxyCpu(socketPoint) / proxyCpu(headline)).toFixed(2)}× CPU per call`,
              target: "measure only",
              status: socketPoint.errors === 0 && verified ? ("met" as const) : ("not met" as const),
            },
          ]
        : []),
      ...(baselinePoint !== undefined
        ? [
            {
              name: `Value-entity durable increments, this build vs the baseline (${ctx.concurrency} concurrent; proxy CPU per call)`,
              measured: `${rate(headline.throughput)}, proxy ${proxyCpu(headline)} µs per call`,
              comparison: `before: ${rate(baselinePoint.throughput)}, proxy ${proxyCpu(baselinePoint)} µs per call`,
              ratio: `${(headline.throughput / baselinePoint.throughput).toFixed(2)}× calls/s, ${(proxyCpu(headline) / proxyCpu(baselinePoint)).toFixed(2)}× CPU per call`,
              target: "measure only",
              status: "met" as const,
            },
          ]
        : []),
    ];
    const body = [
      `Workload: ${stacks.map((s) => s.workload.description).join("; ")}. One SQLite file per stack (\`--store sqlite:<file>\`, WAL, synchronous=FULL: the proxy's default and only durable setting), fresh at the start. ` +
        `Headline: ${headlineKind === "counter" ? "the counter example" : "the TCK model"}. ${stacks.length > 1 ? `The ${stacks.length} stacks alternate in ${ctx.rounds} rounds${socketIndex >= 0 ? "; the Unix-socket stack is the counter example listening on a socket (`USER_FUNCTION_SOCKET`) and a proxy started with `--user-function-socket`" : ""}.` : ""}`,
      "",
      pointsTable(points),
      "",
      ...(verifications.length ? [`Read-back after the run: ${verifications.join("; ")}.`, ""] : []),
      ...notes.map((n) => `Note: ${n}`),
      ...(profileBody ? ["", profileBody] : []),
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points, data: { headline, headlineKind } };
  },
};
