import { Code, SwitchboardError } from "../errors/index.js";
import type { ChannelEvent, ChannelLoss, StreamHandlers, UserFunctionClientOptions } from "./client.js";

/** One connection to the user function as the pool sees it, whichever HTTP/2 stack carries it. */
export interface PooledConnection {
  /** Streams open or waiting on it. */
  readonly active: number;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS, once its SETTINGS arrived. */
  readonly peerMaxStreams: number | undefined;
  /** No new stream may start here (GOAWAY either way, closing, closed). */
  readonly unusable: boolean;
  /** When the peer last sent HEADERS or DATA (ms since epoch; 0 before it did). */
  readonly lastHeardAt: number;
  /** Sends a PING; `answered` runs on its ACK. False when it could not be sent. */
  ping(answered: () => void): boolean;
  /** Closes at once; open streams end UNAVAILABLE (with `reason`, where the stack can say it). */
  destroy(reason: string): void;
  /** Takes no new streams and closes once the open ones are over. */
  close(): void;
}

/** What one connection tells the pool as it lives; the stack calls these from its own events. */
export interface ConnectionReport {
  /** The socket is up (TCP, and TLS when asked for). */
  connected(): void;
  /** The peer's first SETTINGS arrived: it speaks HTTP/2. */
  settled(): void;
  /** Why the connection failed, in words for the operator (the channel's last failure from now). */
  failed(reason: string): void;
  /** The peer said goodbye without error (GOAWAY NO_ERROR). */
  goodbye(): void;
  /** The connection is closed. */
  closed(): void;
  /** A gRPC server answered a call on it: the next reconnect after a loss starts from the shortest delay. */
  answered(): void;
  /** The error a call on this connection ends with: a call that failed before the peer spoke HTTP/2 gets the connection's reason. */
  failure(error: SwitchboardError): SwitchboardError;
  /** Whether the peer spoke HTTP/2 on it. */
  readonly isSettled: boolean;
  /** Why the connection is gone, for the calls it ends: its own failure, a goodbye, or the channel's last failure. */
  readonly reason: string;
}

/** The pool of connections to the user function, and the channel's state above them. */
export interface ChannelPool<C extends PooledConnection> {
  /** A connection with room for one more stream: an open one, else a new one while the pool has room. Throws UNAVAILABLE when closed or between dials. */
  connectionFor(): C;
  onChannelEvent(listener: (event: ChannelEvent, loss?: ChannelLoss) => void): () => void;
  close(): void;
}

/** The pool's record of one connection. */
interface Slot<C> {
  connection: C;
  report: ConnectionReport;
  settled: boolean;
  connected: boolean;
  graceful: boolean;
  /** Why this connection failed, once known. */
  failure: string | undefined;
  pingTimer: NodeJS.Timeout | undefined;
  /** When the last keep-alive PING went out (ms since epoch). */
  lastPingAt: number;
  /** PINGs sent since the user function last sent HEADERS or DATA. */
  unpaidPings: number;
  settleTimer: NodeJS.Timeout;
}

/** The target as messages name it: `host:port`, or `unix:<path>`. */
export function targetOf(options: UserFunctionClientOptions): string {
  return options.socket === undefined ? `${options.host}:${options.port}` : `unix:${options.socket}`;
}

/**
 * The connection pool both user-function clients share: a new connection when every open one
 * is at its stream limit (the user function's SETTINGS_MAX_CONCURRENT_STREAMS or
 * `maxStreamsPerConnection`), up to `maxConnections`. Quiet connections are PINGed (see
 * `keepAlive`), so a hung user function counts as lost; one whose peer never speaks HTTP/2 is given up after
 * `connectTimeoutMs`. After a loss it reconnects with backoff, which is reset only once the user
 * function answered a gRPC call (so a port where something else listens is not re-dialled in a
 * tight loop), and it reports `ready`/`lost` transitions so the proxy can discover again and
 * tell readiness probes. `dial` opens one connection of the stack in use and wires its events
 * to the report it is given.
 */
