import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { ConsumerLeases } from "../cluster/types.js";
import { extractEntityId } from "../descriptors/entity-key.js";
import type { ServiceModel } from "../descriptors/service-model.js";
import { kindModule } from "../entities/registry.js";
import { chainsByKey } from "./ordering-chains.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { Dispatcher } from "../router/types.js";
import type { TopicRecord } from "../store/types.js";
import { topicMetadata } from "./cloud-event.js";
import { type ConsumerGroups, createConsumerGroups } from "./consumer-groups.js";
import { methodForEvent, type TopicSubscription, topicSubscriptions } from "./subscriptions.js";
import type { TopicBroker } from "./topic-broker.js";
import type { ReplyPublisher } from "./topic-output.js";

/** Options of {@link startTopicSources}. */
export interface TopicSourceOptions {
  readonly model: ServiceModel;
  readonly broker: TopicBroker;
  /** Where messages are delivered (one that does not publish replies itself). */
  readonly dispatcher: Dispatcher;
  /** Publishes the replies of methods with `out.topic`. */
  readonly publisher: ReplyPublisher;
  readonly logger: Logger;
  /** Deliveries of one message before it is dead-lettered (at least 1). */
  readonly maxAttempts: number;
  /** Delay before the first retry; doubled for each further one, capped at 30 s. */
  readonly retryBackoffMs: number;
  /** Longest wait for a publish wake-up before reading again (ms; default 1000). */
  readonly pollIntervalMs?: number;
  /** Messages read per batch (default 100). */
  readonly batchSize?: number;
  /** In a cluster: the leases under which each consumer runs on one node at a time. */
  readonly leases?: ConsumerLeases;
  /** Coordinates consumers with replays (default: a private one, so nothing can replay). */
  readonly groups?: ConsumerGroups;
  /** Counts the messages retention removed before a group consumed them. */
  readonly metrics?: Pick<Metrics, "topicSkipped">;
}

/** The running topic consumers of one service model. */
export interface TopicSources {
  /** Stops consuming; resolves when the delivery in progress is done. */
  close(): Promise<void>;
}

/**
 * The key whose messages a consumer delivers in order: the entity id for an entity's
 * method (read from the message as for a call), else the message's CloudEvents `subject`;
 * messages with neither share one key, so they are delivered one at a time.
 */
function orderingKey(subscription: TopicSubscription, record: TopicRecord): string {
  const method = methodForEvent(subscription, record.payload.typeUrl);
  if (method !== undefined && kindModule(method.service.kind).keyed) {
    const id = extractEntityId(record.payload.value, method.keyFields, method.input.typeName);
    if (id.value !== undefined) return `entity:${id.value}`;
  }
  const subject = record.attributes.subject;
  return subject === undefined ? "" : `subject:${subject}`;
}

/** The dead-letter topic of `topic`. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dead-letter`;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * Topic eventing: for every (consumer group, topic) of the model's
 * `(cloudstate.eventing).in.topic` methods, one consumer reads the topic from the
 * group's stored offset and delivers each message, in offset order per ordering key
 * (see {@link orderingKey}; different keys of a batch concurrently), to the method whose
 * input type is the message's type (the `google.protobuf.Any` method takes the rest; a
 * type no method takes is logged once and skipped). Delivery is at least once: the
 * group's offset is stored after each batch is delivered and the replies of its
 * messages are durable (published in delivery order, the next message being delivered
 * while a publish commits), so a crash redelivers at most the batch in progress. A
 * delivery that fails is retried
 * with a doubling backoff; after `maxAttempts` deliveries the message goes to
 * `<topic>.dead-letter` with the failure text, and the consumer moves on.
 */
