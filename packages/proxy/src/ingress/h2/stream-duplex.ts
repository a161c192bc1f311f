import type { OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { Duplex } from "node:stream";
import type { H2Stream } from "../../http2/connection.js";
import { ErrorCode } from "../../http2/frames.js";
import { encodeHeaderBlock } from "../../http2/hpack.js";

/** The response-head options of Node's `ServerHttp2Stream.respond` that the handlers use. */
interface RespondOptions {
  endStream?: boolean;
  waitForTrailers?: boolean;
}

/**
 * A stream of the proxy's own HTTP/2 server dressed as the part of Node's
 * `ServerHttp2Stream` the front door's other handlers use (HTTP/JSON, gRPC-Web, server
 * reflection and the probes over h2c): a Duplex of the request body and the response
 * body, with `respond`, trailers (`waitForTrailers`, `wantTrailers`, `sendTrailers`) and
 * `close(code)`. Only gRPC proper skips it (`grpc/grpc-builtin.ts`); these paths pay for a
 * Node stream either way.
 */
class BuiltinServerStream extends Duplex {
  headersSent = false;
  private trailersWanted = false;
  private requestEnded: boolean;

  constructor(
    private readonly stream: H2Stream,
    requestEnded: boolean,
  ) {
    super({ allowHalfOpen: true });
    this.requestEnded = requestEnded;
    stream.handler = {
      headers: (_fields, end) => {
        if (end) this.endRequest();
      },
      data: (payload, end) => {
        if (payload.length > 0 && !this.push(payload)) stream.pause();
        if (end) this.endRequest();
      },
      closed: (code) => {
        if (this.destroyed) return;
        // Ended cleanly, or reset by the client (or lost with the connection) before it ended.
        if (code === undefined && this.writableFinished) this.destroy();
        else this.destroy(Object.assign(new Error(`stream closed${code === undefined ? "" : ` with code ${code}`}`), { code: "ERR_HTTP2_STREAM_ERROR" }));
      },
    };
    if (requestEnded) this.push(null);
  }

  private endRequest(): void {
    if (this.requestEnded) return;
    this.requestEnded = true;
    this.push(null);
  }

  override _read(): void {
    this.stream.resume();
  }

  respond(headers: OutgoingHttpHeaders = {}, options: RespondOptions = {}): void {
    if (this.headersSent || this.destroyed) return;
    this.headersSent = true;
    this.trailersWanted = options.waitForTrailers === true;
    const fields = fieldsOf(headers, String(headers[":status"] ?? 200));
    this.stream.sendHeaders(encodeHeaderBlock(fields), options.endStream === true);
    if (options.endStream === true) {
      // Nothing follows: the writable side is done too.
      this.end();
    }
  }

  sendTrailers(headers: OutgoingHttpHeaders): void {
    this.stream.sendHeaders(encodeHeaderBlock(fieldsOf(headers, undefined)), true);
  }

  /** Resets the stream with `code` (RST_STREAM), after what was written went out. */
  close(code: number = ErrorCode.NoError): void {
    if (this.stream.done) return;
    if (code === ErrorCode.NoError && this.writableFinished) this.stream.stopPeerAfterEnd();
    else this.stream.reset(code);
    if (!this.destroyed) this.destroy();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.headersSent) this.respond({ ":status": 200 });
    this.stream.write(chunk, false);
    if (this.stream.backlogged) this.stream.whenDrained(() => callback());
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.headersSent) this.respond({ ":status": 200 });
    if (this.stream.localEnded || this.stream.done) {
      callback();
      return;
    }
    if (this.trailersWanted) this.emit("wantTrailers");
    else this.stream.write(undefined, true);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.stream.done) {
      if (this.stream.localEnded) this.stream.stopPeerAfterEnd();
      else this.stream.reset(error === null ? ErrorCode.Cancel : ErrorCode.InternalError);
    }
    callback(error);
  }
}

/** Header fields of a response head (`status` set) or of trailers, with `:status` first. */
function fieldsOf(headers: OutgoingHttpHeaders, status: string | undefined): [string, string][] {
  const fields: [string, string][] = status === undefined ? [] : [[":status", status]];
  for (const name in headers) {
    if (name === ":status") continue;
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(value)) for (const one of value) fields.push([lower, String(one)]);
    else fields.push([lower, String(value)]);
  }
  return fields;
}

/**
 * Wraps a stream of the proxy's own HTTP/2 server for the handlers written against Node's
 * `ServerHttp2Stream`; they use only what {@link BuiltinServerStream} provides.
 */
export function asNodeStream(stream: H2Stream, requestEnded: boolean): ServerHttp2Stream {
  return new BuiltinServerStream(stream, requestEnded) as unknown as ServerHttp2Stream;
}