export function createChannelPool<C extends PooledConnection>(options: UserFunctionClientOptions, dial: (report: ConnectionReport) => C): ChannelPool<C> {
  const target = targetOf(options);
  const tls = options.socket === undefined ? options.tls : undefined;
  const tlsHint = tls === undefined ? " (if it serves TLS, start the proxy with --user-function-tls)" : "";
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? 10_000;
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 5_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const maxStreams = options.maxStreamsPerConnection ?? 4096;
  const maxConnections = options.maxConnections ?? 16;
  const minBackoff = options.minBackoffMs ?? 200;
  const maxBackoff = options.maxBackoffMs ?? 2_000;
  const listeners = new Set<(event: ChannelEvent, loss?: ChannelLoss) => void>();
  const pool: Slot<C>[] = [];
  let up = false;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let backoff = minBackoff;
  /** No new dial before this time (ms since epoch): the backoff holds for every caller. */
  let nextDialAt = 0;
  let lastFailure = `no connection to ${target} yet`;
  /** The user function's stream limit as its last SETTINGS said: a connection still opening is assumed to get the same. */
  let peerLimit = maxStreams;

  const emit = (event: ChannelEvent, loss?: ChannelLoss) => {
    for (const listener of listeners) listener(event, loss);
  };
  const scheduleReconnect = () => {
    if (closed || reconnectTimer !== undefined || listeners.size === 0 || pool.length > 0) return;
    reconnectTimer = setTimeout(
      () => {
        reconnectTimer = undefined;
        if (!closed && pool.length === 0) connectQuietly();
      },
      Math.max(0, nextDialAt - Date.now()),
    );
    reconnectTimer.unref();
  };
  /**
   * Keep-alive that gRPC servers accept. Their default policies (grpc-go, grpc-java, gRPC core)
   * count a PING that comes without their having sent HEADERS or DATA since the previous one
   * as a strike, and close the connection after the third (GOAWAY ENHANCE_YOUR_CALM,
   * "too_many_pings"); a PING every interval got an idle connection closed within 40 s. So a
   * PING goes out only once the connection has been quiet for the interval, and at most two in
   * a row while the user function sends nothing: it is found hung within interval + timeout
   * when it stops answering during a call or within two quiet intervals of its last answer,
   * and an idle connection costs two PINGs, not one every interval. Traffic needs no PING.
   */
  const keepAlive = (slot: Slot<C>) => {
    if (keepAliveIntervalMs <= 0) return;
    slot.pingTimer = setTimeout(() => {
      slot.pingTimer = undefined;
      if (!pool.includes(slot)) return;
      const now = Date.now();
      const heard = slot.connection.lastHeardAt;
      const paid = heard > slot.lastPingAt;
      if (now - heard < keepAliveIntervalMs || (!paid && slot.unpaidPings >= 2)) {
        keepAlive(slot); // traffic flows, or the user function owes an answer to two PINGs already
        return;
      }
      slot.unpaidPings = paid ? 1 : slot.unpaidPings + 1;
      slot.lastPingAt = now;
      let answered = false;
      const hung = setTimeout(() => {
        if (answered || !pool.includes(slot)) return;
        lastFailure = slot.failure = `the user function at ${target} did not answer a keep-alive PING within ${keepAliveTimeoutMs} ms — is it hung?`;
        slot.connection.destroy(lastFailure);
      }, keepAliveTimeoutMs);
      hung.unref();
      const sent = slot.connection.ping(() => {
        answered = true;
        clearTimeout(hung);
        keepAlive(slot);
      });
      if (!sent) {
        clearTimeout(hung);
        keepAlive(slot);
      }
    }, keepAliveIntervalMs);
    slot.pingTimer.unref();
  };
  const connect = (): C => {
    nextDialAt = Date.now() + backoff;
    backoff = Math.min(backoff * 2, maxBackoff);
    // A peer that accepts the connection but never speaks HTTP/2 (a TLS server sent a
    // plaintext preface, or anything silent) would hold every call on it forever.
    const settleTimer = setTimeout(() => {
      if (slot.settled || !pool.includes(slot)) return;
      lastFailure = slot.failure =
        tls === undefined
          ? `${target} did not answer the HTTP/2 preface within ${connectTimeoutMs} ms — is it an HTTP/2 gRPC server?${tlsHint}`
          : `the user function at ${target} did not complete TLS and HTTP/2 within ${connectTimeoutMs} ms`;
      slot.connection.destroy(lastFailure);
    }, connectTimeoutMs);
    settleTimer.unref();
    const report: ConnectionReport = {
      connected() {
        slot.connected = true;
      },
      settled() {
        peerLimit = slot.connection.peerMaxStreams ?? maxStreams;
        if (slot.settled) return;
        slot.settled = true;
        clearTimeout(slot.settleTimer);
        keepAlive(slot);
        if (!up) {
          up = true;
          emit("ready");
        }
      },
      failed(reason) {
        lastFailure = slot.failure = reason;
      },
      goodbye() {
        slot.graceful = true;
      },
      answered() {
        backoff = minBackoff;
      },
      failure(error) {
        return error.code === Code.Unavailable && !slot.settled
          ? new SwitchboardError(`user function at ${target} is unavailable: ${lastFailure}`, Code.Unavailable)
          : error;
      },
      get isSettled() {
        return slot.settled;
      },
      get reason() {
        return slot.failure ?? (slot.graceful ? `the user function at ${target} closed the connection` : lastFailure);
      },
      closed() {
        const index = pool.indexOf(slot);
        if (index < 0) return;
        pool.splice(index, 1);
        clearTimeout(slot.settleTimer);
        if (slot.pingTimer !== undefined) clearTimeout(slot.pingTimer);
        if (!slot.settled && slot.failure === undefined && slot.connected) {
          // Closed by the peer before any HTTP/2: not a gRPC server, or one that expects TLS.
          lastFailure = `${target} closed the connection before speaking HTTP/2 — is it an HTTP/2 gRPC server?${tlsHint}`;
        }
        if (up && !pool.some((other) => other.settled && !other.connection.unusable)) {
          up = false;
          emit("lost", { reason: slot.graceful ? `the user function at ${target} closed the connection` : lastFailure, graceful: slot.graceful || closed });
        }
        scheduleReconnect();
      },
    };
    const slot: Slot<C> = {
      connection: undefined as unknown as C,
      report,
      settled: false,
      connected: false,
      graceful: false,
      failure: undefined,
      pingTimer: undefined,
      lastPingAt: 0,
      unpaidPings: 0,
      settleTimer,
    };
    try {
      slot.connection = dial(report);
    } catch (error) {
      // Refused before any socket (TLS material the TLS stack will not take): nothing to wait for.
      clearTimeout(settleTimer);
      lastFailure = `cannot connect to ${target}: ${(error as Error).message}`;
      throw new SwitchboardError(`user function at ${target} is unavailable: ${lastFailure}`, Code.Unavailable, { cause: error });
    }
    pool.push(slot);
    return slot.connection;
  };
  /** Dials from a timer or a subscription, where nobody could take the error (it is kept as the last failure). */
  const connectQuietly = () => {
    try {
      connect();
    } catch {
      scheduleReconnect();
    }
  };

  return {
    connectionFor() {
      if (closed) throw new SwitchboardError("the user-function client is closed", Code.Unavailable);
      let best: Slot<C> | undefined;
      for (const slot of pool) {
        const c = slot.connection;
        if (c.unusable) continue;
        const limit = Math.min(maxStreams, slot.settled ? (c.peerMaxStreams ?? maxStreams) : peerLimit);
        if (c.active < limit) return c;
        if (best === undefined || c.active < best.connection.active) best = slot;
      }
      // No usable connection (none, or all going away): a new dial waits out the backoff.
      if (best === undefined && Date.now() < nextDialAt) {
        throw new SwitchboardError(`user function at ${target} is unavailable: ${lastFailure}`, Code.Unavailable);
      }
      if (best === undefined || pool.length < maxConnections) return connect();
      return best.connection; // every connection is full: the stream waits on it until one ends
    },
    onChannelEvent(listener) {
      listeners.add(listener);
      if (pool.length === 0 && !closed) {
        if (Date.now() >= nextDialAt) connectQuietly();
        else scheduleReconnect();
      } else if (up) listener("ready");
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      for (const slot of [...pool]) slot.connection.close();
    },
  };
}

/** The handlers of a unary call: the one response resolves, an error or a missing response rejects. */
export function unaryHandlers<O>(path: string, resolve: (response: O) => void, reject: (error: SwitchboardError) => void): StreamHandlers<O> {
  let response: O | undefined;
  return {
    onMessage(message) {
      response = message;
    },
    onEnd(error) {
      if (error) reject(error);
      else if (response === undefined) reject(new SwitchboardError(`user function sent no response on ${path}`, Code.Internal));
      else resolve(response);
    },
  };
}
