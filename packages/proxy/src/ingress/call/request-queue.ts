import { Code, SwitchboardError } from "../../errors/index.js";

/** Options of {@link createRequestQueue}. */
export interface RequestQueueOptions {
  /** Messages held before the producer is asked to pause. */
  readonly highWaterMark: number;
  /** Stop reading the request body (flow control takes it from there). */
  pause(): void;
  /** Read the request body again. */
  resume(): void;
}

/** The request messages of a streaming call, as the router reads them. */
export interface RequestQueue extends AsyncIterable<Uint8Array> {
  push(message: Uint8Array): void;
  end(): void;
  fail(error: unknown): void;
}

/**
 * A bounded push-to-pull queue for the request messages of a streaming call: when
 * `highWaterMark` messages wait unread, the producer is paused, so a client that sends
 * faster than the user function takes messages is held back by HTTP/2 (or TCP) flow
 * control instead of growing the proxy's memory. Resumed once the reader caught up.
 */
export function createRequestQueue(options: RequestQueueOptions): RequestQueue {
  const values: Uint8Array[] = [];
  let head = 0;
  let state: { kind: "open" } | { kind: "ended" } | { kind: "failed"; error: unknown } = { kind: "open" };
  let waiting: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined;
  let paused = false;

  const size = () => values.length - head;
  const take = (): Uint8Array => {
    const value = values[head] as Uint8Array;
    values[head] = undefined as unknown as Uint8Array;
    head++;
    if (head === values.length) {
      values.length = 0;
      head = 0;
    }
    if (paused && size() <= options.highWaterMark / 2) {
      paused = false;
      options.resume();
    }
    return value;
  };
  const settle = () => {
    if (waiting === undefined) return;
    const w = waiting;
    if (size() > 0) {
      waiting = undefined;
      w.resolve({ value: take(), done: false });
    } else if (state.kind === "ended") {
      waiting = undefined;
      w.resolve({ value: undefined, done: true });
    } else if (state.kind === "failed") {
      waiting = undefined;
      w.reject(state.error);
    }
  };

  return {
    push(message) {
      if (state.kind !== "open") return;
      values.push(message);
      if (!paused && size() >= options.highWaterMark) {
        paused = true;
        options.pause();
      }
      settle();
    },
    end() {
      if (state.kind !== "open") return;
      state = { kind: "ended" };
      settle();
    },
    fail(error) {
      if (state.kind !== "open") return;
      state = { kind: "failed", error };
      values.length = 0;
      head = 0;
      settle();
    },
    [Symbol.asyncIterator]() {
      return {
        next() {
          if (waiting !== undefined) return Promise.reject(new SwitchboardError("request messages read concurrently", Code.Internal));
          return new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
            waiting = { resolve, reject };
            settle();
          });
        },
        return() {
          if (state.kind === "open") state = { kind: "ended" };
          values.length = 0;
          head = 0;
          if (paused) {
            paused = false;
            options.resume();
          }
          return Promise.resolve({ value: undefined, done: true });
        },
      };
    },
  };
}
