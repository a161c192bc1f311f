/**
 * Issue #2, the peer: Restate 1.7 doing the same job — a keyed counter virtual object
 * (Restate TypeScript SDK), 64 concurrent callers over 1,000 keys, through its HTTP
 * ingress with our load generator (undici, one connection per caller), durable in
 * Restate's own store with its default settings. Switchboard runs the value-entity
 * headline stack (the counter example on SQLite synchronous=FULL when built) and the
 * two alternate in rounds. Target: Switchboard ≥ 10× Restate's throughput, at a lower
 * p99. Both sides are read back afterwards (stored total = acknowledged increments).
 */
import * as path from "node:path";
import type { Watched } from "../load/cpu.js";
import { type Caller, closedLoop, interleave, type PointResult } from "../load/driver.js";
import { HttpClient } from "../load/http.js";
import { ms, pointsTable, rate, ratioWithCpu } from "../support/format.js";
import { type RestatePeer, RestateUnavailable, startRestate } from "../support/restate.js";
import { counterExampleBuilt, forEachLimited, incrementWorkload, touchKeys, type SwitchboardStack, startSwitchboard } from "../support/stacks.js";
import type { BenchContext, Check, Scenario, ScenarioResult } from "./types.js";
import { KEYS } from "./value-entity.js";

function cpuPerCall(p: PointResult): string {
  const all: [string, number][] = [...Object.entries(p.cpu.processes), ["generator", p.cpu.generatorPct]];
  return all
    .filter(([, c]) => Number.isFinite(c) && c > 0.5)
    .map(([label, c]) => `${label} ${Math.round(((c / 100) * 1e6) / p.throughput)} µs`)
    .join(", ");
}

/** POSTs of `body` to the path of key `seq mod KEYS`, counting the acknowledged ones. */
function jsonIncrements(client: HttpClient, pathOf: (key: number) => string, body: string): { call: Caller; readonly acked: number } {
  const paths = Array.from({ length: KEYS }, (_, i) => pathOf(i));
  const headers = { "content-type": "application/json" };
  const out = {
    acked: 0,
    call: ((_w, seq, done) => {
      client.call({ path: paths[seq % KEYS] as string, headers, body }).then(
        (r) => {
          if (r.ok) {
            out.acked++;
            done();
          } else done(`HTTP ${r.status}: ${r.body.toString("utf8").slice(0, 80)}`);
        },
        (e: Error) => done(`request failed: ${e.message}`),
      );
    }) as Caller,
  };
  return out;
}

function notRun(scenario: Scenario, reason: string): ScenarioResult {
  return {
    id: scenario.id,
    title: scenario.title,
    checks: [
      {
        name: "Durable increments vs Restate 1.7 (same generator, concurrency and keys)",
        measured: "–",
        comparison: "–",
        ratio: "–",
        target: "≥ 10× Restate's throughput at a lower p99",
        status: "not run",
        note: reason,
      },
    ],
    body: `Not run: ${reason}.`,
    points: [],
    data: {},
  };
}

