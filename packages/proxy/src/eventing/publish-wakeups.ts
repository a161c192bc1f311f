/**
 * Per-topic wake-ups for readers at the end of a topic: a version number that changes with
 * every publish, and a wait for the next change. Shared by the brokers, each of which
 * calls {@link PublishWakeups.bump} when it learns of new messages.
 */
export interface PublishWakeups {
  /** Records that `topic` got messages and wakes its waiting readers. */
  bump(topic: string): void;
  /** A number that changes whenever `topic` gets messages. */
  version(topic: string): number;
  /** Resolves once `topic` changed after `version` was taken, when `signal` aborts, or after `timeoutMs`. */
  wait(topic: string, version: number, signal: AbortSignal, timeoutMs: number): Promise<void>;
}

/** Creates the wake-ups of one broker. */
export function createPublishWakeups(): PublishWakeups {
  const versions = new Map<string, number>();
  const waiters = new Map<string, Set<() => void>>();
  return {
    bump(topic) {
      versions.set(topic, (versions.get(topic) ?? 0) + 1);
      const waiting = waiters.get(topic);
      if (waiting !== undefined) for (const wake of [...waiting]) wake();
    },
    version: (topic) => versions.get(topic) ?? 0,
    wait(topic, version, signal, timeoutMs) {
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
