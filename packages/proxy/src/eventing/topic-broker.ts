import type { TopicMessage, TopicRecord, TopicStore } from "../store/types.js";
import { createPublishWakeups } from "./publish-wakeups.js";

/**
 * The topic broker as consumers and the HTTP surface see it: append, read by offset,
 * consumer-group offsets, plus a wake-up when a topic gets new messages, so a reader at
 * the end of a topic waits instead of polling fast. One broker per proxy; every publish
 * goes through it. Two implementations: the embedded broker over the store's topics
 * ({@link createTopicBroker}) and NATS JetStream (`eventing/nats/`).
 */
export interface TopicBroker {
  /** Appends messages to `topic`; resolves with their offsets once durable, then wakes the topic's readers. */
  publish(topic: string, messages: readonly TopicMessage[]): Promise<number[]>;
  /** Messages with offset > afterOffset, in order, at most `limit`. */
  read(topic: string, afterOffset: number, limit: number): Promise<TopicRecord[]>;
  loadGroupOffset(topic: string, group: string): Promise<number>;
  saveGroupOffset(topic: string, group: string, offset: number): Promise<void>;
  /** The offset just before the first message published at or after `time` (ms since the epoch), for replays from a time. */
  offsetAtTime(topic: string, time: number): Promise<number>;
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
  const wakeups = createPublishWakeups();
  return {
    async publish(topic, messages) {
      const offsets = await store.publish(topic, messages);
      wakeups.bump(topic);
      return offsets;
    },
    read: (topic, afterOffset, limit) => store.readTopic(topic, afterOffset, limit),
    loadGroupOffset: (topic, group) => store.loadGroupOffset(topic, group),
    saveGroupOffset: (topic, group, offset) => store.saveGroupOffset(topic, group, offset),
    offsetAtTime: (topic, time) => store.offsetAtTime(topic, time),
    version: (topic) => wakeups.version(topic),
    waitForPublish: (topic, version, signal, timeoutMs) => wakeups.wait(topic, version, signal, timeoutMs),
  };
}
