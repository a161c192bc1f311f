/**
 * OpenTelemetry traces through real processes: the proxy exports over OTLP/HTTP to a
 * local receiver, configured only by the standard OTEL_* environment variables.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { type ExampleProcess, startExample } from "./support/example-process.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./support/otlp-receiver.js";

const COUNTER = "com.example.counter.CounterService";

function otelEnv(receiver: OtlpReceiver): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_SERVICE_NAME: "switchboard-under-test" };
}

function clientTrace() {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
}

async function spansOf(receiver: OtlpReceiver, traceId: string, predicate: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  let found: ReceivedSpan[] = [];
  await eventually(
    () => {
      found = receiver.spans.filter((s) => s.traceId === traceId);
      return predicate(found);
    },
    10_000,
    `spans of trace ${traceId}`,
  );
  return found;
}

const one = (spans: ReceivedSpan[], name: string): ReceivedSpan => {
  const matching = spans.filter((s) => s.name === name);
  assert.equal(matching.length, 1, `one span named ${name} in ${JSON.stringify(spans.map((s) => s.name))}`);
  return matching[0]!;
};

describe("traces of the counter example", () => {
  let receiver: OtlpReceiver;
  let counter: ExampleProcess;
  let proxy: ProxyProcess;
  before(async () => {
    receiver = await startOtlpReceiver();
    counter = await startExample("counter");
    proxy = await startProxy({ userFunctionPort: counter.port, env: otelEnv(receiver) });
  });
  after(async () => {
    await proxy?.stop();
    await counter?.stop();
    await receiver?.close();
  });

  it("continues the client's trace: call span, user-function exchange, store commit", async () => {
    const trace = clientTrace();
    const response = await fetch(`http://127.0.0.1:${proxy.port}/counters/t1/increase`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: trace.header },
      body: JSON.stringify({ value: 2 }),
    });
    assert.equal(response.status, 200);
    const spans = await spansOf(receiver, trace.traceId, (s) => s.some((x) => x.name === "store commit"));
    const call = one(spans, `${COUNTER}/Increase`);
    assert.equal(call.parentSpanId, trace.spanId, "the call span is a child of the client's span");
    assert.equal(call.kind, 2, "SERVER");
    assert.equal(call.attributes["switchboard.protocol"], "http");
    assert.equal(call.attributes["rpc.grpc.status_code_name"], "OK");
    assert.equal(call.serviceName, "switchboard-under-test");
    const exchange = one(spans, `user-function ${COUNTER}/Increase`);
    assert.equal(exchange.parentSpanId, call.spanId);
    assert.equal(exchange.attributes["switchboard.entity.id"], "t1");
    const commit = one(spans, "store commit");
    assert.equal(commit.parentSpanId, exchange.spanId);
    assert.equal(commit.attributes["switchboard.store.write"], "update");
    assert.ok(
      receiver.contentTypes.every((t) => t.startsWith("application/json")),
      JSON.stringify(receiver.contentTypes),
    );
  });

  it("traces side effects as spans linked to the call that caused them", async () => {
    const trace = clientTrace();
    const response = await fetch(`http://127.0.0.1:${proxy.port}/counters/increase-many`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: trace.header },
      body: JSON.stringify({ counterIds: ["s1", "s2"], value: 1 }),
    });
    assert.equal(response.status, 200);
    const effectName = `side-effect ${COUNTER}/Increase`;
    const spans = await spansOf(
      receiver,
      trace.traceId,
      (s) => s.filter((x) => x.name === effectName).length === 2 && s.filter((x) => x.name === "store commit").length === 2,
    );
    const call = one(spans, "com.example.counter.CounterFanout/IncreaseMany");
    assert.equal(call.parentSpanId, trace.spanId);
    assert.ok(
      spans.some((s) => s.name === "user-function com.example.counter.CounterFanout/IncreaseMany" && s.parentSpanId === call.spanId),
      JSON.stringify(spans.map((s) => s.name)),
    );
    for (const effect of spans.filter((s) => s.name === effectName)) {
      assert.equal(effect.parentSpanId, call.spanId);
      assert.deepEqual(
        effect.links.map((l) => [l.traceId, l.spanId, l.attributes["switchboard.link"]]),
        [[trace.traceId, call.spanId, "side-effect"]],
      );
      const exchange = spans.find((s) => s.name === `user-function ${COUNTER}/Increase` && s.parentSpanId === effect.spanId);
      assert.ok(exchange, "the side effect's entity command is its child");
      assert.ok(spans.some((s) => s.name === "store commit" && s.parentSpanId === exchange.spanId));
    }
  });

  it("starts a new trace for a call without traceparent and marks failures", async () => {
    const before = receiver.spans.length;
    const response = await fetch(`http://127.0.0.1:${proxy.port}/${COUNTER}/GetCurrentCounter`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ counterId: "" }),
    });
    assert.notEqual(response.status, 200);
    await eventually(() => receiver.spans.slice(before).some((s) => s.name === `${COUNTER}/GetCurrentCounter`), 10_000, "span of the failed call");
    const span = receiver.spans.slice(before).find((s) => s.name === `${COUNTER}/GetCurrentCounter`)!;
    assert.equal(span.parentSpanId, "");
    assert.equal(span.status.code, 2, "ERROR");
    assert.notEqual(span.attributes["rpc.grpc.status_code_name"], "OK");
  });
});

describe("trace context for the user function", () => {
  let receiver: OtlpReceiver;
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  before(async () => {
    receiver = await startOtlpReceiver();
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port, env: otelEnv(receiver) });
  });
  after(async () => {
    await proxy?.stop();
    await uf?.close();
    await receiver?.close();
  });

  it("passes the call span's traceparent and the client's tracestate to the user function as metadata", async () => {
    const trace = clientTrace();
    const response = await fetch(`http://127.0.0.1:${proxy.port}/${TRANSCODING_SERVICE}/Headers`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: trace.header, tracestate: "vendor=abc" },
      body: "{}",
    });
    assert.equal(response.status, 200);
    const spans = await spansOf(receiver, trace.traceId, (s) => s.some((x) => x.name === `${TRANSCODING_SERVICE}/Headers`));
    const call = one(spans, `${TRANSCODING_SERVICE}/Headers`);
    const command = uf.commands.at(-1)!.command;
    const metadata = Object.fromEntries((command.metadata?.entries ?? []).map((e) => [e.key, e.value.value]));
    assert.equal(metadata.traceparent, `00-${trace.traceId}-${call.spanId}-01`);
    assert.equal(metadata.tracestate, "vendor=abc");
    assert.equal((command.metadata?.entries ?? []).filter((e) => e.key === "traceparent").length, 1);
  });
});

describe("tracing off", () => {
  it("exports nothing unless an OTLP endpoint is set", async () => {
    const receiver = await startOtlpReceiver();
    const counter = await startExample("counter");
    const proxy = await startProxy({ userFunctionPort: counter.port, env: { OTEL_SERVICE_NAME: "x", OTEL_BSP_SCHEDULE_DELAY: "50" } });
    try {
      const response = await fetch(`http://127.0.0.1:${proxy.port}/counters/off/increase`, {
        method: "POST",
        headers: { "content-type": "application/json", traceparent: clientTrace().header },
        body: JSON.stringify({ value: 1 }),
      });
      assert.equal(response.status, 200);
      assert.doesNotMatch(proxy.stderr(), /tracing on/);
      const withTracing = await startProxy({ userFunctionPort: counter.port, env: otelEnv(receiver) });
      await withTracing.stop();
      assert.match(withTracing.stderr(), /tracing on: exporting spans over OTLP\/HTTP/);
    } finally {
      await proxy.stop();
      await counter.stop();
      await receiver.close();
    }
  });
});
