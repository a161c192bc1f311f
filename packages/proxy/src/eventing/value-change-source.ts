import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { MetadataEntry } from "@switchboard/protocol";
import type { ConsumerLeases } from "../cluster/types.js";
import type { ServiceModel } from "../descriptors/service-model.js";
import type { Logger } from "../observability/logger.js";
import type { Dispatcher } from "../router/types.js";
import type { OffsetStore, ValueChange, ValueChangeStore } from "../store/types.js";
import { cloudEventType, metadataEntry } from "./cloud-event.js";
import { type PolledSources, startPolledSources } from "./polled-source.js";
import { type EventLogSubscription, methodForEvent, valueChangeSubscriptions } from "./subscriptions.js";

/** The type a delete is delivered as: subscriber methods taking it receive deletes. */
export const DELETED_TYPE = "google.protobuf.Empty";
const DELETED_TYPE_URL = `type.googleapis.com/${DELETED_TYPE}`;

/** Options of {@link startValueChangeSources}. */
export interface ValueChangeSourceOptions {
  readonly model: ServiceModel;
  readonly store: ValueChangeStore & OffsetStore;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** Poll interval when no change notification arrives (ms). */
  readonly pollIntervalMs?: number;
  /** Changes read per batch. */
  readonly batchSize?: number;
  /** In a cluster: each consumer runs only while this node holds its lease (absent: always here). */
  readonly leases?: ConsumerLeases;
}

/** The running value-change consumers of one service model; `notify` takes a persistence id. */
export type ValueChangeSources = PolledSources;

/**
 * CloudEvents metadata of a value change: `ce-id` its position, `ce-source` the
 * persistence id, `ce-type` the stored state's type (`google.protobuf.Empty` for a
 * delete), `ce-subject` the entity id and `ce-time` when it was written.
 */
export function valueChangeMetadata(change: ValueChange, persistenceId: string): MetadataEntry[] {
  return [
    metadataEntry("ce-id", String(change.position)),
    metadataEntry("ce-source", persistenceId),
    metadataEntry("ce-specversion", "1.0"),
    metadataEntry("ce-type", change.value === undefined ? DELETED_TYPE : cloudEventType(change.value.typeUrl)),
    metadataEntry("Content-Type", "application/vnd.cloudstate.protobuf.any"),
    metadataEntry("ce-subject", change.entityId),
    metadataEntry("ce-time", new Date(change.changedAt).toISOString()),
  ];
}

/**
 * Value-entity changes as an event source (Switchboard's `(switchboard.eventing).in.value_entity`):
 * for every subscription, reads the change log of its persistence id in position order
 * and delivers each change like a client call: an update as the stored state (its `Any`
 * unchanged) to the method taking the state's type (else `google.protobuf.Any`), a delete
 * as `google.protobuf.Empty` to the method taking that (none: deletes are skipped). At
 * least once and in order per entity (see {@link startPolledSources}). After each batch,
 * the changes that every consumer group of the persistence id has are pruned.
 */
export function startValueChangeSources(options: ValueChangeSourceOptions): ValueChangeSources {
  const { model, store, logger } = options;
  const found = valueChangeSubscriptions(model);
  if (found.error !== undefined) logger.error(`value-change eventing disabled: ${found.error}`);
  const { subscriptions } = found;
  const emptyDelete = create(AnySchema, { typeUrl: DELETED_TYPE_URL, value: new Uint8Array(0) });
  return startPolledSources({
    ...options,
    label: "value-change",
    subscriptions,
    read: async (subscription, afterOffset, limit) =>
      (await store.valueChanges(subscription.tag, afterOffset, limit)).map((change) => {
        const { value } = change;
        return {
          offset: change.position,
          method: value === undefined ? subscription.methods.get(DELETED_TYPE) : methodForEvent(subscription, value.typeUrl),
          payload: value === undefined ? emptyDelete : create(AnySchema, { typeUrl: value.typeUrl, value: value.value }),
          metadata: valueChangeMetadata(change, subscription.tag),
          type: value === undefined ? `delete (${DELETED_TYPE})` : value.typeUrl,
        };
      }),
    afterBatch: (subscription) => prune(subscription),
  });

  /** Removes the changes every consumer group of the subscription's persistence id has consumed. */
  async function prune(subscription: EventLogSubscription): Promise<void> {
    const groups = subscriptions.filter((other) => other.tag === subscription.tag);
    const offsets = await Promise.all(groups.map((group) => store.loadOffset(group.consumer)));
    const upTo = Math.min(...offsets);
    if (upTo > 0) await store.pruneValueChanges(subscription.tag, upTo);
  }
}
