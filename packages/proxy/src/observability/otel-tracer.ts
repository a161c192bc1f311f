import { type Context, context, type Link, propagation, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { create } from "@bufbuild/protobuf";
import { type MetadataEntry, MetadataEntrySchema } from "@switchboard/protocol";
import type { Logger } from "./logger.js";
import type { CallSpan, SpanRef, Tracer } from "./tracer.js";

const TRACE_HEADERS = new Set(["traceparent", "tracestate"]);

const metadataGetter = {
  keys: (carrier: readonly MetadataEntry[]) => carrier.map((e) => e.key),
  get: (carrier: readonly MetadataEntry[], key: string) => {
    const entry = carrier.find((e) => e.key.toLowerCase() === key && e.value.case === "stringValue");
    return entry?.value.value as string | undefined;
  },
};

type Env = Readonly<Record<string, string | undefined>>;

/** The sampler `OTEL_TRACES_SAMPLER` (and `OTEL_TRACES_SAMPLER_ARG`) names; default parent-based always-on. */
export function samplerFromEnv(env: Env): Sampler {
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  const root = Number.isFinite(ratio) ? new TraceIdRatioBasedSampler(Math.min(1, Math.max(0, ratio))) : new AlwaysOnSampler();
  switch ((env.OTEL_TRACES_SAMPLER ?? "parentbased_always_on").toLowerCase()) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return root;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function envNumber(env: Env, name: string): number | undefined {
  const value = Number(env[name]);
  return env[name] !== undefined && env[name] !== "" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * The OpenTelemetry tracer: an SDK tracer provider with a batch processor and the OTLP
 * HTTP exporter, configured from the standard `OTEL_*` environment (endpoint, headers,
 * service name, resource attributes, sampler, batch sizes). Contexts flow through
 * async calls with AsyncLocalStorage, and W3C trace context goes in and out through the
 * Cloudstate metadata.
 */
export function createOtelTracer(logger: Logger, env: Env = process.env): Tracer {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const propagator = new W3CTraceContextPropagator();
  propagation.setGlobalPropagator(propagator);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ "service.name": "switchboard" }))
    .merge(detectResources({ detectors: [envDetector] }));
  const batching = {
    scheduledDelayMillis: envNumber(env, "OTEL_BSP_SCHEDULE_DELAY"),
    maxExportBatchSize: envNumber(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
    maxQueueSize: envNumber(env, "OTEL_BSP_MAX_QUEUE_SIZE"),
    exportTimeoutMillis: envNumber(env, "OTEL_BSP_EXPORT_TIMEOUT"),
  };
  const processor = new BatchSpanProcessor({
    exporter: new OTLPTraceExporter(),
    ...Object.fromEntries(Object.entries(batching).filter(([, v]) => v !== undefined)),
  });
  const provider = new TracerProvider({ resource, sampler: samplerFromEnv(env), spanProcessors: [processor] });
  const tracer = provider.getTracer("switchboard");
  logger.info("tracing on: exporting spans over OTLP/HTTP", {
    endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT,
  });

  const spanOf = (ref: SpanRef | undefined): Span | undefined => ref?.span as Span | undefined;

  return {
    enabled: true,
    startCall(service, method, protocol, metadata, origin): CallSpan {
      const active = trace.getSpan(context.active());
      let parent: Context;
      const links: Link[] = [];
      if (origin === "call") {
        parent = propagation.extract(context.active(), metadata, metadataGetter);
      } else {
        parent = context.active();
        if (active !== undefined) links.push({ context: active.spanContext(), attributes: { "switchboard.link": origin } });
      }
      const span = tracer.startSpan(
        origin === "call" ? `${service}/${method}` : `${origin} ${service}/${method}`,
        {
          kind: origin === "call" ? SpanKind.SERVER : SpanKind.INTERNAL,
          links,
          attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "switchboard.protocol": protocol, "switchboard.origin": origin },
        },
        parent,
      );
      const spanContext = trace.setSpan(parent, span);
      const carrier: Record<string, string> = {};
      propagation.inject(spanContext, carrier);
      const outgoing = [
        ...metadata.filter((e) => !TRACE_HEADERS.has(e.key.toLowerCase())),
        ...Object.entries(carrier).map(([key, value]) => create(MetadataEntrySchema, { key, value: { case: "stringValue", value } })),
      ];
      return {
        metadata: outgoing,
        ref: { span },
        run: (fn) => context.with(spanContext, fn),
        end(code, message) {
          span.setAttribute("rpc.grpc.status_code_name", code);
          if (code !== "OK") span.setStatus({ code: SpanStatusCode.ERROR, ...(message === undefined ? {} : { message }) });
          span.end();
        },
      };
    },
    active() {
      const span = trace.getSpan(context.active());
      return span === undefined ? undefined : { span };
    },
    async step(name, attributes, fn, parentRef) {
      const parentSpan = spanOf(parentRef) ?? trace.getSpan(context.active());
      if (parentSpan === undefined) return fn();
      const parent = trace.setSpan(context.active(), parentSpan);
      const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: { ...attributes } }, parent);
      try {
        const result = await context.with(trace.setSpan(parent, span), fn);
        span.end();
        return result;
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        span.end();
        throw error;
      }
    },
    async shutdown() {
      await provider.shutdown().catch((error: unknown) => logger.warn("could not export the last spans", { error: (error as Error).message }));
      contextManager.disable();
    },
  };
}