export const restateScenario: Scenario = {
  id: "restate",
  title: "Peer: Restate 1.7 keyed counter vs Switchboard value entity",
  issue: 2,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    let peer: RestatePeer;
    try {
      peer = await startRestate(path.join(ctx.tmpDir, "restate-data"), ctx.log);
    } catch (error) {
      if (error instanceof RestateUnavailable) return notRun(this, `Restate could not be run here; failed step: ${error.message}`);
      throw error;
    }
    const kind = counterExampleBuilt() ? "counter" : "model";
    let stack: SwitchboardStack | undefined;
    const http = new HttpClient(`http://127.0.0.1:${peer.ingressPort}`, ctx.concurrency);
    let points: PointResult[];
    let sbJson: HttpClient | undefined;
    const verifications: string[] = [];
    try {
      stack = await startSwitchboard({ kind, store: `sqlite:${path.join(ctx.tmpDir, "restate-vs-switchboard.db")}`, sessions: ctx.sessions });
      const sb = stack;
      const workload = incrementWorkload(sb, kind, KEYS);
      const headers = { "content-type": "application/json" };
      const restate = jsonIncrements(http, (i) => `/Counter/c-${i}/add`, "1");
      const restateCall = restate.call;
      // Switchboard once more over HTTP/JSON with the client Restate gets (undici, a connection
      // per caller), on keys of its own: the same protocol and client cost on both sides.
      const sbHttp = kind === "counter" ? new HttpClient(`http://127.0.0.1:${sb.proxy.port}`, ctx.concurrency) : undefined;
      sbJson = sbHttp;
      const json = sbHttp === undefined ? undefined : jsonIncrements(sbHttp, (i) => `/counters/j-${i}/increase`, '{"value":1}');
      const jsonCall = json?.call;
      const restateWatched: Watched[] = [
        { label: "restate-server", pid: peer.server.pid, multiCore: true },
        { label: "restate service", pid: peer.service.pid },
      ];
      ctx.log("restate: touching every key once on both systems (activation outside the measurement)");
      await touchKeys(workload.call, KEYS, ctx.concurrency);
      await touchKeys(restateCall, KEYS, ctx.concurrency);
      if (jsonCall !== undefined) await touchKeys(jsonCall, KEYS, ctx.concurrency);
      ctx.log(`restate: Switchboard (${kind}) vs Restate, ${ctx.concurrency} concurrent over ${KEYS} keys`);
      points = await interleave(
        [
          {
            label: "Switchboard",
            run: (durationMs, warmupMs) =>
              closedLoop({
                label: `Switchboard (${kind === "counter" ? "counter example, SDK" : "TCK model"}), SQLite FULL`,
                concurrency: ctx.concurrency,
                durationMs,
                warmupMs,
                watched: sb.watched,
                call: workload.call,
              }),
          },
          ...(jsonCall === undefined
            ? []
            : [
                {
                  label: "Switchboard over HTTP/JSON",
                  run: (durationMs: number, warmupMs: number) =>
                    closedLoop({
                      label: "Switchboard (counter example, SDK) over HTTP/JSON, SQLite FULL",
                      concurrency: ctx.concurrency,
                      durationMs,
                      warmupMs,
                      watched: sb.watched,
                      call: jsonCall,
                    }),
                },
              ]),
          {
            label: "Restate",
            run: (durationMs, warmupMs) =>
              closedLoop({
                label: `Restate ${peer.version.replace(/^restate-server\s*/, "")} (counter object, TS SDK)`,
                concurrency: ctx.concurrency,
                durationMs,
                warmupMs,
                watched: restateWatched,
                call: restateCall,
              }),
          },
        ],
        { rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, log: ctx.log },
      );
      const v = await workload.verify();
      if (v) verifications.push(`Switchboard: ${v.ok ? "OK" : "MISMATCH"} — ${v.detail}`);
      if (sbHttp !== undefined) {
        let total = 0;
        await forEachLimited(KEYS, 32, async (i) => {
          const r = await sbHttp.call({ path: `/counters/j-${i}`, method: "GET" });
          if (r.ok) total += Number((JSON.parse(r.body.toString("utf8")) as { value?: string }).value ?? 0);
        });
        verifications.push(
          `Switchboard over HTTP/JSON: ${total === json?.acked ? "OK" : "MISMATCH"} — ${(json?.acked ?? 0).toLocaleString("en-US")} increments acknowledged, ${total.toLocaleString("en-US")} stored over ${KEYS} counters`,
        );
      }
      let stored = 0;
      await forEachLimited(KEYS, 32, async (i) => {
        const r = await http.call({ path: `/Counter/c-${i}/get`, headers, body: "" });
        if (r.ok) stored += Number(r.body.toString("utf8"));
      });
      verifications.push(
        `Restate: ${stored === restate.acked ? "OK" : "MISMATCH"} — ${restate.acked.toLocaleString("en-US")} increments acknowledged, ${stored.toLocaleString("en-US")} stored over ${KEYS} counters`,
      );
    } finally {
      await http.close().catch(() => {});
      await sbJson?.close().catch(() => {});
      await stack?.stop();
      await peer.stop();
    }
    const sbPoint = points[0] as PointResult;
    const rsPoint = points[points.length - 1] as PointResult;
    const jsonPoint = points.length > 2 ? (points[1] as PointResult) : undefined;
    const r = sbPoint.throughput / rsPoint.throughput;
    const lowerP99 = sbPoint.latency.p99Ms < rsPoint.latency.p99Ms;
    const checks: Check[] = [
      {
        name: "Durable increments vs Restate 1.7 (same generator, concurrency and keys)",
        measured: `Switchboard ${rate(sbPoint.throughput)} (p99 ${ms(sbPoint.latency.p99Ms)})`,
        comparison: `Restate ${rate(rsPoint.throughput)} (p99 ${ms(rsPoint.latency.p99Ms)})`,
        ratio: ratioWithCpu(sbPoint, rsPoint),
        target: "≥ 10× at a lower p99",
        status: r >= 10 && lowerP99 && sbPoint.errors === 0 ? "met" : "not met",
        ...(r >= 10 && !lowerP99 ? { note: "p99 not lower" } : {}),
        ...(r < 10 ? { note: `CPU per call: Switchboard ${cpuPerCall(sbPoint)}; Restate ${cpuPerCall(rsPoint)}` } : {}),
      },
      ...(jsonPoint === undefined
        ? []
        : [
            {
              name: "Durable increments vs Restate 1.7, both over HTTP/1.1 JSON with the same client (undici)",
              measured: `Switchboard ${rate(jsonPoint.throughput)} (p99 ${ms(jsonPoint.latency.p99Ms)})`,
              comparison: `Restate ${rate(rsPoint.throughput)} (p99 ${ms(rsPoint.latency.p99Ms)})`,
              ratio: ratioWithCpu(jsonPoint, rsPoint),
              target: "measure only",
              status: "met" as const,
              note: `CPU per call: Switchboard ${cpuPerCall(jsonPoint)}; Restate ${cpuPerCall(rsPoint)}`,
            },
          ]),
    ];
    const body = [
      `Restate: \`${peer.version}\` (npm @restatedev/restate-server, its single binary) with default settings (durable: RocksDB WAL fsync on, 24 partitions), data under bench/.tmp on the repository's disk; ` +
        "the counter is a virtual object (`Counter/<key>/add`, state read with `ctx.get` and written with `ctx.set`) on @restatedev/restate-sdk 1.17.2 (Node 20 needs its `Promise.withResolvers` polyfill, in bench/peers/restate/counter.mjs), served over HTTP/2 to restate-server. " +
        `Load: HTTP/1.1 POST with body \`1\` over undici, ${ctx.concurrency} keep-alive connections. ` +
        `Switchboard: ${kind === "counter" ? "the counter example (SDK) `Increase`" : "the TCK model value entity"} over gRPC on SQLite synchronous=FULL` +
        (jsonPoint !== undefined
          ? ', and the same example over HTTP/JSON with Restate\'s client (undici, a keep-alive connection per caller; POST `/counters/j-<n>/increase` with `{"value":1}`, its own 1,000 keys), so that protocol and client cost the same on both sides'
          : "") +
        `. Everything on 127.0.0.1; the variants alternate in ${ctx.rounds} rounds (all stay up; only the one measured gets load).`,
      "",
      pointsTable(points),
      "",
      `Read-back after the run: ${verifications.join("; ")}.`,
    ].join("\n");
    return { id: this.id, title: this.title, checks, body, points, data: { ratio: r } };
  },
};
