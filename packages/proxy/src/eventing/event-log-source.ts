import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { MetadataEntry } from "@switchboard/protocol";
import type { ConsumerLeases } from "../cluster/types.js";
import type { ServiceModel } from "../descriptors/service-model.js";
import type { Logger } from "../observability/logger.js";
import type { Dispatcher } from "../router/types.js";
import type { JournalStore, OffsetStore, TaggedEvent } from "../store/types.js";
import { metadataEntry } from "./cloud-event.js";
import { type PolledSources, startPolledSources } from "./polled-source.js";
import { eventLogSubscriptions, methodForEvent } from "./subscriptions.js";

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

/** The running event-log consumers of one service model; `notify` takes a tag. */
export type EventLogSources = PolledSources;

/** CloudEvents metadata of a journal event, in the reference proxy's order. */
export function cloudEventMetadata(event: TaggedEvent, tag: string): MetadataEntry[] {
  const bar = event.journalId.indexOf("|");
  return [
    metadataEntry("ce-id", String(event.offset)),
    metadataEntry("ce-source", tag),
    metadataEntry("ce-specversion", "1.0"),
    metadataEntry("ce-type", event.payload.typeUrl),
    metadataEntry("Content-Type", "application/vnd.cloudstate.protobuf.any"),
    metadataEntry("ce-subject", bar >= 0 ? event.journalId.slice(bar + 1) : event.journalId),
  ];
}

/**
 * Event-log eventing: for every `(cloudstate.eventing).in.event_log` subscription,
 * reads the journal events carrying that tag in offset order and delivers each to the
 * chosen subscriber method like a client call (its `Any` unchanged, with CloudEvents
 * metadata), at least once (see {@link startPolledSources}).
 */
export function startEventLogSources(options: EventLogSourceOptions): EventLogSources {
  const { model, store, logger } = options;
  const found = eventLogSubscriptions(model);
  if (found.error !== undefined) logger.error(`eventing disabled: ${found.error}`);
  return startPolledSources({
    ...options,
    label: "event-log",
    noun: "event",
    subscriptions: found.subscriptions,
    read: async (subscription, afterOffset, limit) =>
      (await store.eventsByTag(subscription.tag, afterOffset, limit)).map((event) => ({
        offset: event.offset,
        method: methodForEvent(subscription, event.payload.typeUrl),
        payload: create(AnySchema, { typeUrl: event.payload.typeUrl, value: event.payload.value }),
        metadata: cloudEventMetadata(event, subscription.tag),
        skip: { message: "no subscriber method takes this event type; skipping it", fields: { type: event.payload.typeUrl } },
      })),
  });
}
