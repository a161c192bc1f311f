import type { Any } from "@bufbuild/protobuf/wkt";
import type { MetadataEntry } from "@switchboard/protocol";
import type { ConsumerLeases } from "../cluster/types.js";
import type { MethodModel } from "../descriptors/service-model.js";
import type { Logger } from "../observability/logger.js";
import type { Dispatcher } from "../router/types.js";
import type { OffsetStore } from "../store/types.js";
import { chainsByKey } from "./ordering-chains.js";

/** A consumer of one polled source: offsets are kept under `consumer`, and `tag` is what wakes it. */
export interface PolledSubscription {
  readonly consumer: string;
  readonly tag: string;
}

/** One item a polled source read, and where it goes. */
export interface PolledItem {
  /** Its position in the source: the consumer's offset once it is delivered. */
  readonly offset: number;
  /** What the item is about (the entity id), for `orderedBy`. */
  readonly subject?: string;
  /** The subscriber method; undefined: the item is skipped, and `skip` says why. */
  readonly method: MethodModel | undefined;
  readonly payload: Any;
  readonly metadata: MetadataEntry[];
  /** What the log says of an item without a method; `quiet` logs it at debug level (an expected skip), else as an error. */
  readonly skip?: { readonly message: string; readonly fields: Record<string, unknown>; readonly quiet?: boolean };
}

/** Most deliveries one consumer has in flight when it delivers a batch concurrently. */
const CONCURRENT_DELIVERIES = 32;

/** Options of {@link startPolledSources}. */
export interface PolledSourceOptions<S extends PolledSubscription> {
  /** Names the consumers in logs: `event-log`, `value-change`. */
  readonly label: string;
  /** What an item is called in logs: `event`, `change`. */
  readonly noun: string;
  readonly subscriptions: readonly S[];
  /** Reads the items after `afterOffset`, in offset order, at most `limit`. */
  read(subscription: S, afterOffset: number, limit: number): Promise<PolledItem[]>;
  /**
   * When set, a batch's items are delivered concurrently, keeping order only among items
   * with the same key (e.g. the entity id): for sources that promise order per entity. Absent:
   * one item after the other, in offset order.
   */
  readonly orderedBy?: (item: PolledItem) => string;
  /** Runs after each batch's offset is saved (e.g. to prune what every consumer has). */
  afterBatch?(subscription: S, offset: number): Promise<void>;
  readonly store: OffsetStore;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** Poll interval when no notification arrives (ms). */
  readonly pollIntervalMs?: number;
  /** Items read per batch. */
  readonly batchSize?: number;
  /** In a cluster: each consumer runs only while this node holds its lease (absent: always here). */
  readonly leases?: ConsumerLeases;
}

/** The running consumers of one polled source. */
export interface PolledSources {
  /** Tells the consumers of `tag` that items were added (they poll at once). */
  notify(tag: string): void;
  /** Stops consuming; resolves when the batch in progress is done. */
  close(): Promise<void>;
}

/**
 * Consumes sources that are read by offset from the store (the journal by tag, the
 * value-change logs): each subscription reads from its stored offset in order and
 * delivers each item to its method like a client call. Delivery is at least once: the
 * offset is saved after each delivered batch, whose effects are durable by then (the
 * dispatcher resolves once they are), so a crash replays at most one batch. A failed
 * delivery is retried with backoff from the last saved offset.
 */
export function startPolledSources<S extends PolledSubscription>(options: PolledSourceOptions<S>): PolledSources {
  const { store, dispatcher, logger, label } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const batchSize = options.batchSize ?? 100;
  const stop = new AbortController();
  const consumers = options.subscriptions.map((subscription) => startConsumer(subscription));
  if (consumers.length > 0) logger.info(`${label} eventing started`, { consumers: options.subscriptions.map((s) => s.consumer).join(",") });

  function startConsumer(subscription: S) {
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
    /** Delivers one item, or logs why it has no method. */
    const deliver = async (item: PolledItem): Promise<void> => {
      if (item.method === undefined) {
        const skip = item.skip ?? { message: `no subscriber method takes this ${options.noun}; skipping it`, fields: {} };
        (skip.quiet === true ? log.debug : log.error).call(log, skip.message, { ...skip.fields, offset: item.offset });
        return;
      }
      await dispatcher.deliver(item.method, item.payload, item.metadata);
    };
    /**
     * Delivers a batch with up to {@link CONCURRENT_DELIVERIES} deliveries at once: items of
     * one key one after the other, in offset order, items of different keys side by side.
     * Resolves when every item is delivered; rejects with the first failure once none is
     * in flight any more.
     */
    const deliverConcurrently = async (items: readonly PolledItem[], keyOf: (item: PolledItem) => string): Promise<void> => {
      const queue = chainsByKey(items, keyOf);
      let failure: unknown;
      const worker = async () => {
        for (let chain = queue.shift(); chain !== undefined && failure === undefined; chain = queue.shift()) {
          for (const item of chain) {
            try {
              await deliver(item);
            } catch (error) {
              failure ??= error;
              return;
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENT_DELIVERIES, queue.length) }, worker));
      if (failure !== undefined) throw failure;
    };
    /** Consumes from the stored offset until `signal` aborts. */
    const consume = async (signal: AbortSignal) => {
      let offset = await store.loadOffset(subscription.consumer);
      let failures = 0;
      while (!signal.aborted) {
        try {
          const items = await options.read(subscription, offset, batchSize);
          if (options.orderedBy === undefined) {
            for (const item of items) {
              // Not cancelled on shutdown: the delivery in flight finishes and its offset is saved.
              await deliver(item);
              offset = item.offset;
              if (signal.aborted) break;
            }
          } else if (items.length > 0) {
            // The whole batch, or a failure (the batch is then retried from the last saved offset).
            await deliverConcurrently(items, options.orderedBy);
            offset = items[items.length - 1]?.offset ?? offset;
          }
          if (items.length > 0) {
            await store.saveOffset(subscription.consumer, offset);
            await options.afterBatch?.(subscription, offset);
          }
          if (signal.aborted) return;
          failures = 0;
          if (items.length < batchSize) await sleep();
        } catch (error) {
          if (signal.aborted) return;
          failures++;
          const delay = Math.min(3000 * 2 ** Math.min(failures - 1, 3), 30_000);
          log.warn(`${options.noun} delivery failed; retrying from the last saved offset`, { error: (error as Error).message, retryInMs: delay });
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
        log.info(`${label} consumer runs on this node`);
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
