import type { MethodModel } from "../descriptors/service-model.js";
import { Code, codeName, SwitchboardError } from "../errors/index.js";
import type { Dispatcher, Invocation } from "../router/types.js";
import type { CallInstrument, CallProtocol, Metrics } from "./metrics.js";
import type { CallSpan, Tracer } from "./tracer.js";

function statusOf(error: unknown): { code: string; message: string } {
  const code = error instanceof SwitchboardError ? error.code : Code.Unknown;
  return { code: codeName(code), message: (error as Error)?.message ?? String(error) };
}

/**
 * Wraps the dispatcher one front-door protocol uses, so that every call is counted and
 * timed (`switchboard_calls_total`, `switchboard_call_duration_seconds`, the console's
 * statistics) and traced: a span per call, continuing the client's W3C trace context,
 * with the span's own trace context passed to the user function as metadata. Labels
 * come from the method models (the descriptors), so their number is bounded.
 */
export function instrumentDispatcher(inner: Dispatcher, protocol: CallProtocol, metrics: Metrics, tracer: Tracer): Dispatcher {
  const instruments = new WeakMap<MethodModel, CallInstrument>();
  const instrumentOf = (method: MethodModel, via: CallProtocol): CallInstrument => {
    let instrument = instruments.get(method);
    if (instrument === undefined) {
      instrument = metrics.call(method.service.name, method.name, via);
      instruments.set(method, instrument);
    }
    return instrument;
  };
  const begin = (invocation: Invocation): { started: number; instrument: CallInstrument; span: CallSpan | undefined; invocation: Invocation } => {
    const instrument = instrumentOf(invocation.method, protocol);
    if (!tracer.enabled) return { started: performance.now(), instrument, span: undefined, invocation };
    const span = tracer.startCall(invocation.method.service.name, invocation.method.name, protocol, invocation.metadata, "call");
    return { started: performance.now(), instrument, span, invocation: { ...invocation, metadata: span.metadata } };
  };
  const finish = (call: ReturnType<typeof begin>, error?: unknown) => {
    const seconds = (performance.now() - call.started) / 1000;
    if (error === undefined) {
      call.instrument.done("OK", seconds);
      call.span?.end("OK");
    } else {
      const status = statusOf(error);
      call.instrument.done(status.code, seconds);
      call.span?.end(status.code, status.message);
    }
  };

  return {
    async unary(invocation, request) {
      const call = begin(invocation);
      try {
        const reply = await (call.span === undefined ? inner.unary(call.invocation, request) : call.span.run(() => inner.unary(call.invocation, request)));
        finish(call);
        return reply;
      } catch (error) {
        finish(call, error);
        throw error;
      }
    },
    async *stream(invocation, requests) {
      const call = begin(invocation);
      let failed = false;
      try {
        const replies = call.span === undefined ? inner.stream(call.invocation, requests) : call.span.run(() => inner.stream(call.invocation, requests));
        yield* replies;
      } catch (error) {
        failed = true;
        finish(call, error);
        throw error;
      } finally {
        // A stream the client cancelled ends here too (return() from the consumer).
        if (!failed) finish(call, invocation.signal.aborted ? new SwitchboardError("cancelled", Code.Canceled) : undefined);
      }
    },
    async deliver(method, payload, metadata, signal) {
      const instrument = instrumentOf(method, protocol);
      const started = performance.now();
      const span = tracer.enabled ? tracer.startCall(method.service.name, method.name, protocol, metadata, "call") : undefined;
      try {
        const replies = await (span === undefined
          ? inner.deliver(method, payload, metadata, signal)
          : span.run(() => inner.deliver(method, payload, span.metadata, signal)));
        instrument.done("OK", (performance.now() - started) / 1000);
        span?.end("OK");
        return replies;
      } catch (error) {
        const status = statusOf(error);
        instrument.done(status.code, (performance.now() - started) / 1000);
        span?.end(status.code, status.message);
        throw error;
      }
    },
  };
}
