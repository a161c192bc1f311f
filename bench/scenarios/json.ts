/**
 * Issue #5: HTTP/JSON unary calls through the proxy vs gRPC unary calls through the
 * proxy, same method (`ActionTckModel/ProcessUnary`, google.api.http
 * `POST /tck/model/action/unary`), same proxy and user function, in alternating rounds.
 * JSON goes over HTTP/1.1 with undici (one keep-alive connection per caller), gRPC over
 * node:http2. Target: JSON ≥ 0.7 × gRPC.
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
import { type SwitchboardStack, startSwitchboard } from "../support/stacks.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";

const ROUTE = "/tck/model/action/unary";
const JSON_BODY = JSON.stringify({ groups: [{ steps: [{ reply: { message: "hello" } }] }] });
const NAME = "JSON unary calls/s vs gRPC unary calls/s through the proxy (same method)";

export const jsonScenario: Scenario = {
  id: "json",
  title: "HTTP/JSON vs gRPC through the proxy",
  issue: 5,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const stack: SwitchboardStack = await startSwitchboard({ kind: "model", store: `sqlite:${path.join(ctx.tmpDir, "json.db")}`, sessions: ctx.sessions });
    const http = new HttpClient(`http://127.0.0.1:${stack.proxy.port}`, ctx.concurrency);
    const headers = { "content-type": "application/json" };
    let points: PointResult[];
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
                call: (_w, _s, done) =>
                  http.call({ path: ROUTE, headers, body: JSON_BODY }).then(
                    (r) => done(r.ok ? undefined : `HTTP ${r.status}`),
                    (e: Error) => done(`request failed: ${e.message}`),
                  ),
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
        ],
        { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log },
      );
    } finally {
      await http.close().catch(() => {});
      await stack.stop();
    }
    const [jsonPoint, grpcPoint] = points as [PointResult, PointResult];
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
    ];
    const body = [
      `Same proxy and user function (raw-protocol TCK model); JSON body \`${JSON_BODY}\` over HTTP/1.1 (undici, ${ctx.concurrency} keep-alive connections), gRPC over ${ctx.sessions} HTTP/2 sessions; ${ctx.concurrency} concurrent callers each; alternating in ${ctx.rounds} rounds.`,
      "",
      pointsTable(points),
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points, data: { ratio: r } };
  },
};
