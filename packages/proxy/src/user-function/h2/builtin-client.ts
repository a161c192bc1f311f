import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { DescMethod, MessageShape } from "@bufbuild/protobuf";
import { Code, SwitchboardError } from "../../errors/index.js";
import { decodeGrpcMessage, FrameParser, frameMessage, frameMessages } from "../../internal/grpc-framing.js";
import type { CallOptions, ChannelEvent, ChannelLoss, ClientStream, StreamHandlers, UserFunctionClient, UserFunctionClientOptions } from "../client.js";
import { describeFailure, grpcTimeout, statusError } from "../failures.js";
import { type Decoder, decoderFor, type FrameEncoder, frameEncoderFor } from "../wire.js";
import { H2Connection, type H2Stream, type StreamHandler } from "./connection.js";
import { ErrorCode } from "./frames.js";
import { encodeHeaderBlock } from "./hpack.js";

/** How one method's calls go over the wire: its request head, encoded once, and its codecs. */
interface MethodCodec {
  readonly path: string;
  /** The request header block without a deadline. */
  readonly head: Uint8Array;
  readonly encode: FrameEncoder;
  readonly decode: Decoder;
}

/** One connection of the pool and what the calls on it report back. */
interface Link {
  readonly connection: H2Connection;
  readonly socket: Socket;
  readonly maxMessageSize: number;
  readonly target: string;
  /** The socket is up (TCP, and TLS when asked for). */
  connected: boolean;
  pingTimer: NodeJS.Timeout | undefined;
  /** A gRPC server answered on this connection. */
  answered(): void;
  /** The error the caller sees for a failure of a call on this connection. */
  failure(error: SwitchboardError): SwitchboardError;
}

function onDeadline(call: Call<unknown>): void {
  call.fail(new SwitchboardError(`user function at ${call.link.target} did not answer in time`, Code.DeadlineExceeded));
}

/**
 * One gRPC call over a stream of our own HTTP/2 connection: frames the requests, parses the
 * responses and turns the status (trailers, a trailers-only answer, or a reset) into one
 * `onEnd`. It is the stream's handler and the call's writable side: one object per call.
 */
class Call<O> implements ClientStream<unknown>, StreamHandler {
  stream!: H2Stream;
  private readonly parser: FrameParser;
  private ended = false;
  private answered = false;
  private status: { code: number; message: string } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly link: Link,
    private readonly codec: MethodCodec,
    private readonly handlers: StreamHandlers<O>,
    private readonly signal: AbortSignal | undefined,
    deadline: number | undefined,
  ) {
    this.parser = new FrameParser(link.maxMessageSize);
    if (signal?.aborted) queueMicrotask(() => this.cancel());
    else signal?.addEventListener("abort", this, ONCE);
    if (deadline !== undefined) this.timer = setTimeout(onDeadline, Math.max(0, deadline - Date.now()), this);
  }

  send(message: unknown): void {
    if (!this.ended) this.stream.write(this.codec.encode(message), false);
  }

  sendEncoded(messages: readonly Uint8Array[]): void {
    if (!this.ended && messages.length > 0) this.stream.write(frameMessages(messages), false);
  }

  end(): void {
    if (!this.ended) this.stream.write(undefined, true);
  }

  cancel(): void {
    this.fail(new SwitchboardError("call cancelled", Code.Canceled));
  }

  /** The caller's signal aborted (this object is the signal's listener). */
  handleEvent(): void {
    this.cancel();
  }

  fail(error: SwitchboardError): void {
    if (this.ended) return;
    this.finish(error);
    this.stream.reset(ErrorCode.Cancel);
  }

  private finish(error: SwitchboardError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.signal?.removeEventListener("abort", this);
    this.handlers.onEnd(error === undefined ? undefined : this.link.failure(error));
  }

  headers(fields: string[], end: boolean): void {
    if (this.ended) return;
    if (!this.answered) {
      this.answered = true;
      const status = field(fields, ":status");
      if (field(fields, "content-type")?.startsWith("application/grpc")) this.link.answered();
      if (status !== "200") {
        this.fail(new SwitchboardError(`user function at ${this.link.target} answered HTTP ${status}`, status === "503" ? Code.Unavailable : Code.Unknown));
        return;
      }
    }
    const code = field(fields, "grpc-status");
    if (code !== undefined) this.status = { code: Number(code), message: decodeGrpcMessage(field(fields, "grpc-message") ?? "") };
    if (end) this.remoteEnded();
  }

  data(payload: Buffer, end: boolean): void {
    if (this.ended) return;
    if (payload.length > 0) {
      let messages: Buffer[];
      try {
        messages = this.parser.push(payload);
      } catch (error) {
        const e = error as SwitchboardError;
        this.fail(
          e.code === Code.ResourceExhausted ? new SwitchboardError(`message from the user function is too large: ${e.rawMessage}`, Code.ResourceExhausted) : e,
        );
        return;
      }
      for (const message of messages) {
        let decoded: O;
        try {
          decoded = this.codec.decode(message) as O;
        } catch (error) {
          this.fail(new SwitchboardError(`cannot decode a message from the user function on ${this.codec.path}: ${(error as Error).message}`, Code.Internal));
          return;
        }
        this.handlers.onMessage(decoded);
        if (this.ended) return;
      }
    }
    if (end) this.remoteEnded();
  }

  /** The user function ended its side: the call is over, with its status. */
  private remoteEnded(): void {
    const status = this.status;
    if (status === undefined) {
      this.fail(new SwitchboardError(`user function at ${this.link.target} is unavailable: the stream ended without a status`, Code.Unavailable));
      return;
    }
    this.finish(status.code === 0 ? undefined : statusError(status.code, status.message, this.link.target));
    this.stream.closeLocal();
  }

  closed(code: number | undefined, lost: string | undefined): void {
    if (this.ended) return;
    const status = this.status;
    if (code === ErrorCode.RefusedStream) {
      this.finish(new SwitchboardError(`user function at ${this.link.target} is unavailable: it refused the call (it is going away)`, Code.Unavailable));
    } else if (status !== undefined && code === undefined && lost === undefined) {
      this.finish(status.code === 0 ? undefined : statusError(status.code, status.message, this.link.target));
    } else {
      const why = lost ?? `the stream ended without a status${code !== undefined && code !== 0 ? ` (reset code ${code})` : ""}`;
      this.finish(new SwitchboardError(`user function at ${this.link.target} is unavailable: ${why}`, Code.Unavailable));
    }
  }
}

