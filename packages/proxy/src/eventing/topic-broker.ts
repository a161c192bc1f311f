import type { TopicMessage, TopicRecord, TopicStore } from "../store/types.js";

/**
 * The embedded broker as consumers and the HTTP surface see it: the store's topics plus
 * a wake-up when a topic gets new messages, so a reader at the end of a topic waits
 * instead of polling fast. One broker per proxy; every publish goes through it.
 */
export interface TopicBroker {
  /** Appends messages to `topic`; resolves with their offsets once durable, then wakes the topic's readers. */
  publish(topic: string, messages: readonly TopicMessage[]): Promise<number[]>;
  /** Messages with offset > afterOffset, in order, at most `limit`. */
  read(topic: string, afterOffset: number, limit: number): Promise<TopicRecord[]>;
  loadGroupOffset(topic: string, group: string): Promise<number>;
  saveGroupOffset(topic: string, group: string, offset: number): Promise<void>;
  /** A number that changes whenever `topic` gets messages; take it before a read that may come back empty. */
  version(topic: string): number;
  /**
   * Resolves once `topic` got messages after `version` was taken (at once if it already
   * did), when `signal` aborts, or after `timeoutMs` (a fallback for publishes by other
   * processes on a shared store).
   */
  waitForPublish(topic: string, version: number, signal: AbortSignal, timeoutMs: number): Promise<void>;
}

/** Wraps the store's topics with per-topic wake-ups. */
export function createTopicBroker(store: TopicStore): TopicBroker {
  const versions = new Map<string, number>();
  const waiters = new Map<string, Set<() => void>>();
  return {
    async publish(topic, messages) {
      const offsets = await store.publish(topic, messages);
      versions.set(topic, (versions.get(topic) ?? 0) + 1);
      const waiting = waiters.get(topic);
      if (waiting !== undefined) for (const wake of [...waiting]) wake();
      return offsets;
    },
    read: (topic, afterOffset, limit) => store.readTopic(topic, afterOffset, limit),
    loadGroupOffset: (topic, group) => store.loadGroupOffset(topic, group),
    saveGroupOffset: (topic, group, offset) => store.saveGroupOffset(topic, group, offset),
    version: (topic) => versions.get(topic) ?? 0,
    waitForPublish(topic, version, signal, timeoutMs) {
      if ((versions.get(topic) ?? 0) !== version || signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        let set = waiters.get(topic);
        if (set === undefined) {
          set = new Set();
          waiters.set(topic, set);
        }
        const waiting = set;
        const timer = setTimeout(done, timeoutMs);
        signal.addEventListener("abort", done, { once: true });
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          waiting.delete(done);
          if (waiting.size === 0 && waiters.get(topic) === waiting) waiters.delete(topic);
          resolve();
        }
        waiting.add(done);
      });
    },
  };
}
