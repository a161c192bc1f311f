import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, SwitchboardError } from "../errors/index.js";
import { decodeGrpcMessage, FrameParser, frameMessage, frameMessages } from "../internal/grpc-framing.js";
import { type ConnectionReport, createChannelPool, type PooledConnection, targetOf, unaryHandlers } from "./channel-pool.js";
import { type CallOptions, type ClientStream, callLimit, type StreamHandlers, type UserFunctionClient, type UserFunctionClientOptions } from "./client.js";
import { describeFailure, grpcTimeout, httpStatusError, statusError } from "./failures.js";
import { type ReadingCall, readMessages } from "./responses.js";
import { type Decoder, decoderFor, type FrameEncoder, frameEncoderFor } from "./wire.js";
import { H2Connection, type H2Stream, headerField, type StreamHandler } from "../http2/connection.js";
import { ErrorCode } from "../http2/frames.js";
import { encodeHeaderBlock } from "../http2/hpack.js";
import type { CallSignal } from "../internal/call-signal.js";

/** How one method's calls go over the wire: its request head, encoded once, and its codecs. */
interface MethodCodec {
  readonly path: string;
  /** The request header block without a deadline. */
  readonly head: Uint8Array;
  readonly encode: FrameEncoder;
  readonly decode: Decoder;
}

/** One connection of the pool, with what the calls on it report back. */
class Link implements PooledConnection {
  constructor(
    readonly connection: H2Connection,
    readonly report: ConnectionReport,
    readonly target: string,
    readonly maxMessageSize: number,
  ) {}
  get active(): number {
    return this.connection.active;
  }
  get peerMaxStreams(): number {
    return this.connection.peerMaxStreams;
  }
  get unusable(): boolean {
    return this.connection.draining || this.connection.closed;
  }
  get lastHeardAt(): number {
    return this.connection.lastHeardAt;
  }
  ping(answered: () => void): boolean {
    return this.connection.ping(answered);
  }
  destroy(reason: string): void {
    this.connection.destroy(reason);
  }
  close(): void {
    this.connection.close();
  }
}

function onDeadline(call: Call<unknown>): void {
  call.fail(new SwitchboardError(`user function at ${call.link.target} did not answer in time`, Code.DeadlineExceeded));
}

/**
 * One gRPC call over a stream of our own HTTP/2 connection: frames the requests, parses the
 * responses and turns the status (trailers, a trailers-only answer, or a reset) into one
 * `onEnd`. It is the stream's handler and the call's writable side: one object per call.
 */
class Call<O> implements ClientStream<unknown>, StreamHandler, ReadingCall {
  stream!: H2Stream;
  private readonly parser: FrameParser;
  private ended = false;
  private answered = false;

