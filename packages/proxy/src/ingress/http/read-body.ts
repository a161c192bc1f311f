import { Code, SwitchboardError } from "../../errors/index.js";
import type { HttpExchange } from "./exchange.js";

/** Result of {@link readBody}. */
export type ReadBodyResult = { readonly value: Buffer; readonly error?: undefined } | { readonly value?: undefined; readonly error: SwitchboardError };

/** The RESOURCE_EXHAUSTED error (HTTP 413) of a body over the limit. */
export function bodyTooLarge(limit: number, size?: number): SwitchboardError {
  return new SwitchboardError(`request body${size === undefined ? "" : ` of ${size} bytes`} exceeds the maximum of ${limit} bytes`, Code.ResourceExhausted);
}

/**
 * Reads the whole request body, up to `limit` bytes. A `content-length` over the limit
 * is refused before reading; a body that grows over it stops being read. Either way the
 * answer is RESOURCE_EXHAUSTED (413), and the caller should answer with
 * `endAndDiscard`, since the rest of the body is left unread.
 */
export function readBody(exchange: HttpExchange, limit: number): Promise<ReadBodyResult> {
  const declared = exchange.headers["content-length"];
  if (declared !== undefined) {
    const size = Number(declared);
    if (Number.isFinite(size) && size > limit) return Promise.resolve({ error: bodyTooLarge(limit, size) });
  }
  const whole = exchange.bodyBytes;
  if (whole !== undefined) return Promise.resolve(whole.length > limit ? { error: bodyTooLarge(limit, whole.length) } : { value: whole });
  const body = exchange.body;
  if (body.readableEnded) return Promise.resolve({ value: Buffer.alloc(0) });
  if (body.destroyed) return Promise.resolve({ error: new SwitchboardError("the client closed the request before its body ended", Code.Canceled) });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = (result: ReadBodyResult) => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        body.pause();
        settle({ error: bodyTooLarge(limit) });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle({ value: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total) });
    const onError = (error: Error) =>
      settle({ error: new SwitchboardError(`could not read the request body: ${error.message}`, Code.Canceled, { cause: error }) });
    const onClose = () => settle({ error: new SwitchboardError("the client closed the request before its body ended", Code.Canceled) });
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
    body.once("close", onClose);
  });
}

/** Reads and drops a request body nobody needs, so the connection can be reused. */
export function discardBody(exchange: HttpExchange): void {
  if (exchange.bodyBytes !== undefined) return;
  exchange.body.on("error", () => {});
  exchange.body.resume();
}
