/**
 * Issue #2: Action unary through the proxy vs calling the user function directly.
 *
 * Direct: the load generator calls the user function's `ActionProtocol/handleUnary`
 * with the very ActionCommand the proxy would send. Through the proxy: it calls
 * `ActionTckModel/ProcessUnary` on the proxy's front port. Same user-function process,
 * same generator, same concurrency, one after the other.
 *
 * Points: closed loop at the run's concurrency (throughput, p50/p99), and an open loop
 * at 1,000 calls/s (added p50 latency = proxy p50 − direct p50).
 */
import { rmSync } from "node:fs";
import * as path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ActionResponseSchema } from "@switchboard/protocol";
import { action } from "@switchboard/protocol/tck";
import { type Caller, closedLoop, interleave, openLoop, type PointResult, type Variant } from "../load/driver.js";
import { frame, GrpcClient } from "../load/grpc.js";
import { bottleneck, cpuBoundCapacity, ms, pointsTable, rate, ratio, ratioWithCpu } from "../support/format.js";
import { actionCommandFor, actionRequest, PATHS } from "../support/messages.js";
import { freePort, startProxy, startUserFunction } from "../support/processes.js";
import { analyseProfile, newestProfile, type ProfileSummary, profileMarkdown } from "../support/profile.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";

const OPEN_LOOP_RATE = 1000;
const BEFORE = "through the proxy (baseline build)";

/** CPU µs per call of one watched process over a point. */
function cpuPerCall(point: PointResult, process: string): number {
  return Math.round(((point.cpu.processes[process] ?? 0) / 100) * (1e6 / point.throughput));
}

function grpcCaller(client: GrpcClient, pathName: string, body: Buffer): Caller {
  return (_worker, _seq, done) =>
    client.call(pathName, body, (status, message) => {
      done(status === 0 ? undefined : `grpc-status ${status}: ${message}`);
    });
}

