import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { type MetadataEntry, MetadataEntrySchema } from "@switchboard/protocol";
import type { ConsumerLeases } from "../cluster/types.js";
import type { ServiceModel } from "../descriptors/service-model.js";
import type { Logger } from "../observability/logger.js";
import type { Dispatcher } from "../router/types.js";
import type { JournalStore, OffsetStore, TaggedEvent } from "../store/types.js";
import { type EventLogSubscription, eventLogSubscriptions, methodForEvent } from "./subscriptions.js";

/** Options of {@link startEventLogSources}. */
export interface EventLogSourceOptions {
  readonly model: ServiceModel;
  readonly store: JournalStore & OffsetStore;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** Poll interval when no append notification arrives (ms). */
  readonly pollIntervalMs?: number;
  /** Events read per batch. */
  readonly batchSize?: number;
  /** In a cluster: each consumer runs only while this node holds its lease (absent: always here). */
  readonly leases?: ConsumerLeases;
}

/** The running event-log consumers of one service model. */
export interface EventLogSources {
  /** Tells the consumers of `tag` that events were appended (they poll at once). */
  notify(tag: string): void;
  /** Stops consuming; resolves when the batch in progress is done. */
  close(): Promise<void>;
}

function entry(key: string, value: string): MetadataEntry {
  return create(MetadataEntrySchema, { key, value: { case: "stringValue", value } });
}

/** CloudEvents metadata of a journal event, in the reference proxy's order. */
export function cloudEventMetadata(event: TaggedEvent, tag: string): MetadataEntry[] {
  const bar = event.journalId.indexOf("|");
  return [
    entry("ce-id", String(event.offset)),
    entry("ce-source", tag),
    entry("ce-specversion", "1.0"),
    entry("ce-type", event.payload.typeUrl),
    entry("Content-Type", "application/vnd.cloudstate.protobuf.any"),
    entry("ce-subject", bar >= 0 ? event.journalId.slice(bar + 1) : event.journalId),
  ];
}

/**
 * Event-log eventing: for every `(cloudstate.eventing).in.event_log` subscription,
 * reads the journal events carrying that tag in offset order and delivers each to the
 * chosen subscriber method like a client call (its `Any` unchanged, with CloudEvents
 * metadata). Delivery is at least once: the offset is saved after each delivered
 * batch, so a crash replays at most one batch. Replies are dropped (topics come later).
 */
export function startEventLogSources(options: EventLogSourceOptions): EventLogSources {
  const { model, store, dispatcher, logger } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const batchSize = options.batchSize ?? 100;
  const found = eventLogSubscriptions(model);
  if (found.error !== undefined) logger.error(`eventing disabled: ${found.error}`);
  const stop = new AbortController();
  const consumers = found.subscriptions.map((subscription) => startConsumer(subscription));
  if (consumers.length > 0) logger.info("event-log eventing started", { consumers: found.subscriptions.map((s) => s.consumer).join(",") });

  function startConsumer(subscription: EventLogSubscription) {
    const log = logger.child({ consumer: subscription.consumer });
    let wake: (() => void) | undefined;
    let pending = false;
    const sleep = () =>
      new Promise<void>((resolve) => {
        if (pending) {
          pending = false;
          resolve();
          return;
        }
        const timer = setTimeout(done, pollIntervalMs);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    /** Consumes from the stored offset until `signal` aborts. */
    const consume = async (signal: AbortSignal) => {
      let offset = await store.loadOffset(subscription.consumer);
      let failures = 0;
      while (!signal.aborted) {
        try {
          const events = await store.eventsByTag(subscription.tag, offset, batchSize);
          for (const event of events) {
            const method = methodForEvent(subscription, event.payload.typeUrl);
            if (method === undefined) {
              log.error("no subscriber method takes this event type; skipping it", { type: event.payload.typeUrl, offset: event.offset });
            } else {
              const payload = create(AnySchema, { typeUrl: event.payload.typeUrl, value: event.payload.value });
              // Not cancelled on shutdown: the delivery in flight finishes and its offset is saved.
              await dispatcher.deliver(method, payload, cloudEventMetadata(event, subscription.tag));
            }
            offset = event.offset;
            if (signal.aborted) break;
          }
          if (events.length > 0) await store.saveOffset(subscription.consumer, offset);
          if (signal.aborted) return;
          failures = 0;
          if (events.length < batchSize) await sleep();
        } catch (error) {
          if (signal.aborted) return;
          failures++;
          const delay = Math.min(3000 * 2 ** Math.min(failures - 1, 3), 30_000);
          log.warn("event delivery failed; retrying from the last saved offset", { error: (error as Error).message, retryInMs: delay });
          offset = await store.loadOffset(subscription.consumer).catch(() => offset);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    };
    const { leases } = options;
    const running = (async () => {
      if (leases === undefined) return consume(stop.signal);
      // In a cluster the consumer runs on one node at a time, from the offset its last holder saved.
      while (!stop.signal.aborted) {
        const lease = await leases.acquire(subscription.consumer, stop.signal);
        if (lease === undefined) return;
        log.info("event-log consumer runs on this node");
        const both = new AbortController();
        const end = () => {
          both.abort();
          if (wake) wake();
        };
        stop.signal.addEventListener("abort", end, { once: true });
        lease.lost.addEventListener("abort", end, { once: true });
        if (lease.lost.aborted) end();
        try {
          await consume(both.signal);
        } finally {
          stop.signal.removeEventListener("abort", end);
          lease.done();
        }
      }
    })();
    return {
      tag: subscription.tag,
      wake() {
        if (wake) wake();
        else pending = true;
      },
      running,
    };
  }

  return {
    notify(tag) {
      for (const consumer of consumers) if (consumer.tag === tag) consumer.wake();
    },
    async close() {
      stop.abort();
      for (const consumer of consumers) consumer.wake();
      await Promise.allSettled(consumers.map((c) => c.running));
    },
  };
}
