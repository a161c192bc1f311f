import * as http2 from "node:http2";
import type * as net from "node:net";
import { FRONT_PORT_DEFAULTS } from "../config/front-port.js";
import type { Logger } from "../observability/logger.js";

/** Timeouts and caps of the front port. */
export interface ConnectionLimits {
  /** A connection with no call in progress for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Time allowed for a request's headers to arrive (HTTP/1.1; HTTP/2 falls under the idle timeout). */
  readonly headerTimeoutMs: number;
  /** Time allowed for a new connection to show its protocol (and finish its TLS handshake). */
  readonly sniffTimeoutMs: number;
  /** How often an HTTP/2 session is PINGed. */
  readonly keepaliveIntervalMs: number;
  /** How long a PING may stay unanswered before the session is closed as dead. */
  readonly keepaliveTimeoutMs: number;
  /** Open connections; one over it is refused (503 or GOAWAY). */
  readonly maxConnections: number;
  /** Concurrent streams per HTTP/2 connection; one over it is refused with REFUSED_STREAM. */
  readonly maxConcurrentStreams: number;
  /** Memory an HTTP/2 session may use, in MB (Node's `maxSessionMemory`). */
  readonly http2SessionMemoryMb: number;
  /** Largest request head (headers and URL) in bytes; larger ones get 431. */
  readonly maxHeaderSize: number;
}

/** Defaults a public port can live with: the front port's configured defaults, one table. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = FRONT_PORT_DEFAULTS;

/** What the front port tracks of one HTTP/2 session. */
export interface SessionGuard {
  /** Counts a new stream; false when it is over the cap and must be refused. */
  admit(stream: http2.ServerHttp2Stream): boolean;
}

/**
 * Bounds one HTTP/2 session in time: a session with no open stream for the idle
 * timeout is closed with GOAWAY, and it is PINGed every keep-alive interval; a PING
 * left unanswered for the keep-alive timeout destroys it. The PING is also what frees
 * a session that nghttp2 gave up on after a bad frame: Node then reports nothing and
 * stops reading, so the peer's FIN would otherwise stay unread (CLOSE-WAIT) for good.
 */
export function guardHttp2Session(session: http2.ServerHttp2Session, limits: ConnectionLimits, logger: Logger): SessionGuard {
  let open = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    idleTimer = setTimeout(() => {
      logger.debug("closing an idle HTTP/2 session");
      session.close();
      // A GOAWAY to a peer that is gone never flushes: destroy after a grace period.
      setTimeout(() => session.destroy(), limits.keepaliveTimeoutMs).unref();
    }, limits.idleTimeoutMs);
    idleTimer.unref();
  };
  const keepalive = setInterval(() => {
    if (pingTimer !== undefined || session.destroyed) return;
    pingTimer = setTimeout(() => {
      logger.debug("HTTP/2 session did not answer a PING; closing it");
      session.destroy();
    }, limits.keepaliveTimeoutMs);
    pingTimer.unref();
    const sent = session.ping((error) => {
      if (error) return;
      clearTimeout(pingTimer);
      pingTimer = undefined;
    });
    if (!sent) session.destroy();
  }, limits.keepaliveIntervalMs);
  keepalive.unref();
  session.once("close", () => {
    clearInterval(keepalive);
    clearTimeout(idleTimer);
    clearTimeout(pingTimer);
  });
  armIdle();
  return {
    admit(stream) {
      if (open >= limits.maxConcurrentStreams) return false;
      open++;
      clearTimeout(idleTimer);
      stream.once("close", () => {
        open--;
        if (open === 0 && !session.closed) armIdle();
      });
      return true;
    },
  };
}

/** The header timeout of HTTP/1.1 connections. */
export interface HeaderTimeouts {
  /** Starts waiting for a request head on this connection. */
  arm(socket: net.Socket): void;
  /** The head arrived. */
  clear(socket: net.Socket): void;
}

/**
 * The HTTP/1.1 header timeout: from the moment a connection is handed over (and again
 * after each response), the next request's head must be complete within the header
 * timeout, however slowly its bytes drip in, or the connection is destroyed. (Node's
 * own check never starts for connections handed to the server by hand.)
 */
export function createHeaderTimeouts(limits: ConnectionLimits): HeaderTimeouts {
  // One timer and one close listener per connection, whatever the number of requests on
  // it: arming restarts the timer, clearing only marks it as not armed, and a timer that
  // fires while not armed does nothing. (A timer and a listener per request made a long
  // keep-alive connection grow without bound and cost a few % of a JSON call's CPU.)
  const guards = new WeakMap<net.Socket, HeaderGuard>();
  return {
    arm(socket) {
      if (socket.destroyed) return;
      let guard = guards.get(socket);
      if (guard === undefined) {
        guard = new HeaderGuard(socket, limits.headerTimeoutMs);
        guards.set(socket, guard);
        const armed = guard;
        socket.once("close", () => armed.stop());
      } else guard.restart();
    },
    clear(socket) {
      const guard = guards.get(socket);
      if (guard !== undefined) guard.armed = false;
    },
  };
}

/** The header timer of one HTTP/1.1 connection. */
class HeaderGuard {
  armed = true;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly socket: net.Socket,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(expire, timeoutMs, this);
    this.timer.unref();
  }

  restart(): void {
    this.armed = true;
    this.timer.refresh();
  }

  expired(): void {
    if (this.armed) this.socket.destroy();
  }

  stop(): void {
    this.armed = false;
    clearTimeout(this.timer);
  }
}

function expire(guard: HeaderGuard): void {
  guard.expired();
}

/** Answers an HTTP/2 stream over the per-connection cap: REFUSED_STREAM, which clients retry. */
export function refuseStream(stream: http2.ServerHttp2Stream): void {
  stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
}
