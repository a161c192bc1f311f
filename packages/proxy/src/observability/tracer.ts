/**
 * The tracing port. The dispatcher decorator starts a span per call; runtimes, the
 * user-function client and the store wrapper add child steps. {@link NO_TRACER} (the
 * default) costs one property read per call; the OpenTelemetry implementation is in
 * `otel-tracer.ts`, loaded only when an exporter endpoint is configured.
 */
import type { MetadataEntry } from "@switchboard/protocol";
import type { CallProtocol } from "./metrics.js";

/** How a traced call came about: from a client, or as a forward or side effect of another call (linked). */
export type CallOrigin = "call" | "forward" | "side-effect";

/** An opaque reference to a span, to parent steps that run outside the call's async context. */
export interface SpanRef {
  readonly span: unknown;
}

/** The span of one call. */
export interface CallSpan {
  /** The call's metadata with `traceparent`/`tracestate` naming this span, for the user function. */
  readonly metadata: readonly MetadataEntry[];
  readonly ref: SpanRef;
  /** Runs `fn` with this span active, so steps started inside become its children. */
  run<T>(fn: () => T): T;
  /** Ends the span with a gRPC status code name (`OK`, `NOT_FOUND`, …) and, on error, the message. */
  end(code: string, message?: string): void;
}

/** Traces calls and their steps. */
export interface Tracer {
  /** Whether spans are recorded at all (false: skip building anything). */
  readonly enabled: boolean;
  /**
   * Starts a call's span. For client calls the parent comes from a W3C `traceparent`
   * (and `tracestate`) in `metadata`; forwards and side effects are children of the
   * active call and link to it.
   */
  startCall(service: string, method: string, protocol: CallProtocol, metadata: readonly MetadataEntry[], origin: CallOrigin): CallSpan;
  /** The active span (in the current async context), if any. */
  active(): SpanRef | undefined;
  /** Runs one step (a user-function exchange, a store commit) as a child span of `parent` (default: the active span). */
  step<T>(name: string, attributes: Readonly<Record<string, string | number>>, fn: () => Promise<T>, parent?: SpanRef): Promise<T>;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

const NO_REF: SpanRef = Object.freeze({ span: undefined });

/** A tracer that records nothing. */
export const NO_TRACER: Tracer = Object.freeze({
  enabled: false,
  startCall: (_service: string, _method: string, _protocol: CallProtocol, metadata: readonly MetadataEntry[]): CallSpan => ({
    metadata,
    ref: NO_REF,
    run: <T>(fn: () => T) => fn(),
    end() {},
  }),
  active: () => undefined,
  step: <T>(_name: string, _attributes: Readonly<Record<string, string | number>>, fn: () => Promise<T>) => fn(),
  shutdown: () => Promise.resolve(),
});

/** Whether the standard OpenTelemetry environment asks for trace export over OTLP. */
export function tracingRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").toLowerCase() === "true") return false;
  const exporter = (env.OTEL_TRACES_EXPORTER ?? "otlp").toLowerCase();
  if (exporter === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
}