export function startTopicSources(options: TopicSourceOptions): TopicSources {
  const { model, broker, dispatcher, logger } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const batchSize = options.batchSize ?? 100;
  const maxAttempts = Math.max(1, options.maxAttempts);
  const groups = options.groups ?? createConsumerGroups();
  const found = topicSubscriptions(model);
  if (found.error !== undefined) logger.error(`topic eventing disabled: ${found.error}`);
  const stop = new AbortController();
  const consumers = found.subscriptions.map((subscription) => run(subscription));
  if (consumers.length > 0) logger.info("topic eventing started", { consumers: found.subscriptions.map((s) => s.consumer).join(",") });

  function sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }

  /** Runs one consumer here, or in a cluster whenever this node holds its lease. */
  async function run(subscription: TopicSubscription): Promise<void> {
    const { leases } = options;
    if (leases === undefined) return consume(subscription, stop.signal);
    while (!stop.signal.aborted) {
      // Named apart from event-log consumers (`<group>|<tag>`), which share the lease space.
      const lease = await leases.acquire(`topic:${subscription.consumer}`, stop.signal);
      if (lease === undefined) return;
      logger.info("topic consumer runs on this node", { topic: subscription.tag, group: subscription.group });
      const signal = AbortSignal.any([stop.signal, lease.lost]);
      try {
        await consume(subscription, signal);
      } finally {
        lease.done();
      }
    }
  }

  async function consume(subscription: TopicSubscription, signal: AbortSignal): Promise<void> {
    const { tag: topic, group } = subscription;
    const log = logger.child({ topic, group });
    const skippedTypes = new Set<string>();
    let failures = 0;
    while (!signal.aborted) {
      try {
        // Loaded in the first batch, and again after a replay reset the group's offset.
        let offset: number | undefined;
        while (!signal.aborted) {
          const version = broker.version(topic);
          const replayed = groups.resetSignal(topic, group);
          const full = await groups.batch(topic, group, async (reset) => {
            if (offset === undefined || reset) {
              const stored = await broker.loadGroupOffset(topic, group);
              if (reset) log.info("consumer group offset was set; consuming from it", { offset: stored });
              offset = stored;
            }
            return consumeBatch(subscription, offset, log, skippedTypes, signal, (next) => {
              offset = next;
            });
          });
          failures = 0;
          if (!full) await broker.waitForPublish(topic, version, AbortSignal.any([signal, replayed]), pollIntervalMs);
        }
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        const delay = Math.min(1000 * 2 ** Math.min(failures - 1, 5), MAX_BACKOFF_MS);
        log.warn("topic consumer failed; resuming from the stored offset", { error: (error as Error).message, retryInMs: delay });
        await sleep(delay, signal);
      }
    }
  }

  /**
   * Reads and delivers one batch after `offset` and stores the group's progress; resolves
   * to whether the batch was full (more may be waiting).
   */
  async function consumeBatch(
    subscription: TopicSubscription,
    offset: number,
    log: Logger,
    skippedTypes: Set<string>,
    signal: AbortSignal,
    moved: (offset: number) => void,
  ): Promise<boolean> {
    const { tag: topic, group } = subscription;
    const records = await broker.read(topic, offset, batchSize);
    // Offsets are gap-free, so a first message past offset + 1 means retention removed the
    // ones between before this group consumed them: retention wins, the group goes on
    // from the first retained message, and the skip is logged and counted.
    const first = records[0]?.offset;
    if (first !== undefined && first > offset + 1) {
      const skipped = first - offset - 1;
      if (offset === 0) log.info("the group starts at the topic's first retained offset", { firstOffset: first });
      else {
        log.warn("retention removed messages this group had not consumed; skipping to the first retained offset", { offset, firstOffset: first, skipped });
        options.metrics?.topicSkipped(topic, group, skipped);
      }
    }
    // One chain per ordering key: messages of one key are delivered one after the
    // other, in offset order; different keys at the same time. Replies are published
    // without waiting for each commit; the batch's offset is stored only once all of
    // them are durable, and only up to the last message before the first one left
    // undelivered (stopping), so nothing unprocessed is ever skipped.
    const publishing: Promise<void>[] = [];
    const settled = records.map(() => false);
    const chains = chainsByKey(
      records.map((record, index) => ({ record, index })),
      ({ record }) => orderingKey(subscription, record),
    );
    await Promise.all(
      chains.map(async (chain) => {
        for (const { record, index } of chain) {
          if (!(await deliver(subscription, record, log, skippedTypes, signal, publishing))) return;
          settled[index] = true;
        }
      }),
    );
    await Promise.all(publishing);
    const firstOpen = settled.indexOf(false);
    const delivered = (firstOpen < 0 ? records.at(-1)?.offset : firstOpen === 0 ? undefined : records[firstOpen - 1]?.offset) ?? offset;
    if (delivered > offset) {
      // A replay from another process (another node, or an admin port on a shared store)
      // cannot wait for this batch: if the stored offset moved meanwhile, it wins.
      const stored = await broker.loadGroupOffset(topic, group);
      if (stored !== offset) {
        log.info("consumer group offset was set elsewhere; consuming from it", { offset: stored });
        moved(stored);
        return true;
      }
      await broker.saveGroupOffset(topic, group, delivered);
      moved(delivered);
    }
    return records.length >= batchSize;
  }

  /** Delivers one message with retries, else dead-letters it; false when stopped before it was settled. */
  async function deliver(
    subscription: TopicSubscription,
    record: TopicRecord,
    log: Logger,
    skippedTypes: Set<string>,
    signal: AbortSignal,
    publishing: Promise<void>[],
  ): Promise<boolean> {
    const topic = subscription.tag;
    const method = methodForEvent(subscription, record.payload.typeUrl);
    if (method === undefined) {
      if (!skippedTypes.has(record.payload.typeUrl)) {
        skippedTypes.add(record.payload.typeUrl);
        log.warn("no method of this consumer group takes this message type; skipping such messages", { type: record.payload.typeUrl, offset: record.offset });
      }
      return true;
    }
    const payload = create(AnySchema, { typeUrl: record.payload.typeUrl, value: record.payload.value });
    const metadata = topicMetadata(record, topic);
    for (let attempt = 1; ; attempt++) {
      try {
        // Not cancelled on shutdown: the delivery in flight finishes.
        const replies = await dispatcher.deliver(method, payload, metadata);
        const published = options.publisher.publish(method, replies, payload.value);
        // Handled at the end of the batch; a rejection must not go unobserved meanwhile.
        published.catch(() => undefined);
        publishing.push(published);
        return true;
      } catch (error) {
        const reason = (error as Error).message;
        if (attempt >= maxAttempts) {
          log.warn("message dead-lettered", { offset: record.offset, attempts: attempt, error: reason, to: deadLetterTopic(topic) });
          await broker.publish(deadLetterTopic(topic), [
            {
              payload: record.payload,
              attributes: {
                ...record.attributes,
                deadletterreason: reason,
                deadlettergroup: subscription.group,
                deadlettertopic: topic,
                deadletteroffset: String(record.offset),
                deadletterattempts: String(attempt),
              },
            },
          ]);
          return true;
        }
        const delay = Math.min(options.retryBackoffMs * 2 ** (attempt - 1), MAX_BACKOFF_MS);
        log.info("message delivery failed; retrying", { offset: record.offset, attempt, retryInMs: delay, error: reason });
        await sleep(delay, signal);
        if (signal.aborted) return false;
      }
    }
  }

  return {
    async close() {
      stop.abort();
      await Promise.allSettled(consumers);
    },
  };
}
