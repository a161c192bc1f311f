import type { IncomingHttpHeaders } from "node:http2";
import type { Duplex } from "node:stream";
import { H2Connection, type H2Stream } from "../../http2/connection.js";
import { ErrorCode } from "../../http2/frames.js";
import { encodeHeaderBlock } from "../../http2/hpack.js";
import type { Logger } from "../../observability/logger.js";
import type { ConnectionLimits } from "../connection-guard.js";

/** Our receive window per stream on the front port: what a paused request may hold unread. */
const STREAM_WINDOW = 1024 * 1024;

/** One HTTP/2 connection of the front port on the proxy's own HTTP/2 stack. */
export interface FrontConnection {
  /** No new streams (GOAWAY); the connection ends once the open ones are over. */
  close(): void;
  /** Ends the connection at once. */
  destroy(): void;
}

/** Options of {@link serveFrontConnection}. */
export interface FrontConnectionOptions {
  readonly limits: ConnectionLimits;
  readonly logger: Logger;
  /** The connection is over the connection cap: it is told GOAWAY and closed. */
  readonly overCap: boolean;
  /** A request: its stream and its headers as Node's HTTP/2 server shows them. */
  onStream(stream: H2Stream, headers: IncomingHttpHeaders, end: boolean): void;
  /** The connection is gone. */
  onClose(): void;
}

/**
 * Serves one front-port connection that opened with the HTTP/2 preface, on the proxy's own
 * HTTP/2 stack (`http2/connection.ts` in its server role), under the same bounds as the
 * `node:http2` server: at most `maxConcurrentStreams` streams (one more is refused with
 * REFUSED_STREAM, which clients retry), a connection with no stream for the idle timeout is
 * closed with GOAWAY, a PING every keep-alive interval and the connection destroyed when one
 * stays unanswered for the keep-alive timeout, request heads over `maxHeaderSize` answered 431
 * (past twice that the connection is closed: decoding them is the attack), malformed request
 * heads reset with PROTOCOL_ERROR.
 */
export function serveFrontConnection(socket: Duplex, options: FrontConnectionOptions): FrontConnection {
  const { limits, logger } = options;
  let idleTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  let keepalive: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      logger.debug("closing an idle HTTP/2 connection");
      connection.close();
      // A GOAWAY to a peer that is gone never flushes: destroy after a grace period.
      setTimeout(() => connection.destroy("idle"), limits.keepaliveTimeoutMs).unref();
    }, limits.idleTimeoutMs);
    idleTimer.unref();
  };
  const connection = new H2Connection(
    socket,
    {
      settled() {},
      goaway() {},
      protocolError(detail) {
        logger.debug("HTTP/2 protocol error on the front port", { detail });
      },
      idle() {
        if (!connection.closed) armIdle();
      },
    },
    {
      maxStreams: limits.maxConcurrentStreams,
      streamWindow: STREAM_WINDOW,
      maxHeaderListSize: limits.maxHeaderSize * 2,
      connectionWindow: limits.http2SessionMemoryMb * 1024 * 1024,
      accept(stream, fields, end) {
        clearTimeout(idleTimer);
        const headers = headerObject(fields);
        if (typeof headers === "string") {
          logger.debug("malformed HTTP/2 request head", { reason: headers });
          stream.reset(ErrorCode.ProtocolError);
          return;
        }
        if (headerListSize(fields) > limits.maxHeaderSize) {
          const body = Buffer.from(`request headers or URL larger than ${limits.maxHeaderSize} bytes\n`);
          stream.sendHeaders(
            encodeHeaderBlock([
              [":status", "431"],
              ["content-type", "text/plain; charset=utf-8"],
              ["content-length", String(body.length)],
            ]),
            false,
          );
          stream.write(body, true);
          if (!end) stream.stopPeerAfterEnd();
          return;
        }
        options.onStream(stream, headers, end);
      },
    },
  );
  socket.once("close", () => {
    clearTimeout(idleTimer);
    clearTimeout(pingTimer);
    clearInterval(keepalive);
    options.onClose();
  });
  if (options.overCap) {
    // Over the connection cap: a GOAWAY tells the client to come back later.
    connection.close();
    setTimeout(() => connection.destroy("over the connection cap"), 1000).unref();
    return { close() {}, destroy: () => connection.destroy("closed") };
  }
  keepalive = setInterval(() => {
    if (pingTimer !== undefined || connection.closed) return;
    pingTimer = setTimeout(() => {
      logger.debug("HTTP/2 connection did not answer a PING; closing it");
      connection.destroy("no answer to a PING");
    }, limits.keepaliveTimeoutMs);
    pingTimer.unref();
    const sent = connection.ping(() => {
      clearTimeout(pingTimer);
      pingTimer = undefined;
    });
    if (!sent) connection.destroy("closed");
  }, limits.keepaliveIntervalMs);
  keepalive.unref();
  armIdle();
  return {
    close: () => connection.close(),
    destroy: () => connection.destroy("closed"),
  };
}

/** Names a request head may not carry in HTTP/2 (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);
/** Headers that keep their first value when repeated, as Node's HTTP/2 server keeps them. */
const SINGLE_VALUED = new Set([":method", ":path", ":scheme", ":authority", "content-type", "content-length", "authorization", "user-agent", "host"]);

/**
 * The request head as an object, the shape Node's HTTP/2 server gives handlers: repeated
 * fields become arrays (cookies joined with `; `). A string says why the head is malformed.
 */
export function headerObject(fields: readonly string[]): IncomingHttpHeaders | string {
  const headers: IncomingHttpHeaders = {};
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* ":" */) {
      if (regular) return `pseudo-header ${name} after regular headers`;
      if (name !== ":method" && name !== ":path" && name !== ":scheme" && name !== ":authority") return `unknown pseudo-header ${name}`;
    } else {
      regular = true;
      if (name !== name.toLowerCase()) return `header name ${name} is not lower case`;
      if (CONNECTION_SPECIFIC.has(name) || (name === "te" && value !== "trailers")) return `connection-specific header ${name}`;
    }
    const earlier = headers[name];
    if (earlier === undefined) headers[name] = value;
    else if (SINGLE_VALUED.has(name)) {
      if (name.charCodeAt(0) === 58) return `pseudo-header ${name} repeated`;
    } else if (name === "cookie") headers.cookie = `${earlier}; ${value}`;
    else if (Array.isArray(earlier)) earlier.push(value);
    else (headers as Record<string, string | string[]>)[name] = [earlier as string, value];
  }
  if (headers[":method"] === undefined) return "no :method";
  if (headers[":method"] !== "CONNECT" && (headers[":path"] === undefined || headers[":path"] === "")) return "no :path";
  return headers;
}

/** The size of a request head as HTTP/2 counts it (RFC 9113 §6.5.2: name + value + 32 per field). */
function headerListSize(fields: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < fields.length; i += 2) size += (fields[i] as string).length + (fields[i + 1] as string).length + 32;
  return size;
}
