import { Code, SwitchboardError } from "../errors/index.js";
import type { FrameParser } from "../internal/grpc-framing.js";
import type { StreamHandlers } from "./client.js";

/** A call reading its response body: whether it is over, and how it fails. */
export interface ReadingCall {
  readonly over: boolean;
  fail(error: SwitchboardError): void;
}

/**
 * Reads the gRPC messages completed by one chunk of a response body and hands each, decoded,
 * to `handlers`. A message over the size limit, a compressed one, or one that does not decode
 * fails the call instead. Stops as soon as the call is over (a handler may end it). Both
 * HTTP/2 stacks read their responses through this.
 */
export function readMessages<O>(
  call: ReadingCall,
  parser: FrameParser,
  chunk: Buffer,
  decode: (bytes: Uint8Array) => O,
  path: string,
  handlers: StreamHandlers<O>,
): void {
  let messages: Buffer[];
  try {
    messages = parser.push(chunk);
  } catch (error) {
    const e = error as SwitchboardError;
    call.fail(
      e.code === Code.ResourceExhausted ? new SwitchboardError(`message from the user function is too large: ${e.rawMessage}`, Code.ResourceExhausted) : e,
    );
    return;
  }
  for (const message of messages) {
    let decoded: O;
    try {
      decoded = decode(message);
    } catch (error) {
      call.fail(new SwitchboardError(`cannot decode a message from the user function on ${path}: ${(error as Error).message}`, Code.Internal));
      return;
    }
    handlers.onMessage(decoded);
    if (call.over) return;
  }
}
