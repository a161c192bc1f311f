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

/**
 * The messages a client streams in. The iteration ends at the client's half-close, and also when
 * the call is cancelled (grpc-js then destroys the stream). Stopping the iteration early leaves
 * the call open, so a bidi call can go on writing.
 */
export async function* readMessages<T>(call: ServerReadableStream<T, unknown> | ServerDuplexStream<T, unknown>): AsyncGenerator<T> {
  try {
    for await (const message of call.iterator({ destroyOnReturn: false })) {
      yield message as T;
    }
  } catch (error) {
    // A cancelled call is destroyed without an error, which iteration reports as a premature close.
    if (call.cancelled || (error as { code?: unknown }).code === "ERR_STREAM_PREMATURE_CLOSE") return;
    throw error;
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
