/**
 * Adapters between grpc-js server calls and async iterables.
 *
 * @module
 */
import type { ServerDuplexStream, ServerReadableStream, ServerWritableStream } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { Logger } from "../logger.js";

type Call = ServerReadableStream<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/** An AbortSignal aborted when the client cancels `call` (or the call is otherwise torn down). */
export function cancellationSignal(call: Call | { on(event: "cancelled", listener: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort());
  return controller.signal;
}

/** Messages read ahead of the consumer past which the call is paused (HTTP/2 flow control then holds the sender). */
const READ_AHEAD = 16;

/**
 * The messages a client streams in. The iteration ends at the client's half-close, and also when
 * the call is cancelled (grpc-js then destroys the stream). Stopping the iteration early leaves
 * the call open, so a bidi call can go on writing.
 *
 * Messages are taken from the call's `data` events into a queue that the iterator drains: one
 * promise per message at most, where iterating the Readable itself costs several.
 */
export function readMessages<T>(call: ServerReadableStream<T, unknown> | ServerDuplexStream<T, unknown>): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => new MessageQueue<T>(call) };
}

class MessageQueue<T> implements AsyncIterator<T> {
  private readonly queue: T[] = [];
  private head = 0;
  private paused = false;
  private over = false;
  private failure: unknown;
  private waiting: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void } | undefined;
  private readonly onData = (message: T): void => {
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      waiting.resolve({ value: message, done: false });
      return;
    }
    this.queue.push(message);
    if (!this.paused && this.queue.length - this.head >= READ_AHEAD) {
      this.paused = true;
      this.call.pause();
    }
  };
  // The end of the client's stream, or a cancelled call closed without one: the input is over.
  private readonly onEnd = (): void => this.finish(undefined);
  private readonly onError = (error: unknown): void => this.finish(this.call.cancelled ? undefined : (error ?? new Error("the call failed")));

  constructor(private readonly call: ServerReadableStream<T, unknown> | ServerDuplexStream<T, unknown>) {
    call.on("data", this.onData);
    call.on("end", this.onEnd);
    call.on("close", this.onEnd);
    call.on("error", this.onError);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++] as T;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      if (this.paused && this.queue.length - this.head < READ_AHEAD / 2) {
        this.paused = false;
        this.call.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.over) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** The consumer stopped early: stop listening and leave the call open. */
  return(): Promise<IteratorResult<T>> {
    this.detach();
    this.over = true;
    this.queue.length = 0;
    this.head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  private finish(failure: unknown): void {
    if (this.over) return;
    this.over = true;
    this.failure = failure;
    this.detach();
    const waiting = this.waiting;
    if (waiting === undefined) return;
    this.waiting = undefined;
    if (failure !== undefined) waiting.reject(failure);
    else waiting.resolve({ value: undefined, done: true });
  }

  private detach(): void {
    this.call.off("data", this.onData);
    this.call.off("end", this.onEnd);
    this.call.off("close", this.onEnd);
    this.call.off("error", this.onError);
  }
}

function waitForDrain(call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      call.off("close", done);
      resolve();
    };
    call.on("drain", done);
    call.on("close", done);
  });
}

/**
 * Writes every message of `source` to `call`, honouring backpressure, then ends the call with
 * status OK. If the client cancels, it stops pulling from `source` (which closes it). If `source`
 * throws, which the runtimes do not do on purpose, the call ends with INTERNAL.
 */
export async function writeMessages<T>(
  call: ServerWritableStream<unknown, T> | ServerDuplexStream<unknown, T>,
  source: AsyncIterable<T>,
  logger: Logger,
): Promise<void> {
  try {
    for await (const message of source) {
      if (call.cancelled || call.destroyed) return;
      if (!call.write(message)) await waitForDrain(call);
    }
    if (!call.cancelled && !call.destroyed) call.end();
  } catch (error) {
    logger.error(`Internal error on ${call.getPath()}`, error);
    if (!call.cancelled && !call.destroyed) {
      call.emit("error", { code: status.INTERNAL, details: "Internal error in the user function" });
    }
  }
}
