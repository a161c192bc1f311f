/**
 * Issue #5: HTTP/JSON unary calls through the proxy vs gRPC unary calls through the
 * proxy, same method (`ActionTckModel/ProcessUnary`, google.api.http
 * `POST /tck/model/action/unary`), same proxy and user function, in alternating rounds.
 * JSON goes over HTTP/1.1 with undici (one keep-alive connection per caller), gRPC over
 * HTTP/2. Target: JSON ≥ 0.7 × gRPC. A third variant sends the same JSON calls to a second
 * proxy of the same build in front of the same user-function process whose front port
 * serves HTTP/1.1 with Node's http server alone (`--front-http1 node`): the lever of the
 * proxy's own HTTP/1.1, measured in the same rounds.
 *
 * When the proxy does not serve the JSON route yet (no 200 with the expected body),
 * the scenario reports "not run" with what the proxy answered.
 */
import * as path from "node:path";
import { closedLoop, interleave, type PointResult } from "../load/driver.js";
import { frame } from "../load/grpc.js";
import { HttpClient } from "../load/http.js";
import { bottleneck, ms, pointsTable, rate, ratioWithCpu } from "../support/format.js";
import { actionRequest, PATHS } from "../support/messages.js";
import { startProxy } from "../support/processes.js";
import { type SwitchboardStack, startSwitchboard } from "../support/stacks.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";

const ROUTE = "/tck/model/action/unary";
const JSON_BODY = JSON.stringify({ groups: [{ steps: [{ reply: { message: "hello" } }] }] });
const NAME = "JSON unary calls/s vs gRPC unary calls/s through the proxy (same method)";
const NODE_H1 = "JSON through a proxy with Node's HTTP/1.1 server (`--front-http1 node`)";