export const actionScenario: Scenario = {
  id: "action",
  title: "Action unary: through the proxy vs direct to the user function",
  issue: 2,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const ufPort = await freePort();
    const uf = await startUserFunction("model", ufPort);
    const store = `sqlite:${path.join(ctx.tmpDir, "action.db")}`;
    let proxy = await startProxy({ userFunctionPort: ufPort, store });
    const direct = await GrpcClient.connect("127.0.0.1", ufPort, ctx.sessions);
    let viaProxy = await GrpcClient.connect("127.0.0.1", proxy.port, ctx.sessions);
    // The earlier build, when asked for: a third variant in the same rounds.
    const before =
      ctx.baselineProxy === undefined
        ? undefined
        : await startProxy({ userFunctionPort: ufPort, store: `sqlite:${path.join(ctx.tmpDir, "action-before.db")}`, root: ctx.baselineProxy });
    const viaBefore = before === undefined ? undefined : await GrpcClient.connect("127.0.0.1", before.port, ctx.sessions);
    const request = actionRequest();
    const proxyBody = frame(request);
    const directBody = frame(actionCommandFor(request));
    const points: PointResult[] = [];
    let profileBody = "";
    let profile: ProfileSummary | undefined;
    try {
      // Both paths must answer the same thing before we time them.
      const viaReply = fromBinary(action.ResponseSchema, await viaProxy.unary(PATHS.actionProcessUnary, proxyBody));
      const directReply = fromBinary(ActionResponseSchema, await direct.unary(PATHS.actionHandleUnary, directBody));
      const directPayload =
        directReply.response.case === "reply" && directReply.response.value.payload
          ? anyUnpack(directReply.response.value.payload, action.ResponseSchema)
          : undefined;
      if (viaReply.message !== "hello" || directPayload?.message !== "hello") {
        throw new Error(`unexpected replies: proxy ${JSON.stringify(viaReply.message)}, direct ${JSON.stringify(directPayload?.message)}`);
      }
      if (viaBefore !== undefined) {
        const beforeReply = fromBinary(action.ResponseSchema, await viaBefore.unary(PATHS.actionProcessUnary, proxyBody));
        if (beforeReply.message !== "hello") throw new Error(`unexpected reply from the baseline proxy: ${JSON.stringify(beforeReply.message)}`);
      }
      // The proxy column is whichever proxy the point drives (the other one is idle).
      const watchedFor = (p: { pid: number }) => [
        { label: "proxy", pid: p.pid },
        { label: "user function", pid: uf.pid },
      ];
      const watched = watchedFor(proxy);
      const closed = (label: string, client: GrpcClient, pathName: string, body: Buffer, w = watched): Variant => ({
        label,
        run: (durationMs, warmupMs) =>
          closedLoop({ label, concurrency: ctx.concurrency, durationMs, warmupMs, watched: w, call: grpcCaller(client, pathName, body) }),
      });
      const open = (label: string, client: GrpcClient, pathName: string, body: Buffer, w = watched): Variant => ({
        label,
        run: (durationMs, warmupMs) => openLoop({ label, rate: OPEN_LOOP_RATE, durationMs, warmupMs, watched: w, call: grpcCaller(client, pathName, body) }),
      });
      const beforeClosed = viaBefore && before ? [closed(BEFORE, viaBefore, PATHS.actionProcessUnary, proxyBody, watchedFor(before))] : [];
      const beforeOpen = viaBefore && before ? [open(BEFORE, viaBefore, PATHS.actionProcessUnary, proxyBody, watchedFor(before))] : [];
      const timing = { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log };
      ctx.log(`action: closed loop, ${ctx.concurrency} concurrent, direct vs through the proxy`);
      points.push(
        ...(await interleave(
          [
            closed("direct", direct, PATHS.actionHandleUnary, directBody),
            closed("through the proxy", viaProxy, PATHS.actionProcessUnary, proxyBody),
            ...beforeClosed,
          ],
          timing,
        )),
      );
      ctx.log(`action: open loop, ${OPEN_LOOP_RATE}/s, direct vs through the proxy`);
      points.push(
        ...(await interleave(
          [
            open("direct", direct, PATHS.actionHandleUnary, directBody),
            open("through the proxy", viaProxy, PATHS.actionProcessUnary, proxyBody),
            ...beforeOpen,
          ],
          timing,
        )),
      );

      if (ctx.profile) {
        ctx.log("action: profiling the proxy (closed loop, separate run)");
        viaProxy.close();
        await proxy.stop();
        const dir = path.join(ctx.profileDir, "action");
        rmSync(dir, { recursive: true, force: true });
        proxy = await startProxy({ userFunctionPort: ufPort, store, cpuProfileDir: dir });
        viaProxy = await GrpcClient.connect("127.0.0.1", proxy.port, ctx.sessions);
        const profiled = await closedLoop({
          warmupMs: ctx.warmupMs,
          durationMs: ctx.durationMs,
          label: "profiled",
          concurrency: ctx.concurrency,
          call: grpcCaller(viaProxy, PATHS.actionProcessUnary, proxyBody),
        });
        viaProxy.close();
        await proxy.stop();
        const file = newestProfile(dir);
        profile = file ? analyseProfile(file, profiled.windowUs) : undefined;
        profileBody = profile
          ? profileMarkdown(profile, `Proxy CPU profile, Action unary at ${ctx.concurrency} concurrent (${rate(profiled.throughput)} while profiling)`)
          : "No CPU profile was written (the proxy did not exit cleanly).";
      }
    } finally {
      direct.close();
      viaProxy.close();
      viaBefore?.close();
      await before?.stop();
      await proxy.stop();
      await uf.stop();
    }

    const pick = (label: string, n: number) => points.filter((p) => p.label === label)[n] as PointResult;
    const [closedDirect, closedProxy, openDirect, openProxy] = [
      pick("direct", 0),
      pick("through the proxy", 0),
      pick("direct", 1),
      pick("through the proxy", 1),
    ];
    const closedBefore = viaBefore ? pick(BEFORE, 0) : undefined;
    const openBefore = viaBefore ? pick(BEFORE, 1) : undefined;
    const throughputRatio = closedProxy.throughput / closedDirect.throughput;
    const addedP50 = openProxy.latency.p50Ms - openDirect.latency.p50Ms;
    const checks: Check[] = [
      {
        name: `Action unary throughput, proxy vs direct (${ctx.concurrency} concurrent)`,
        measured: `${rate(closedProxy.throughput)} (p50 ${ms(closedProxy.latency.p50Ms)}, p99 ${ms(closedProxy.latency.p99Ms)})`,
        comparison: `direct ${rate(closedDirect.throughput)} (p50 ${ms(closedDirect.latency.p50Ms)}, p99 ${ms(closedDirect.latency.p99Ms)})`,
        ratio: ratioWithCpu(closedProxy, closedDirect),
        target: "≥ 0.60×",
        status: throughputRatio >= 0.6 && closedProxy.errors === 0 ? "met" : "not met",
        ...(throughputRatio >= 0.6 ? {} : { note: bottleneck(closedProxy, profile) }),
      },
      {
        name: `Added p50 latency at ${OPEN_LOOP_RATE.toLocaleString("en-US")} calls/s (open loop)`,
        measured: `${ms(addedP50)} (proxy p50 ${ms(openProxy.latency.p50Ms)})`,
        comparison: `direct p50 ${ms(openDirect.latency.p50Ms)}`,
        ratio: ratio(openProxy.latency.p50Ms / openDirect.latency.p50Ms),
        target: "≤ 0.3 ms",
        status: addedP50 <= 0.3 && openProxy.errors === 0 ? "met" : "not met",
        ...(addedP50 <= 0.3
          ? {}
          : {
              note: `at ${OPEN_LOOP_RATE}/s: ${bottleneck(openProxy, undefined)}; direct: user function ${Math.round(((openDirect.cpu.processes["user function"] ?? 0) / 100) * (1e6 / openDirect.throughput))} µs`,
            }),
      },
      ...(closedBefore && openBefore
        ? [
            {
              name: `Action unary through the proxy, this build vs the baseline (${ctx.concurrency} concurrent; CPU per call; added p50 at ${OPEN_LOOP_RATE.toLocaleString("en-US")}/s)`,
              measured: `${rate(closedProxy.throughput)}, proxy ${cpuPerCall(closedProxy, "proxy")} µs per call, +${ms(addedP50)}`,
              comparison: `before: ${rate(closedBefore.throughput)}, proxy ${cpuPerCall(closedBefore, "proxy")} µs per call, +${ms(openBefore.latency.p50Ms - openDirect.latency.p50Ms)}`,
              ratio: `${ratio(closedProxy.throughput / closedBefore.throughput)} calls/s, ${ratio(cpuPerCall(closedProxy, "proxy") / cpuPerCall(closedBefore, "proxy"))} CPU per call`,
              target: "measure only",
              status: "met" as const,
            },
          ]
        : []),
    ];
    const body = [
      "Same user-function process (the raw-protocol TCK model, `bench/user-function.ts`), same load generator and HTTP/2 sessions. " +
        "Direct = `cloudstate.action.ActionProtocol/handleUnary` with the ActionCommand the proxy would send; proxy = `ActionTckModel/ProcessUnary` on the front port. " +
        "Request: one group with one `reply` step (22-byte message).",
      "",
      pointsTable(points),
      "",
      `CPU-bound capacities (from the CPU per call, as if nothing else ran here): direct ${rate(cpuBoundCapacity(closedDirect) ?? Number.NaN)}, through the proxy ${rate(cpuBoundCapacity(closedProxy) ?? Number.NaN)}.`,
      "",
      `Open loop: latency measured from the moment each call was sent; from its scheduled time the p50s are direct ${ms(openDirect.scheduledLatency?.p50Ms ?? Number.NaN)}, proxy ${ms(openProxy.scheduledLatency?.p50Ms ?? Number.NaN)}.`,
      ...(profileBody ? ["", profileBody] : []),
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points, data: { closedDirect, closedProxy, openDirect, openProxy } };
  },
};
