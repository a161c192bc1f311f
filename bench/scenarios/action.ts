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
 *
 * Also in the same alternating rounds: a second proxy that reaches the same user-function
 * process over a Unix domain socket (`--user-function-socket`) instead of TCP loopback,
 * a third that reaches it over Node's `node:http2` (`--user-function-http2 node`) instead of the
 * proxy's own HTTP/2 client, a fourth whose front port serves HTTP/2 with `node:http2`
 * (`--front-http2 node`) instead of the proxy's own server, and, with `--node <binary>`, the
 * same proxy build run by another Node (e.g. 24).
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
const SOCKET = "through the proxy (Unix socket)";
const NODE_HTTP2 = "through the proxy (node:http2 to the user function)";
const FRONT_NODE = "through the proxy (node:http2 on the front port)";
const otherNodeLabel = (version: string) => `through the proxy (Node ${version.replace(/^v/, "")})`;

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
    const ufSocket = path.join(ctx.socketDir, "action-uf.sock");
    const uf = await startUserFunction("model", ufPort, ufSocket);
    const store = `sqlite:${path.join(ctx.tmpDir, "action.db")}`;
    let proxy = await startProxy({ userFunctionPort: ufPort, store });
    // The same user-function process, reached over its Unix socket.
    const socketProxy = await startProxy({
      userFunctionPort: ufPort,
      userFunctionSocket: ufSocket,
      store: `sqlite:${path.join(ctx.tmpDir, "action-socket.db")}`,
    });
    const viaSocket = await GrpcClient.connect("127.0.0.1", socketProxy.port, ctx.sessions);
    // The same user-function process, reached through Node's HTTP/2 stack instead of the proxy's own.
    const nodeH2Proxy = await startProxy({
      userFunctionPort: ufPort,
      store: `sqlite:${path.join(ctx.tmpDir, "action-node-http2.db")}`,
      extraArgs: ["--user-function-http2", "node"],
    });
    const viaNodeH2 = await GrpcClient.connect("127.0.0.1", nodeH2Proxy.port, ctx.sessions);
    // The same user-function process behind a front port served by Node's HTTP/2 stack instead of the proxy's own.
    const frontNodeProxy = await startProxy({
      userFunctionPort: ufPort,
      store: `sqlite:${path.join(ctx.tmpDir, "action-front-node.db")}`,
      extraArgs: ["--front-http2", "node"],
    });
    const viaFrontNode = await GrpcClient.connect("127.0.0.1", frontNodeProxy.port, ctx.sessions);
    // The same build on another Node; the memory store, since better-sqlite3 is built for the Node running the benchmark (an Action never touches the store).
    const otherNode = ctx.otherNode === undefined ? undefined : await startProxy({ userFunctionPort: ufPort, store: "memory", node: ctx.otherNode.path });
    const viaOtherNode = otherNode === undefined ? undefined : await GrpcClient.connect("127.0.0.1", otherNode.port, ctx.sessions);
    const OTHER = ctx.otherNode === undefined ? "" : otherNodeLabel(ctx.otherNode.version);
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
      for (const [name, client] of [
        ["the Unix-socket proxy", viaSocket],
        ["the node:http2 proxy", viaNodeH2],
        ["the node:http2 front port's proxy", viaFrontNode],
        ["the other Node's proxy", viaOtherNode],
      ] as const) {
        if (client === undefined) continue;
        const reply = fromBinary(action.ResponseSchema, await client.unary(PATHS.actionProcessUnary, proxyBody));
        if (reply.message !== "hello") throw new Error(`unexpected reply from ${name}: ${JSON.stringify(reply.message)}`);
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
      const socketClosed = [closed(SOCKET, viaSocket, PATHS.actionProcessUnary, proxyBody, watchedFor(socketProxy))];
      const socketOpen = [open(SOCKET, viaSocket, PATHS.actionProcessUnary, proxyBody, watchedFor(socketProxy))];
      const nodeH2Closed = [closed(NODE_HTTP2, viaNodeH2, PATHS.actionProcessUnary, proxyBody, watchedFor(nodeH2Proxy))];
      const nodeH2Open = [open(NODE_HTTP2, viaNodeH2, PATHS.actionProcessUnary, proxyBody, watchedFor(nodeH2Proxy))];
      const frontNodeClosed = [closed(FRONT_NODE, viaFrontNode, PATHS.actionProcessUnary, proxyBody, watchedFor(frontNodeProxy))];
      const frontNodeOpen = [open(FRONT_NODE, viaFrontNode, PATHS.actionProcessUnary, proxyBody, watchedFor(frontNodeProxy))];
      const otherClosed = viaOtherNode && otherNode ? [closed(OTHER, viaOtherNode, PATHS.actionProcessUnary, proxyBody, watchedFor(otherNode))] : [];
      const otherOpen = viaOtherNode && otherNode ? [open(OTHER, viaOtherNode, PATHS.actionProcessUnary, proxyBody, watchedFor(otherNode))] : [];
      const timing = { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log };
      ctx.log(`action: closed loop, ${ctx.concurrency} concurrent, direct vs through the proxy`);
      points.push(
        ...(await interleave(
          [
            closed("direct", direct, PATHS.actionHandleUnary, directBody),
            closed("through the proxy", viaProxy, PATHS.actionProcessUnary, proxyBody),
            ...socketClosed,
            ...nodeH2Closed,
            ...frontNodeClosed,
            ...otherClosed,
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
            ...socketOpen,
            ...nodeH2Open,
            ...frontNodeOpen,
            ...otherOpen,
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
      viaSocket.close();
      viaNodeH2.close();
      viaFrontNode.close();
      viaOtherNode?.close();
      await socketProxy.stop();
      await nodeH2Proxy.stop();
      await frontNodeProxy.stop();
      await otherNode?.stop();
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
    const [closedSocket, openSocket] = [pick(SOCKET, 0), pick(SOCKET, 1)];
    const [closedNodeH2, openNodeH2] = [pick(NODE_HTTP2, 0), pick(NODE_HTTP2, 1)];
    const [closedFrontNode, openFrontNode] = [pick(FRONT_NODE, 0), pick(FRONT_NODE, 1)];
    const closedOther = viaOtherNode ? pick(OTHER, 0) : undefined;
    const openOther = viaOtherNode ? pick(OTHER, 1) : undefined;
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
      {
        name: `Action unary through the proxy, user function over a Unix socket vs TCP loopback (${ctx.concurrency} concurrent; proxy CPU per call; added p50 at ${OPEN_LOOP_RATE.toLocaleString("en-US")}/s)`,
        measured: `${rate(closedSocket.throughput)}, proxy ${cpuPerCall(closedSocket, "proxy")} µs per call, +${ms(openSocket.latency.p50Ms - openDirect.latency.p50Ms)}`,
        comparison: `TCP: ${rate(closedProxy.throughput)}, proxy ${cpuPerCall(closedProxy, "proxy")} µs per call, +${ms(addedP50)}`,
        ratio: `${ratio(closedSocket.throughput / closedProxy.throughput)} calls/s, ${ratio(cpuPerCall(closedSocket, "proxy") / cpuPerCall(closedProxy, "proxy"))} CPU per call`,
        target: "measure only",
        status: closedSocket.errors === 0 && openSocket.errors === 0 ? "met" : "not met",
      },
      {
        name: `Action unary through the proxy, the proxy's own HTTP/2 client to the user function vs node:http2 (${ctx.concurrency} concurrent; proxy CPU per call; added p50 at ${OPEN_LOOP_RATE.toLocaleString("en-US")}/s)`,
        measured: `${rate(closedProxy.throughput)}, proxy ${cpuPerCall(closedProxy, "proxy")} µs per call, +${ms(addedP50)}`,
        comparison: `node:http2: ${rate(closedNodeH2.throughput)}, proxy ${cpuPerCall(closedNodeH2, "proxy")} µs per call, +${ms(openNodeH2.latency.p50Ms - openDirect.latency.p50Ms)}`,
        ratio: `${ratio(closedProxy.throughput / closedNodeH2.throughput)} calls/s, ${ratio(cpuPerCall(closedProxy, "proxy") / cpuPerCall(closedNodeH2, "proxy"))} CPU per call`,
        target: "measure only",
        status: closedNodeH2.errors === 0 && openNodeH2.errors === 0 ? "met" : "not met",
      },
      {
        name: `Action unary through the proxy, the front port on the proxy's own HTTP/2 server vs node:http2 (${ctx.concurrency} concurrent; proxy CPU per call; added p50 at ${OPEN_LOOP_RATE.toLocaleString("en-US")}/s)`,
        measured: `${rate(closedProxy.throughput)}, proxy ${cpuPerCall(closedProxy, "proxy")} µs per call, +${ms(addedP50)}`,
        comparison: `node:http2: ${rate(closedFrontNode.throughput)}, proxy ${cpuPerCall(closedFrontNode, "proxy")} µs per call, +${ms(openFrontNode.latency.p50Ms - openDirect.latency.p50Ms)}`,
        ratio: `${ratio(closedProxy.throughput / closedFrontNode.throughput)} calls/s, ${ratio(cpuPerCall(closedProxy, "proxy") / cpuPerCall(closedFrontNode, "proxy"))} CPU per call`,
        target: "measure only",
        status: closedFrontNode.errors === 0 && openFrontNode.errors === 0 ? "met" : "not met",
      },
      ...(closedOther && openOther && ctx.otherNode
        ? [
            {
              name: `Action unary through the proxy on Node ${ctx.otherNode.version.replace(/^v/, "")} vs ${process.version} (same build; ${ctx.concurrency} concurrent; proxy CPU per call; added p50 at ${OPEN_LOOP_RATE.toLocaleString("en-US")}/s)`,
              measured: `${rate(closedOther.throughput)}, proxy ${cpuPerCall(closedOther, "proxy")} µs per call, +${ms(openOther.latency.p50Ms - openDirect.latency.p50Ms)}`,
              comparison: `${process.version}: ${rate(closedProxy.throughput)}, proxy ${cpuPerCall(closedProxy, "proxy")} µs per call, +${ms(addedP50)}`,
              ratio: `${ratio(closedOther.throughput / closedProxy.throughput)} calls/s, ${ratio(cpuPerCall(closedOther, "proxy") / cpuPerCall(closedProxy, "proxy"))} CPU per call`,
              target: "measure only",
              status: closedOther.errors === 0 && openOther.errors === 0 ? ("met" as const) : ("not met" as const),
            },
          ]
        : []),
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
        "Request: one group with one `reply` step (22-byte message). " +
        `"${SOCKET}" is a second proxy of the same build that reaches the same user-function process over its Unix domain socket (\`--user-function-socket\`) instead of TCP loopback; ` +
        `"${NODE_HTTP2}" one that reaches it with \`--user-function-http2 node\`; "${FRONT_NODE}" one whose front port serves HTTP/2 with \`--front-http2 node\`` +
        (ctx.otherNode === undefined
          ? "."
          : `; "${OTHER}" is the same build run by Node ${ctx.otherNode.version.replace(/^v/, "")} (memory store: better-sqlite3 is built for ${process.version}; an Action never touches the store).`),
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
