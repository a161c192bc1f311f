import type * as http from "node:http";
import * as http2 from "node:http2";
import type { Readable } from "node:stream";
import { Code, SwitchboardError } from "../../errors/index.js";
import { CallAbort, type CallSignal } from "../../internal/call-signal.js";

/** Response headers as the exchanges take them. */
export type ResponseHeaders = Record<string, string | number | readonly string[]>;

/**
 * One HTTP request and its response, the same over HTTP/1.1 and HTTP/2 (h2c), so the
 * JSON and gRPC-Web handlers are written once. Node's compatibility API would do
 * this too, but it costs an object per request on HTTP/2 and hides stream resets.
 */
export interface HttpExchange {
  /** `GET`, `POST`, ... */
  readonly method: string;
  /** The request target: path and query, as received. */
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** `1.1` or `2`. */
  readonly httpVersion: "1.1" | "2";
  /**
   * Aborted when the client goes away before the response is complete. A {@link CallAbort},
   * not an `AbortSignal`: an `AbortController` per request was a few % of a JSON call's CPU.
   */
  readonly signal: CallSignal;
  /**
   * The request body stream (read it once). Read it with events, not `for await`:
   * leaving such a loop early destroys the stream, and with it the response.
   */
  readonly body: Readable;
  /** The whole request body, when it was read before the request was served (the proxy's own HTTP/1.1). */
  readonly bodyBytes?: Buffer;
  /** Whether the response head was sent. */
  readonly headersSent: boolean;
  /** Sends the status line and headers. */
  respond(status: number, headers: ResponseHeaders): void;
  /** Writes a body chunk; resolves when it may write more (backpressure) or the client left. */
  write(chunk: Buffer | string): Promise<void>;
  /** Ends the response, with a last chunk if given. */
  end(chunk?: Buffer | string): void;
  /**
   * Ends the response while a request body was left unread (an oversized upload):
   * HTTP/1.1 reads and drops the rest (up to a bound, then closes the connection),
   * HTTP/2 resets the stream with NO_ERROR once the response is out.
   */
  endAndDiscard(chunk?: Buffer | string): void;
}

/** The reason an exchange's signal carries when the client went away before the response was complete. */
export const CLIENT_LEFT = new SwitchboardError("the client went away before the response was complete", Code.Canceled);

/** How much of an unwanted request body HTTP/1.1 reads and drops before closing the connection. */
const DISCARD_BYTES = 64 * 1024 * 1024;
/** How long HTTP/1.1 waits for an unwanted request body to end. */
const DISCARD_MS = 10_000;

/** Wraps an HTTP/1.1 request and response. */
export function http1Exchange(request: http.IncomingMessage, response: http.ServerResponse): HttpExchange {
  const cancellation = new CallAbort();
  response.once("close", () => {
    if (!response.writableFinished) cancellation.abort(CLIENT_LEFT);
  });
  return {
    method: request.method ?? "GET",
    url: request.url ?? "/",
    headers: request.headers,
    httpVersion: "1.1",
    signal: cancellation,
    body: request,
    get headersSent() {
      return response.headersSent;
    },
    respond(status, headers) {
      response.writeHead(status, headers as http.OutgoingHttpHeaders);
    },
    write(chunk) {
      if (response.destroyed) return Promise.resolve();
      if (response.write(chunk)) return Promise.resolve();
      return waitForDrain(response, cancellation);
    },
    end(chunk) {
      if (chunk === undefined) response.end();
      else response.end(chunk);
    },
    endAndDiscard(chunk) {
      const socket = request.socket;
      const closing = !response.shouldKeepAlive;
      if (closing) {
        // With `Connection: close`, Node destroys the socket once the answer is written;
        // body bytes still arriving then make the kernel reset the connection, and the
        // client may lose the answer. Linger instead: half-close, read until the client
        // closes (bounded below), as servers do for early answers.
        (socket as { destroySoon?: () => void }).destroySoon = () => socket.end();
      }
      if (chunk === undefined) response.end();
      else response.end(chunk);
      // Read and drop the rest of the body. One that keeps coming past the allowance,
      // or for too long, loses the connection.
      let dropped = 0;
      const timer = setTimeout(() => socket.destroy(), DISCARD_MS);
      timer.unref();
      const done = () => clearTimeout(timer);
      socket.once("close", done);
      if (!closing) request.once("end", done);
      request.on("data", (data: Buffer) => {
        dropped += data.length;
        if (dropped > DISCARD_BYTES) {
          done();
          socket.destroy();
        }
      });
      request.on("error", () => {});
      request.resume();
    },
  };
}

/** Wraps an HTTP/2 stream and its request headers. */
export function http2Exchange(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): HttpExchange {
  const cancellation = new CallAbort();
  let ended = false;
  stream.once("close", () => {
    if (!ended || !stream.writableFinished) cancellation.abort(CLIENT_LEFT);
  });
  return {
    method: String(headers[":method"] ?? "GET"),
    url: String(headers[":path"] ?? "/"),
    headers,
    httpVersion: "2",
    signal: cancellation,
    body: stream,
    get headersSent() {
      return stream.headersSent;
    },
    respond(status, responseHeaders) {
      if (stream.destroyed || stream.closed) return;
      stream.respond({ ...responseHeaders, ":status": status } as http2.OutgoingHttpHeaders);
    },
    write(chunk) {
      if (stream.destroyed || stream.closed) return Promise.resolve();
      if (stream.write(chunk)) return Promise.resolve();
      return waitForDrain(stream, cancellation);
    },
    end(chunk) {
      ended = true;
      if (stream.destroyed) return;
      if (chunk === undefined) stream.end();
      else stream.end(chunk);
    },
    endAndDiscard(chunk) {
      ended = true;
      if (stream.destroyed) return;
      stream.once("finish", () => {
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
      if (chunk === undefined) stream.end();
      else stream.end(chunk);
    },
  };
}

function waitForDrain(
  writable: NodeJS.WritableStream & { once: NodeJS.EventEmitter["once"]; off: NodeJS.EventEmitter["off"] },
  signal: CallSignal,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      writable.off("drain", done);
      writable.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    writable.once("drain", done);
    writable.once("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
