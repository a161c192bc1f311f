/**
 * A probe: an ordered queue of observed events that tests wait on, the TypeScript
 * counterpart of the Akka `TestProbe` the upstream TCK uses. Producers `push` as events
 * happen; a test calls `next` to take the oldest one, waiting up to a timeout, or
 * `expectNone` to assert that nothing arrives within a window.
 */
import { TckAssertionError } from "./assertion-error.js";

/** Default time an expectation waits, as in the upstream TCK (3 s). */
export const DEFAULT_EXPECT_TIMEOUT_MS = 3000;

/** An ordered queue of events with blocking, time-limited reads. */
export interface Probe<T> {
  /** Appends an event, waking the oldest waiting reader. */
  push(event: T): void;
  /**
   * Takes the oldest event, waiting up to `timeoutMs` for one to arrive.
   * @throws TckAssertionError naming `what` when nothing arrives in time.
   */
  next(what: string, timeoutMs?: number): Promise<T>;
  /**
   * Asserts that no event is queued and none arrives within `windowMs`. An event that
   * does arrive is consumed and reported.
   */
  expectNone(what: string, windowMs: number, describe?: (event: T) => string): Promise<void>;
  /** Removes and returns every queued event (used to isolate a failed test from the next). */
  drain(): T[];
  /** Number of queued events. */
  readonly size: number;
}

interface Waiter<T> {
  resolve(event: T): void;
}

/** Creates an empty {@link Probe}. */
export function createProbe<T>(): Probe<T> {
  const queue: T[] = [];
  const waiters: Waiter<T>[] = [];
  return {
    push(event) {
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(event);
      else queue.push(event);
    },
    next(what, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS) {
      if (queue.length > 0) return Promise.resolve(queue.shift() as T);
      return new Promise<T>((resolve, reject) => {
        const waiter: Waiter<T> = {
          resolve(event) {
            clearTimeout(timer);
            resolve(event);
          },
        };
        const timer = setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index >= 0) waiters.splice(index, 1);
          reject(new TckAssertionError(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    async expectNone(what, windowMs, describe = String) {
      const unexpected = (event: T) => new TckAssertionError(`expected no ${what}, got ${describe(event)}`);
      if (queue.length > 0) throw unexpected(queue.shift() as T);
      let event: T;
      try {
        event = await this.next(what, windowMs);
      } catch (error) {
        if (error instanceof TckAssertionError) return;
        throw error;
      }
      throw unexpected(event);
    },
    drain() {
      return queue.splice(0, queue.length);
    },
    get size() {
      return queue.length;
    },
  };
}