const ONCE = Object.freeze({ once: true });

/** The value of the first field called `name` (header blocks are short: a scan beats a map). */
function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * The client to the user function over the proxy's own HTTP/2 framing (`connection.ts`)
 * on a plain socket, a Unix socket or TLS: a small pool of connections (a new one when
 * every open one is at the user function's stream limit or `maxStreamsPerConnection`), a
 * stream per call, request heads encoded once per method. Connections are PINGed while up,
 * so a hung user function counts as lost. After a loss it reconnects with backoff, reset
 * only once the user function answered a gRPC call (a port where something else listens is
 * not re-dialled in a tight loop), and reports `ready`/`lost` so the proxy can discover
 * again and tell readiness probes.
 */
export function createBuiltinUserFunctionClient(options: UserFunctionClientOptions): UserFunctionClient {
  const socketPath = options.socket;
  const target = socketPath === undefined ? `${options.host}:${options.port}` : `unix:${socketPath}`;
  // Over a Unix socket TLS is refused by the config; the authority is only a header then.
  const tls = socketPath === undefined ? options.tls : undefined;
  const authority = socketPath === undefined ? `${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}` : "localhost";
  const scheme = tls === undefined ? "http" : "https";
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? 10_000;
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 5_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const maxStreams = options.maxStreamsPerConnection ?? 4096;
  const maxConnections = options.maxConnections ?? 16;
  const minBackoff = options.minBackoffMs ?? 200;
  const maxBackoff = options.maxBackoffMs ?? 2_000;
  const listeners = new Set<(event: ChannelEvent, loss?: ChannelLoss) => void>();
  const pool: Link[] = [];
  let up = false;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let backoff = minBackoff;
  /** No new dial before this time (ms since epoch): the backoff holds for every caller. */
  let nextDialAt = 0;
  let lastFailure = `no connection to ${target} yet`;
  const notHttp2 = `${target} is not an HTTP/2 gRPC server (it did not answer the HTTP/2 preface)${tls === undefined ? " (if it serves TLS, start the proxy with --user-function-tls)" : ""}`;

  const emit = (event: ChannelEvent, loss?: ChannelLoss) => {
    for (const listener of listeners) listener(event, loss);
  };
  const scheduleReconnect = () => {
    if (closed || reconnectTimer !== undefined || listeners.size === 0 || pool.length > 0) return;
    reconnectTimer = setTimeout(
      () => {
        reconnectTimer = undefined;
        if (!closed && pool.length === 0) connect();
      },
      Math.max(0, nextDialAt - Date.now()),
    );
    reconnectTimer.unref();
  };
  /** The user function's stream limit as its last SETTINGS said: a connection still opening is assumed to get the same. */
  let peerLimit = Number.POSITIVE_INFINITY;
  const keepAlive = (link: Link) => {
    if (keepAliveIntervalMs <= 0) return;
    link.pingTimer = setTimeout(() => {
      link.pingTimer = undefined;
      if (link.connection.closed) return;
      let answered = false;
      const hung = setTimeout(() => {
        if (answered) return;
        lastFailure = `the user function at ${target} did not answer a keep-alive PING within ${keepAliveTimeoutMs} ms — is it hung?`;
        link.connection.destroy(lastFailure);
      }, keepAliveTimeoutMs);
      hung.unref();
      const sent = link.connection.ping(() => {
        answered = true;
        clearTimeout(hung);
        keepAlive(link);
      });
      if (!sent) clearTimeout(hung);
    }, keepAliveIntervalMs);
    link.pingTimer.unref();
  };
  const dial = (): Socket => {
    if (socketPath !== undefined) return netConnect(socketPath);
    if (tls === undefined) return netConnect({ host: options.host, port: options.port, noDelay: true });
    return tlsConnect({
      host: options.host,
      port: options.port,
      ALPNProtocols: ["h2"],
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      // SNI carries a host name only, never an address.
      ...(tls.serverName !== undefined ? { servername: tls.serverName } : /^[\d.]+$|:/.test(options.host) ? {} : { servername: options.host }),
    });
  };
  const connect = (): Link => {
    nextDialAt = Date.now() + backoff;
    backoff = Math.min(backoff * 2, maxBackoff);
    const socket = dial();
    /** Why this connection failed, once known (else its close says it). */
    let failure: string | undefined;
    let graceful = false;
    const connection = new H2Connection(
      socket,
      {
        settled() {
          peerLimit = connection.peerMaxStreams;
          clearTimeout(settleTimer);
          keepAlive(link);
          if (!up) {
            up = true;
            emit("ready");
          }
        },
        goaway(code) {
          if (code === ErrorCode.NoError) graceful = true;
          else lastFailure = failure = `the user function at ${target} closed the connection (GOAWAY code ${code})`;
          connection.close();
        },
        protocolError(detail) {
          lastFailure = failure = connection.settled ? `HTTP/2 protocol error from the user function at ${target}: ${detail}` : notHttp2;
        },
      },
      peerLimit,
    );
    const link: Link = {
      connection,
      socket,
      maxMessageSize: options.maxMessageSize,
      target,
      connected: false,
      pingTimer: undefined,
      answered() {
        // A gRPC server answered: the next reconnect after a loss starts from the shortest delay.
        backoff = minBackoff;
      },
      failure(error) {
        return error.code === Code.Unavailable && !connection.settled
          ? new SwitchboardError(`user function at ${target} is unavailable: ${lastFailure}`, Code.Unavailable)
          : error;
      },
    };
    pool.push(link);
    // A peer that accepts the connection but never speaks HTTP/2 (a TLS server sent a
    // plaintext preface, or anything silent) would hold every call on it forever.
    const settleTimer = setTimeout(() => {
      if (connection.settled || connection.closed) return;
      lastFailure = failure =
        tls === undefined
          ? `${target} did not answer the HTTP/2 preface within ${connectTimeoutMs} ms — is it an HTTP/2 gRPC server? (if it serves TLS, start the proxy with --user-function-tls)`
          : `the user function at ${target} did not complete TLS and HTTP/2 within ${connectTimeoutMs} ms`;
      connection.destroy(failure);
    }, connectTimeoutMs);
    settleTimer.unref();
    socket.once(tls === undefined ? "connect" : "secureConnect", () => {
      link.connected = true;
      if (tls !== undefined && (socket as TLSSocket).alpnProtocol !== "h2") {
        lastFailure = failure = `the user function at ${target} did not agree to HTTP/2 over TLS (ALPN h2)`;
        connection.destroy(failure);
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      lastFailure = failure = describeFailure(error, target, connection.settled, tls !== undefined, socketPath);
    });
    // First of the socket's close listeners: the reason is settled before the connection ends its streams with it.
    socket.prependListener("close", () => {
      clearTimeout(settleTimer);
      if (!connection.settled && failure === undefined && link.connected) {
        // Closed by the peer before any HTTP/2: not a gRPC server, or one that expects TLS.
        lastFailure = failure = `${target} closed the connection before speaking HTTP/2 — is it an HTTP/2 gRPC server?${
          tls === undefined ? " (if it serves TLS, start the proxy with --user-function-tls)" : ""
        }`;
      }
      connection.destroy(failure ?? (graceful ? `the user function at ${target} closed the connection` : lastFailure));
      if (link.pingTimer !== undefined) clearTimeout(link.pingTimer);
      const index = pool.indexOf(link);
      if (index >= 0) pool.splice(index, 1);
      if (up && !pool.some((other) => other.connection.settled && !other.connection.draining)) {
        up = false;
        emit("lost", { reason: graceful ? `the user function at ${target} closed the connection` : lastFailure, graceful: graceful || closed });
      }
      scheduleReconnect();
    });
    return link;
  };
  /** A connection with room for one more stream: an open one, else a new one while the pool has room. */
  const linkFor = (): Link => {
    if (closed) throw new SwitchboardError("the user-function client is closed", Code.Unavailable);
    let best: Link | undefined;
    for (const link of pool) {
      const c = link.connection;
      if (c.draining || c.closed) continue;
      if (c.active < Math.min(maxStreams, c.peerMaxStreams)) return link;
      if (best === undefined || c.active < best.connection.active) best = link;
    }
    if (pool.length === 0 && Date.now() < nextDialAt) {
      throw new SwitchboardError(`user function at ${target} is unavailable: ${lastFailure}`, Code.Unavailable);
    }
    if (best === undefined || pool.length < maxConnections) return connect();
    return best; // every connection is full: the stream waits on it until one ends
  };
  /** Opens a call on a pooled connection; `body` goes out with the head, and `end` half-closes at once. */
  const open = <O>(
    codec: MethodCodec,
    handlers: StreamHandlers<O>,
    callOptions: CallOptions | undefined,
    body: Uint8Array | undefined,
    end: boolean,
  ): Call<O> => {
    const link = linkFor();
    const deadline = callOptions?.deadline;
    const call = new Call(link, codec, handlers, callOptions?.signal, deadline);
    const head = deadline === undefined ? codec.head : withTimeout(codec.head, grpcTimeout(deadline));
    call.stream = link.connection.open(head, call, body, end);
    return call;
  };
  /** Path, request head, encoder and decoder of each method, made once. */
  const codecs = new WeakMap<DescMethod, MethodCodec>();
  const codecOf = (method: DescMethod): MethodCodec => {
    let codec = codecs.get(method);
    if (codec === undefined) {
      const path = `/${method.parent.typeName}/${method.name}`;
      const head = encodeHeaderBlock([
        [":method", "POST"],
        [":scheme", scheme],
        [":path", path],
        [":authority", authority],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
      ]);
      codec = { path, head, encode: frameEncoderFor(method.input, frameMessage), decode: decoderFor(method.output) };
      codecs.set(method, codec);
    }
    return codec;
  };

  return {
    target,
    unary(method, request, callOptions?: CallOptions) {
      const codec = codecOf(method);
      return new Promise((resolve, reject) => {
        let response: MessageShape<typeof method.output> | undefined;
        try {
          open(
            codec,
            {
              onMessage(message: MessageShape<typeof method.output>) {
                response = message;
              },
              onEnd(error) {
                if (error) reject(error);
                else if (response === undefined) reject(new SwitchboardError(`user function sent no response on ${codec.path}`, Code.Internal));
                else resolve(response);
              },
            },
            callOptions,
            codec.encode(request),
            true,
          );
        } catch (error) {
          reject(SwitchboardError.from(error, Code.Unavailable));
        }
      });
    },
    stream(method, handlers, callOptions) {
      const codec = codecOf(method);
      try {
        const first = method.methodKind === "server_streaming";
        return open(codec, handlers, callOptions, first ? codec.encode(callOptions?.first) : undefined, first);
      } catch (error) {
        const e = SwitchboardError.from(error, Code.Unavailable);
        queueMicrotask(() => handlers.onEnd(e));
        return { send() {}, sendEncoded() {}, end() {}, cancel() {} };
      }
    },
    onChannelEvent(listener) {
      listeners.add(listener);
      if (pool.length === 0 && !closed) {
        if (Date.now() >= nextDialAt) connect();
        else scheduleReconnect();
      } else if (up) listener("ready");
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      for (const link of [...pool]) link.connection.close();
    },
  };
}

/** A request head with a `grpc-timeout` field added (blocks without table updates join as they are). */
function withTimeout(head: Uint8Array, timeout: string): Uint8Array {
  const extra = encodeHeaderBlock([["grpc-timeout", timeout]]);
  const out = Buffer.allocUnsafe(head.byteLength + extra.byteLength);
  out.set(head, 0);
  out.set(extra, head.byteLength);
  return out;
}
