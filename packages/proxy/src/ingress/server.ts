import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { H2Stream } from "../http2/connection.js";
import type { Logger } from "../observability/logger.js";
import {
  type ConnectionLimits,
  createHeaderTimeouts,
  DEFAULT_CONNECTION_LIMITS,
  guardHttp2Session,
  refuseStream,
  type SessionGuard,
} from "./connection-guard.js";
import { type FrontConnection, serveFrontConnection } from "./h2/front-connection.js";
import { LeanHttp1Connection } from "./h1/lean-connection.js";
import type { HttpExchange } from "./http/exchange.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Marks a connection over the cap, to be refused once its HTTP/2 session exists. */
const OVER_CAP = Symbol("overCap");
/** A socket's own reference, readable through the proxy that `session.socket` is. */
const SELF = Symbol("self");
type MarkedSocket = net.Socket & { [OVER_CAP]?: boolean; [SELF]?: net.Socket };

/** Handlers of the front port, one per protocol family. */
export interface FrontHandlers {
  /** HTTP/2 streams (gRPC, and JSON and gRPC-Web over h2c). */
  onHttp2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void;
  /** HTTP/1.1 requests (probes, JSON and gRPC-Web) on Node's HTTP/1.1 server. */
  onHttp1Request(request: http.IncomingMessage, response: http.ServerResponse): void;
  /** HTTP/1.1 requests on the proxy's own HTTP/1.1 (without it, Node's server takes every HTTP/1.1 connection). */
  onHttp1Exchange?(exchange: HttpExchange): void;
  /** HTTP/2 streams on the proxy's own HTTP/2 server; `end` when the request has no body. */
  onBuiltinStream(stream: H2Stream, headers: http2.IncomingHttpHeaders, end: boolean): void;
}

/** TLS on the front port: PEM contents, not paths. */
export interface FrontTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA certificates that client certificates must chain to; set, it makes client certificates mandatory (mTLS). */
  readonly clientCa?: string | Buffer;
}

/** Options of {@link createFrontServer}. */
export interface FrontServerOptions {
  host: string;
  port: number;
  handlers: FrontHandlers;
  logger: Logger;
  /** Timeouts and caps; defaults in {@link DEFAULT_CONNECTION_LIMITS}. */
  limits?: Partial<ConnectionLimits>;
  /** Serve TLS (HTTP/2 and HTTP/1.1 chosen by ALPN) instead of cleartext. */
  tls?: FrontTls;
  /** Which HTTP/2 stack serves HTTP/2 connections (default `builtin`, the proxy's own). */
  http2?: "builtin" | "node";
  /**
   * Which HTTP/1.1 serves HTTP/1.1 connections (default `builtin`: the proxy's own for
   * common requests, `h1/lean-connection.ts`, handing the rest to Node's; `node`: Node's for all).
   */
  http1?: "builtin" | "node";
}

