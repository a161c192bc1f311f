import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "../observability/logger.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Handlers of the front port, one per protocol family. */
export interface FrontHandlers {
  /** HTTP/2 streams (gRPC, and JSON and gRPC-Web over h2c). */
  onHttp2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void;
  /** HTTP/1.1 requests (probes, JSON and gRPC-Web). */
  onHttp1Request(request: http.IncomingMessage, response: http.ServerResponse): void;
}

/** Options of {@link createFrontServer}. */
export interface FrontServerOptions {
  host: string;
  port: number;
  handlers: FrontHandlers;
  logger: Logger;
}

/** The bound front port. */
export interface FrontServer {
  readonly host: string;
  readonly port: number;
  /** Stops accepting, lets open calls finish for up to `graceMs`, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Binds the one front port. Each TCP connection is sniffed: a connection that opens
 * with the HTTP/2 preface (prior-knowledge h2c, as gRPC clients use) goes to the
 * HTTP/2 server, anything else to the HTTP/1.1 server. Node's http2 server offers no
 * such fallback without TLS, hence the sniffing.
 */
export function createFrontServer(options: FrontServerOptions): Promise<FrontServer> {
  const { handlers, logger } = options;
  const h2 = http2.createServer({ maxSessionMemory: 64, settings: { maxConcurrentStreams: 10_000 } });
  h2.on("stream", (stream, headers) => {
    stream.on("error", (error) => logger.debug("http2 stream error", { error }));
    handlers.onHttp2Stream(stream, headers);
  });
  h2.on("sessionError", (error) => logger.debug("http2 session error", { error }));
  const h1 = http.createServer({ keepAliveTimeout: 5000 }, (request, response) => handlers.onHttp1Request(request, response));
  h1.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nmalformed HTTP request\n");
  });

  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setNoDelay(true);
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
      socket.off("readable", onReadable);
      socket.unshift(seen);
      if (isH2) h2.emit("connection", socket);
      else h1.emit("connection", socket);
    };
    socket.on("readable", onReadable);
  });

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
            server.close(() => done());
            h1.closeIdleConnections?.();
            for (const session of sessions) session.close();
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
