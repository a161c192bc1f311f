import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { MetadataEntry } from "@switchboard/protocol";
import type { ConsumerLeases } from "../cluster/types.js";
import { extractEntityId } from "../descriptors/entity-key.js";
import type { ServiceModel } from "../descriptors/service-model.js";
import { kindModule } from "../entities/registry.js";
import type { Logger } from "../observability/logger.js";
import type { Dispatcher } from "../router/types.js";
import type { OffsetStore, ValueChange, ValueChangeStore } from "../store/types.js";
import { cloudEventType, metadataEntry } from "./cloud-event.js";
import { type PolledItem, type PolledSources, startPolledSources } from "./polled-source.js";
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
 * as `google.protobuf.Empty` to the method taking that (none: deletes are skipped). A
 * change an entity consumer could never take (its state lacks the entity key) is skipped
 * with an error line rather than retried for ever. At
 * least once and in order per entity (see {@link startPolledSources}). After each batch,
 * the changes that every consumer group of the persistence id has are pruned.
 */
export function startValueChangeSources(options: ValueChangeSourceOptions): ValueChangeSources {
  const { model, store, logger } = options;
  const found = valueChangeSubscriptions(model);
  if (found.error !== undefined) logger.error(`value-change eventing disabled: ${found.error}`);
  const { subscriptions } = found;
  const emptyDelete = create(AnySchema, { typeUrl: DELETED_TYPE_URL, value: new Uint8Array(0) });
  // Per persistence id, the position the log was last pruned up to.
  const pruned = new Map<string, number>();
  return startPolledSources({
    ...options,
    label: "value-change",
    noun: "change",
    subscriptions,
    read: async (subscription, afterOffset, limit) =>
      (await store.valueChanges(subscription.tag, afterOffset, limit)).map((change) => itemOf(subscription, change)),
    // In order per entity, entities side by side: one delivery at a time could not keep up with the writes.
    orderedBy: (item) => item.subject ?? "",
    afterBatch: (subscription) => prune(subscription),
  });

  /** Where a change goes, or why it cannot go anywhere. */
  function itemOf(subscription: EventLogSubscription, change: ValueChange): PolledItem {
    const { value } = change;
    const payload = value === undefined ? emptyDelete : create(AnySchema, { typeUrl: value.typeUrl, value: value.value });
    const item = { offset: change.position, subject: change.entityId, payload, metadata: valueChangeMetadata(change, subscription.tag) };
    const fields = { entityId: change.entityId };
    if (value === undefined) {
      const method = subscription.methods.get(DELETED_TYPE);
      // A group without a method taking Empty does not consume deletes: expected, so quiet.
      return method !== undefined
        ? { ...item, method }
        : { ...item, method, skip: { message: "this group takes no deletes; skipping one", fields, quiet: true } };
    }
    const method = methodForEvent(subscription, value.typeUrl);
    if (method === undefined)
      return { ...item, method, skip: { message: "no subscriber method takes this change's type; skipping it", fields: { ...fields, type: value.typeUrl } } };
    if (kindModule(method.service.kind).keyed) {
      // An entity consumer is keyed by the state it receives; a state without its key could never be delivered, and retrying it would stall the group.
      const id = extractEntityId(payload.value, method.keyFields, method.input.typeName);
      if (id.error !== undefined)
        return { ...item, method: undefined, skip: { message: `the change cannot be delivered to ${method.path}: ${id.error.message}; skipping it`, fields } };
    }
    return { ...item, method };
  }

  /**
   * Removes the changes every consumer group of the subscription's persistence id has
   * consumed (a group that never saved an offset keeps everything). A failure only delays
   * pruning to a later batch: the deliveries are done.
   */
  async function prune(subscription: EventLogSubscription): Promise<void> {
    try {
      const groups = subscriptions.filter((other) => other.tag === subscription.tag);
      const offsets = await Promise.all(groups.map((group) => store.loadOffset(group.consumer)));
      const upTo = Math.min(...offsets);
      if (upTo <= (pruned.get(subscription.tag) ?? 0)) return;
      await store.pruneValueChanges(subscription.tag, upTo);
      pruned.set(subscription.tag, upTo);
    } catch (error) {
      logger.warn("pruning value changes failed; trying again after a later batch", { persistenceId: subscription.tag, error: (error as Error).message });
    }
  }
}