/** The bound front port. */
export interface FrontServer {
  readonly host: string;
  readonly port: number;
  /** Stops accepting, lets open calls finish for up to `graceMs`, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Binds the one front port. Each connection is sniffed: one that opens with the HTTP/2
 * preface (prior-knowledge h2c, as gRPC clients use, or `h2` chosen by ALPN over TLS)
 * goes to the HTTP/2 server (the proxy's own, `h2/front-connection.ts`, or Node's
 * `node:http2` with `http2: "node"`), anything else to the HTTP/1.1 server. Node's http2 server
 * offers no such fallback without TLS, hence the sniffing. Every connection is bounded
 * in time and number (`connection-guard.ts`): a connection that does not show its
 * protocol, its headers or any call in time is closed, HTTP/2 sessions are kept alive
 * (and found dead) with PINGs, and connections and streams over the caps are answered
 * with a refusal instead of being taken on.
 */
export function createFrontServer(options: FrontServerOptions): Promise<FrontServer> {
  const { handlers, logger } = options;
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const h2 = http2.createServer({
    maxSessionMemory: limits.http2SessionMemoryMb,
    maxHeaderListPairs: 256,
    // Refusals over the stream cap are answered per stream; they must not end the session.
    maxSessionInvalidFrames: 1_000_000,
    maxSessionRejectedStreams: 1_000_000,
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderSize * 2 },
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  const builtin = (options.http2 ?? "builtin") === "builtin";
  const connections = new Set<FrontConnection>();
  const guards = new WeakMap<http2.Http2Session, SessionGuard>();
  h2.on("session", (session) => {
    sessions.add(session);
    const raw = (session.socket as MarkedSocket | undefined)?.[SELF];
    session.once("close", () => {
      sessions.delete(session);
      // The socket of a closed session may never report its own close: count it out here.
      if (raw !== undefined) {
        sockets.delete(raw);
        raw.destroy();
      }
    });
    session.on("error", (error) => logger.debug("http2 session error", { error }));
    // session.socket is a proxy of the socket: the mark is read through it.
    if ((session.socket as MarkedSocket | undefined)?.[OVER_CAP] === true) {
      // Over the connection cap: a GOAWAY tells the client to come back later.
      session.close();
      setTimeout(() => session.destroy(), 1000).unref();
      return;
    }
    guards.set(session, guardHttp2Session(session, limits, logger));
    if (closing) session.close();
  });
  h2.on("stream", (stream, headers) => {
    stream.on("error", (error) => logger.debug("http2 stream error", { error }));
    const guard = stream.session === undefined ? undefined : guards.get(stream.session);
    if (guard !== undefined && !guard.admit(stream)) {
      refuseStream(stream);
      return;
    }
    if (headerSize(headers) > limits.maxHeaderSize) {
      const body = `request headers or URL larger than ${limits.maxHeaderSize} bytes\n`;
      stream.respond({ ":status": 431, "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
      stream.end(body);
      stream.resume();
      return;
    }
    handlers.onHttp2Stream(stream, headers);
  });
  const headerTimeouts = createHeaderTimeouts(limits);
  // HTTP/1.1 connections between requests, and the answers in progress on the others. The
  // server is fed its sockets by hand, so its own closeIdleConnections() never sees them:
  // close() ends the idle ones itself, tells the busy ones `connection: close` if their
  // answer has not started, and ends them once it is sent.
  const h1Idle = new Set<net.Socket>();
  const h1Answering = new Set<http.ServerResponse>();
  let closing = false;
  const h1 = http.createServer(
    { keepAliveTimeout: Math.min(5000, limits.idleTimeoutMs), maxHeaderSize: limits.maxHeaderSize, headersTimeout: limits.headerTimeoutMs },
    (request, response) => {
      const socket = request.socket;
      headerTimeouts.clear(socket);
      h1Idle.delete(socket);
      if (closing) response.setHeader("connection", "close");
      h1Answering.add(response);
      response.once("close", () => h1Answering.delete(response));
      response.once("finish", () => {
        if (closing) {
          socket.end();
          return;
        }
        h1Idle.add(socket);
        headerTimeouts.arm(socket);
      });
      handlers.onHttp1Request(request, response);
    },
  );
  h1.timeout = limits.idleTimeoutMs;
  h1.on("clientError", (error: NodeJS.ErrnoException, socket: net.Socket) => {
    if (!socket.writable) return;
    if (error.code === "HPE_HEADER_OVERFLOW" || error.code === "HPE_URI_OVERFLOW") {
      socket.end(
        `HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nrequest headers or URL larger than ${limits.maxHeaderSize} bytes\n`,
      );
      return;
    }
    socket.end("HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nmalformed HTTP request\n");
  });

  /** Gives an HTTP/1.1 connection to Node's server. */
  const toNodeHttp1 = (socket: net.Socket) => {
    headerTimeouts.arm(socket);
    h1Idle.add(socket);
    socket.once("close", () => h1Idle.delete(socket));
    h1.emit("connection", socket);
  };
  const leanHttp1 = (options.http1 ?? "builtin") === "builtin" ? handlers.onHttp1Exchange?.bind(handlers) : undefined;
  const leanConnections = new Set<LeanHttp1Connection>();

  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket) => {
    socket.on("error", () => socket.destroy());
    socket.setNoDelay(true);
  };
  /** Sniffs a (decrypted) connection and hands it to the server of its protocol. */
  const sniff = (socket: net.Socket, overCap: boolean) => {
    const timer = setTimeout(() => socket.destroy(), limits.sniffTimeoutMs);
    timer.unref();
    // Peek without switching the socket to flowing mode, then hand it over with the
    // bytes put back, so the chosen server parses the connection from its first byte.
    let seen: Buffer = Buffer.alloc(0);
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      if (n === 0) return;
      const isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && seen.length < PREFACE.length) return; // wait for the whole preface
      clearTimeout(timer);
      socket.off("readable", onReadable);
      socket.unshift(seen);
      if (isH2 && builtin) {
        const connection = serveFrontConnection(socket, {
          limits,
          logger,
          overCap,
          onStream: (stream, headers, end) => handlers.onBuiltinStream(stream, headers, end),
          onClose: () => connections.delete(connection),
        });
        if (!socket.destroyed) connections.add(connection);
        // Handed over while the port is closing: it takes what is in flight and nothing new.
        if (closing) connection.close();
      } else if (isH2) {
        (socket as MarkedSocket)[SELF] = socket;
        if (overCap) (socket as MarkedSocket)[OVER_CAP] = true;
        h2.emit("connection", socket);
      } else if (overCap) {
        socket.end("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\n\r\ntoo many connections\n");
        setTimeout(() => socket.destroy(), 1000).unref();
      } else if (leanHttp1 !== undefined) {
        const connection = new LeanHttp1Connection(socket, {
          limits,
          headerTimeouts,
          closing: () => closing,
          onExchange: leanHttp1,
          handOff: toNodeHttp1,
          onGone: (gone) => leanConnections.delete(gone),
        });
        leanConnections.add(connection);
        connection.start();
      } else toNodeHttp1(socket);
    };
    socket.on("readable", onReadable);
  };
  /** Counts a TCP connection; returns whether it is over the cap. */
  const admit = (socket: net.Socket): boolean => {
    const overCap = sockets.size >= limits.maxConnections;
    if (overCap) {
      // Refused connections are not counted: they are answered and closed within a second.
      logger.debug("connection over the cap refused", { connections: sockets.size, cap: limits.maxConnections });
      return true;
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    return false;
  };

  let server: net.Server;
  if (options.tls) {
    const secure = tls.createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      ALPNProtocols: ["h2", "http/1.1"],
      handshakeTimeout: limits.sniffTimeoutMs,
      ...(options.tls.clientCa !== undefined ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    });
    secure.on("connection", (socket: net.Socket) => {
      onConnection(socket);
      // Over TLS a refusal would cost a handshake: a connection over the cap is closed at once.
      if (admit(socket)) socket.destroy();
    });
    secure.on("tlsClientError", (error) => logger.debug("TLS handshake failed", { error: error.message }));
    secure.on("secureConnection", (socket: tls.TLSSocket) => {
      socket.on("error", () => socket.destroy());
      sniff(socket, false);
    });
    server = secure;
  } else {
    server = net.createServer((socket) => {
      onConnection(socket);
      sniff(socket, admit(socket));
    });
  }

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      const address = server.address() as net.AddressInfo;
      resolve({
        host: options.host,
        port: address.port,
        close(graceMs = 5000) {
          return new Promise<void>((done) => {
            closing = true;
            server.close(() => done());
            for (const socket of h1Idle) socket.end();
            for (const connection of leanConnections) connection.close();
            for (const response of h1Answering) if (!response.headersSent) response.setHeader("connection", "close");
            for (const session of sessions) session.close();
            for (const connection of connections) connection.close();
            const timer = setTimeout(() => {
              for (const socket of sockets) socket.destroy();
            }, graceMs);
            timer.unref();
            if (sockets.size === 0) {
              clearTimeout(timer);
            }
          });
        },
      });
    });
  });
}

/** The size of a request head as HTTP/2 counts it (RFC 9113 §6.5.2: name + value + 32 per field). */
function headerSize(headers: http2.IncomingHttpHeaders): number {
  let size = 0;
  for (const name in headers) {
    const value = headers[name];
    size += name.length + 32 + (Array.isArray(value) ? value.join("").length : String(value ?? "").length);
  }
  return size;
}