  get over(): boolean {
    return this.ended;
  }
  private status: { code: number; message: string } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly link: Link,
    private readonly codec: MethodCodec,
    private readonly handlers: StreamHandlers<O>,
    private readonly signal: CallSignal | undefined,
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
    this.handlers.onEnd(error === undefined ? undefined : this.link.report.failure(error));
  }

  headers(fields: string[], end: boolean): void {
    if (this.ended) return;
    if (!this.answered) {
      this.answered = true;
      const status = headerField(fields, ":status");
      if (headerField(fields, "content-type")?.startsWith("application/grpc")) this.link.report.answered();
      if (status !== "200") {
        this.fail(httpStatusError(Number(status), this.link.target));
        return;
      }
    }
    const code = headerField(fields, "grpc-status");
    if (code !== undefined) this.status = { code: Number(code), message: decodeGrpcMessage(headerField(fields, "grpc-message") ?? "") };
    if (end) this.remoteEnded();
  }

  data(payload: Buffer, end: boolean): void {
    if (this.ended) return;
    if (payload.length > 0) {
      readMessages(this, this.parser, payload, this.codec.decode as (bytes: Uint8Array) => O, this.codec.path, this.handlers);
      if (this.ended) return;
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

/**
 * The client to the user function over the proxy's own HTTP/2 framing (`connection.ts`) on
 * a plain socket, a Unix socket or TLS: the shared connection pool (`channel-pool.ts`), a
 * stream per call, request heads encoded once per method.
 */
export function createBuiltinUserFunctionClient(options: UserFunctionClientOptions): UserFunctionClient {
  const socketPath = options.socket;
  const target = targetOf(options);
  // Over a Unix socket TLS is refused by the config; the authority is only a header then.
  const tls = socketPath === undefined ? options.tls : undefined;
  const authority = socketPath === undefined ? `${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}` : "localhost";
  const scheme = tls === undefined ? "http" : "https";
  const notHttp2 = `${target} is not an HTTP/2 gRPC server (it did not answer the HTTP/2 preface)${tls === undefined ? " (if it serves TLS, start the proxy with --user-function-tls)" : ""}`;

  const open = (): Socket => {
    if (socketPath !== undefined) return netConnect(socketPath);
    if (tls === undefined) return netConnect({ host: options.host, port: options.port, noDelay: true });
    const secure = tlsConnect({
      host: options.host,
      port: options.port,
      ALPNProtocols: ["h2"],
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      // SNI carries a host name only, never an address.
      ...(tls.serverName !== undefined ? { servername: tls.serverName } : /^[\d.]+$|:/.test(options.host) ? {} : { servername: options.host }),
    });
    // Small frames (a command after an entity's init, WINDOW_UPDATE, PING ACK) must not wait for Nagle.
    secure.setNoDelay(true);
    return secure;
  };
  const pool = createChannelPool(options, (report): Link => {
    const socket = open();
    const connection = new H2Connection(socket, {
      settled: () => report.settled(),
      goaway(code) {
        if (code === ErrorCode.NoError) report.goodbye();
        else report.failed(`the user function at ${target} closed the connection (GOAWAY code ${code})`);
        connection.close();
      },
      protocolError(detail) {
        report.failed(report.isSettled ? `HTTP/2 protocol error from the user function at ${target}: ${detail}` : notHttp2);
      },
    });
    socket.once(tls === undefined ? "connect" : "secureConnect", () => {
      report.connected();
      if (tls !== undefined && (socket as TLSSocket).alpnProtocol !== "h2") {
        report.failed(`the user function at ${target} did not agree to HTTP/2 over TLS (ALPN h2)`);
        connection.destroy(report.reason);
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => report.failed(describeFailure(error, target, report.isSettled, tls !== undefined, socketPath)));
    // First of the socket's close listeners: the pool settles the reason before the connection ends its streams with it.
    socket.prependListener("close", () => {
      report.closed();
      connection.destroy(report.reason);
    });
    return new Link(connection, report, target, options.maxMessageSize);
  });
  /** Opens a call on a pooled connection; `body` goes out with the head, and `end` half-closes at once. */
  const start = <O>(
    codec: MethodCodec,
    handlers: StreamHandlers<O>,
    callOptions: CallOptions | undefined,
    body: Uint8Array | undefined,
    end: boolean,
  ): Call<O> => {
    const link = pool.connectionFor();
    const deadline = callOptions?.deadline;
    const call = new Call(link, codec, handlers, callOptions?.signal, callLimit(callOptions));
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
        try {
          start(codec, unaryHandlers(codec.path, resolve, reject), callOptions, codec.encode(request), true);
        } catch (error) {
          reject(SwitchboardError.from(error, Code.Unavailable));
        }
      });
    },
    stream(method, handlers, callOptions) {
      const codec = codecOf(method);
      try {
        const first = method.methodKind === "server_streaming";
        return start(codec, handlers, callOptions, first ? codec.encode(callOptions?.first) : undefined, first);
      } catch (error) {
        const e = SwitchboardError.from(error, Code.Unavailable);
        queueMicrotask(() => handlers.onEnd(e));
        return { send() {}, sendEncoded() {}, end() {}, cancel() {} };
      }
    },
    onChannelEvent: (listener) => pool.onChannelEvent(listener),
    close: () => pool.close(),
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
