import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type CallStats, createCallStats, type MethodStats } from "./call-stats.js";
import type { CallInstrument, CallProtocol, Metrics } from "./metrics.js";

/** {@link Metrics} kept in a Prometheus registry, plus what the admin port reads from it. */
export interface PrometheusMetrics extends Metrics {
  /** The Prometheus text exposition of every metric, including the process/Node defaults. */
  exposition(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** Per-method calls, errors and latency over the last minute (for the console). */
  stats(): MethodStats[];
  /** Whether the user function is connected right now. */
  userFunctionConnected(): boolean;
}

const CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const COMMIT_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * Creates the Prometheus metrics of one proxy, in a registry of its own (two proxies in
 * one process don't share counters). Label values come from the descriptors (service and
 * method names), a fixed protocol set and gRPC code names, so cardinality is bounded.
 */
export function createPrometheusMetrics(options: { readonly defaultMetrics?: boolean; readonly stats?: CallStats } = {}): PrometheusMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const stats = options.stats ?? createCallStats();

  const calls = new Counter({
    name: "switchboard_calls_total",
    help: "Calls handled, by service, method, front-door protocol and gRPC status code.",
    labelNames: ["service", "method", "protocol", "code"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "switchboard_call_duration_seconds",
    help: "Time from a call's arrival to its last answer, by service, method and protocol.",
    labelNames: ["service", "method", "protocol"] as const,
    buckets: CALL_BUCKETS,
    registers: [registry],
  });
  const active = new Gauge({
    name: "switchboard_entities_active",
    help: "Entities with an open user-function stream, by entity kind and service.",
    labelNames: ["kind", "service"] as const,
    registers: [registry],
  });
  const activations = new Counter({
    name: "switchboard_activations_total",
    help: "Entity activations (a user-function stream opened with the entity's state), by kind and service.",
    labelNames: ["kind", "service"] as const,
    registers: [registry],
  });
  const passivations = new Counter({
    name: "switchboard_passivations_total",
    help: "Entity passivations and stops, by kind and service.",
    labelNames: ["kind", "service"] as const,
    registers: [registry],
  });
  const trimmed = new Counter({
    name: "switchboard_topic_messages_trimmed_total",
    help: "Messages removed from the embedded broker's topics by retention, by topic.",
    labelNames: ["topic"] as const,
    registers: [registry],
  });
  const skipped = new Counter({
    name: "switchboard_topic_messages_skipped_total",
    help: "Messages a consumer group had not consumed when retention removed them (skipped), by topic and group.",
    labelNames: ["topic", "group"] as const,
    registers: [registry],
  });
  const heapReleases = new Counter({
    name: "switchboard_heap_releases_total",
    help: "Full GCs the proxy ran to give its heap back once quiet after a wave of passivations.",
    registers: [registry],
  });
  const commit = new Histogram({
    name: "switchboard_store_commit_duration_seconds",
    help: "Duration of one store transaction (a group commit), until durable.",
    buckets: COMMIT_BUCKETS,
    registers: [registry],
  });
  const batch = new Histogram({
    name: "switchboard_store_batch_size",
    help: "Writes committed together in one store transaction.",
    buckets: BATCH_BUCKETS,
    registers: [registry],
  });
  const up = new Gauge({
    name: "switchboard_user_function_up",
    help: "1 while the proxy is connected to the user function, else 0.",
    registers: [registry],
  });
  up.set(0);
  let connected = false;

  const instruments = new Map<string, CallInstrument>();
  const call = (service: string, method: string, protocol: CallProtocol): CallInstrument => {
    const id = `${protocol} ${service}/${method}`;
    let instrument = instruments.get(id);
    if (instrument !== undefined) return instrument;
    const timer = duration.labels(service, method, protocol);
    const byCode = new Map<string, Counter.Internal>();
    const slot = stats.key(service, method);
    instrument = {
      done(code, seconds) {
        let counter = byCode.get(code);
        if (counter === undefined) {
          counter = calls.labels(service, method, protocol, code);
          byCode.set(code, counter);
        }
        counter.inc();
        timer.observe(seconds);
        stats.record(slot, seconds, code !== "OK");
      },
    };
    instruments.set(id, instrument);
    return instrument;
  };

  return {
    call,
    activated(kind, service) {
      activations.labels(kind, service).inc();
      active.labels(kind, service).inc();
    },
    passivated(kind, service) {
      passivations.labels(kind, service).inc();
      active.labels(kind, service).dec();
    },
    storeCommit(seconds, size) {
      commit.observe(seconds);
      batch.observe(size);
    },
    topicTrimmed(topic, count) {
      trimmed.labels(topic).inc(count);
    },
    topicSkipped(topic, group, count) {
      skipped.labels(topic, group).inc(count);
    },
    heapReleased() {
      heapReleases.inc();
    },
    userFunctionUp(value) {
      connected = value;
      up.set(value ? 1 : 0);
    },
    async exposition() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    stats: () => stats.snapshot(),
    userFunctionConnected: () => connected,
  };
}