export const jsonScenario: Scenario = {
  id: "json",
  title: "HTTP/JSON vs gRPC through the proxy",
  issue: 5,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const stack: SwitchboardStack = await startSwitchboard({ kind: "model", store: `sqlite:${path.join(ctx.tmpDir, "json.db")}`, sessions: ctx.sessions });
    const http = new HttpClient(`http://127.0.0.1:${stack.proxy.port}`, ctx.concurrency);
    const headers = { "content-type": "application/json" };
    let points: PointResult[];
    const nodeH1Proxy = await startProxy({
      userFunctionPort: stack.userFunctionPort,
      store: `sqlite:${path.join(ctx.tmpDir, "json-node-http1.db")}`,
      extraArgs: ["--front-http1", "node"],
    });
    const nodeH1 = new HttpClient(`http://127.0.0.1:${nodeH1Proxy.port}`, ctx.concurrency);
    const jsonCall =
      (client: HttpClient) =>
      (_w: number, _s: number, done: (error?: string) => void): void => {
        client.call({ path: ROUTE, headers, body: JSON_BODY }).then(
          (r) => done(r.ok ? undefined : `HTTP ${r.status}`),
          (e: Error) => done(`request failed: ${e.message}`),
        );
      };
    try {
      const probe = await http.call({ path: ROUTE, headers, body: JSON_BODY }).catch((e: Error) => ({ ok: false, status: 0, body: Buffer.from(e.message) }));
      const text = probe.body.toString("utf8");
      if (!probe.ok || !/"message"\s*:\s*"hello"/.test(text)) {
        const reason = `the proxy does not serve POST ${ROUTE} as JSON yet (HTTP ${probe.status}: ${text.slice(0, 120)})`;
        return {
          id: this.id,
          title: this.title,
          checks: [{ name: NAME, measured: "–", comparison: "–", ratio: "–", target: "≥ 0.70×", status: "not run", note: reason }],
          body: `Not run: ${reason}.`,
          points: [],
          data: {},
        };
      }
      const grpcBody = frame(actionRequest());
      ctx.log(`json: ${ctx.concurrency} concurrent, JSON over HTTP/1.1 vs gRPC`);
      points = await interleave(
        [
          {
            label: "JSON",
            run: (durationMs, warmupMs) =>
              closedLoop({
                label: `JSON (POST ${ROUTE}, HTTP/1.1)`,
                concurrency: ctx.concurrency,
                durationMs,
                warmupMs,
                watched: stack.watched,
                call: jsonCall(http),
              }),
          },
          {
            label: "gRPC",
            run: (durationMs, warmupMs) =>
              closedLoop({
                label: `gRPC (${PATHS.actionProcessUnary})`,
                concurrency: ctx.concurrency,
                durationMs,
                warmupMs,
                watched: stack.watched,
                call: (_w, _s, done) =>
                  stack.client.call(PATHS.actionProcessUnary, grpcBody, (status, message) =>
                    done(status === 0 ? undefined : `grpc-status ${status}: ${message}`),
                  ),
              }),
          },
          {
            label: "JSON, Node's HTTP/1.1",
            run: (durationMs, warmupMs) =>
              closedLoop({
                label: `JSON (POST ${ROUTE}, HTTP/1.1), Node's HTTP/1.1 server on the front port`,
                concurrency: ctx.concurrency,
                durationMs,
                warmupMs,
                watched: [
                  { label: "proxy", pid: nodeH1Proxy.pid },
                  { label: "user function", pid: stack.userFunction.pid },
                ],
                call: jsonCall(nodeH1),
              }),
          },
        ],
        { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log },
      );
    } finally {
      await http.close().catch(() => {});
      await nodeH1.close().catch(() => {});
      await nodeH1Proxy.stop();
      await stack.stop();
    }
    const [jsonPoint, grpcPoint, nodeH1Point] = points as [PointResult, PointResult, PointResult];
    const proxyUs = (p: PointResult) => ((p.cpu.processes.proxy ?? Number.NaN) / 100) * (1e6 / p.throughput);
    const r = jsonPoint.throughput / grpcPoint.throughput;
    const checks: Check[] = [
      {
        name: NAME,
        measured: `JSON ${rate(jsonPoint.throughput)} (p50 ${ms(jsonPoint.latency.p50Ms)}, p99 ${ms(jsonPoint.latency.p99Ms)})`,
        comparison: `gRPC ${rate(grpcPoint.throughput)} (p50 ${ms(grpcPoint.latency.p50Ms)}, p99 ${ms(grpcPoint.latency.p99Ms)})`,
        ratio: ratioWithCpu(jsonPoint, grpcPoint),
        target: "≥ 0.70×",
        status: r >= 0.7 && jsonPoint.errors === 0 ? "met" : "not met",
        ...(r >= 0.7 ? {} : { note: bottleneck(jsonPoint, undefined) }),
      },
      {
        name: `${NODE_H1}: this proxy's JSON calls vs that one's (proxy CPU per call)`,
        measured: `${rate(jsonPoint.throughput)}, proxy ${Math.round(proxyUs(jsonPoint))} µs per call`,
        comparison: `Node's HTTP/1.1: ${rate(nodeH1Point.throughput)}, proxy ${Math.round(proxyUs(nodeH1Point))} µs per call`,
        ratio: `${(jsonPoint.throughput / nodeH1Point.throughput).toFixed(2)}× calls/s, ${(proxyUs(jsonPoint) / proxyUs(nodeH1Point)).toFixed(2)}× CPU per call`,
        target: "measure only",
        status: "met",
      },
    ];
    const body = [
      `Same proxy and user function (raw-protocol TCK model); JSON body \`${JSON_BODY}\` over HTTP/1.1 (undici, ${ctx.concurrency} keep-alive connections), gRPC over ${ctx.sessions} HTTP/2 sessions; ${ctx.concurrency} concurrent callers each; alternating in ${ctx.rounds} rounds. "${NODE_H1}" is a second proxy of the same build in front of the same user-function process, its front port's HTTP/1.1 served by Node's \`http\` server alone.`,
      "",
      pointsTable(points),
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points, data: { ratio: r } };
  },
};
