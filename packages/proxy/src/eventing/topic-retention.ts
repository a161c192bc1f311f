import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { TopicStore } from "../store/types.js";

/** Options of {@link startTopicRetention}. */
export interface TopicRetentionOptions {
  readonly store: Pick<TopicStore, "trimTopics">;
  /** Remove messages older than this (ms; absent: no age limit). */
  readonly retentionMs?: number;
  /** Keep at most this many bytes per topic (absent: no size limit). */
  readonly retentionBytes?: number;
  /** How often to trim (ms). */
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, "topicTrimmed">;
  /** The time the age limit is counted from (default `Date.now`). */
  readonly now?: () => number;
}

/** The running retention of the embedded broker. */
export interface TopicRetention {
  /** Stops trimming; resolves once a trim in progress is done. */
  close(): Promise<void>;
}

/**
 * Retention for the embedded broker: every `intervalMs`, removes from every topic the
 * messages older than `retentionMs` and the oldest beyond `retentionBytes`, through the
 * store (one durable write per run; the newest message of each topic always stays). It
 * does not wait for consumer groups: retention wins, and a group that is behind the first
 * retained offset resumes there (see `topic-source.ts`). Undefined when no limit is set.
 */
export function startTopicRetention(options: TopicRetentionOptions): TopicRetention | undefined {
  const { retentionMs, retentionBytes, logger } = options;
  if (retentionMs === undefined && retentionBytes === undefined) return undefined;
  const now = options.now ?? Date.now;
  /** The trim in progress, if any: one at a time, so a tick that finds one running skips. */
  let running: Promise<void> | undefined;
  let closed = false;

  async function trim(): Promise<void> {
    try {
      const trims = await options.store.trimTopics({
        ...(retentionMs === undefined ? {} : { publishedBefore: Math.max(0, now() - retentionMs) }),
        ...(retentionBytes === undefined ? {} : { maxBytes: retentionBytes }),
      });
      for (const { topic, removed, firstOffset } of trims) {
        options.metrics.topicTrimmed(topic, removed);
        logger.info("retention removed topic messages", { topic, removed, firstOffset });
      }
    } catch (error) {
      if (!closed) logger.warn("topic retention failed; trying again at the next interval", { error: (error as Error).message });
    }
  }

  function tick(): void {
    if (running !== undefined) return;
    running = trim().finally(() => {
      running = undefined;
    });
  }

  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  tick();
  logger.info("topic retention on", {
    ...(retentionMs === undefined ? {} : { retentionMs }),
    ...(retentionBytes === undefined ? {} : { retentionBytes }),
    intervalMs: options.intervalMs,
  });
  return {
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}
