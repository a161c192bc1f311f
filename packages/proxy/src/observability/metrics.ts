/**
 * The metrics port. Core code (router, entities, stores) reports what happens through
 * this interface; the Prometheus implementation lives in `prometheus-metrics.ts`, and
 * {@link NO_METRICS} is the default when nothing is wired.
 */

/** The front-door protocol a call came in by (a bounded label). */
export type CallProtocol = "grpc" | "grpc-web" | "http" | "eventing" | "internal";

/** The instruments of one method on one protocol; get it once and keep it (labels are resolved once). */
export interface CallInstrument {
  /** One finished call: its gRPC status code name (e.g. `OK`, `NOT_FOUND`) and duration in seconds. */
  done(code: string, seconds: number): void;
}

/** What the proxy reports about itself. Every method must be cheap and must never throw. */
export interface Metrics {
  /** Instruments for calls to `service`/`method` (names from the descriptors, so the label set stays bounded). */
  call(service: string, method: string, protocol: CallProtocol): CallInstrument;
  /** An entity was activated (its user-function stream opened). */
  activated(kind: string, service: string): void;
  /** An entity was passivated or stopped. */
  passivated(kind: string, service: string): void;
  /** One store transaction committed `batchSize` writes in `seconds`. */
  storeCommit(seconds: number, batchSize: number): void;
  /** Whether the user function is connected. */
  userFunctionUp(up: boolean): void;
  /** Retention removed `count` messages from `topic`. */
  topicTrimmed(topic: string, count: number): void;
  /** A consumer group found `count` messages it had not consumed removed by retention, and skipped them. */
  topicSkipped(topic: string, group: string, count: number): void;
  /** The proxy ran a full GC to give its heap back after a passivation wave (`heap-release.ts`). */
  heapReleased(): void;
}

const NO_INSTRUMENT: CallInstrument = { done() {} };

/** Metrics that record nothing: the default of every component. */
export const NO_METRICS: Metrics = Object.freeze({
  call: () => NO_INSTRUMENT,
  activated() {},
  passivated() {},
  storeCommit() {},
  userFunctionUp() {},
  topicTrimmed() {},
  topicSkipped() {},
  heapReleased() {},
});

/** The label of calls to paths that name no known method (keeps label cardinality bounded). */
export const UNKNOWN_LABEL = "unknown";
