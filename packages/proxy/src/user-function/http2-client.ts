import * as http2 from "node:http2";
import { connect as netConnect } from "node:net";
import type { DescMethod, MessageShape } from "@bufbuild/protobuf";
import { Code, SwitchboardError } from "../errors/index.js";
import { decodeGrpcMessage, FrameParser, frameMessage, frameMessages } from "../internal/grpc-framing.js";
import { type ConnectionReport, createChannelPool, type PooledConnection, targetOf, unaryHandlers } from "./channel-pool.js";
import { type CallOptions, type ClientStream, callLimit, type StreamHandlers, type UserFunctionClient, type UserFunctionClientOptions } from "./client.js";
import { describeFailure, grpcTimeout, httpStatusError, statusError } from "./failures.js";
import { type ReadingCall, readMessages } from "./responses.js";
import { type Decoder, decoderFor, type FrameEncoder, frameEncoderFor } from "./wire.js";
import type { CallSignal } from "../internal/call-signal.js";

const { NGHTTP2_CANCEL } = http2.constants;

/** Connection-level settings: large windows so big state transfers don't stall on flow control. */
const WINDOW = 16 * 1024 * 1024;

/** What a call needs of its connection: limits, names, and the connection's own bookkeeping (one object per connection, not per call). */
interface CallLink {
  readonly maxMessageSize: number;
  readonly target: string;
  /** The response head arrived. */
  response(headers: http2.IncomingHttpHeaders): void;
  /** The user function sent HEADERS or DATA on this connection (keep-alive reads it). */
  heard(): void;
  /** The stream failed; runs before its 'close'. */
  error(error: NodeJS.ErrnoException): void;
  /** The stream closed (after the call was settled). */
  closed(): void;
  /** The error the caller sees for a failure of this call. */
  failure(error: SwitchboardError): SwitchboardError;
}

const ONCE = Object.freeze({ once: true });

/** Where a stream keeps its call, so one set of listener functions serves every stream. */
const CALL = Symbol("call");
type CallStream = http2.ClientHttp2Stream & { [CALL]: Call<unknown> };

function onResponse(this: CallStream, headers: http2.IncomingHttpHeaders): void {
  this[CALL].link.heard();
  this[CALL].response(headers);
}
function onTrailers(this: CallStream, headers: http2.IncomingHttpHeaders): void {
  this[CALL].link.heard();
  this[CALL].readStatus(headers);
}
function onData(this: CallStream, chunk: Buffer): void {
  this[CALL].link.heard();
  this[CALL].data(chunk);
}
function onEnd(this: CallStream): void {
  this[CALL].remoteEnded();
}
function onClose(this: CallStream): void {
  this[CALL].closed();
}
function onDeadline(call: Call<unknown>): void {
  call.fail(new SwitchboardError(`user function at ${call.link.target} did not answer in time`, Code.DeadlineExceeded));
}

/**
 * One gRPC call over an HTTP/2 stream: frames the requests, parses the responses and
 * turns the status (trailers, trailers-only headers, or a reset) into one `onEnd`. It is
 * also the call's writable side. One object per call and shared listener functions (an
 * entity keeps its stream open for as long as it is active, so what a call holds is paid
 * per active entity).
 */
class Call<O> implements ClientStream<unknown>, ReadingCall {
  private readonly parser: FrameParser;
  private ended = false;

  get over(): boolean {
    return this.ended;
  }
  private status: { code: number; message: string } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly stream: http2.ClientHttp2Stream,
    private readonly path: string,
    private readonly decode: (bytes: Uint8Array) => O,
    private readonly encode: FrameEncoder,
    private readonly handlers: StreamHandlers<O>,
    private readonly signal: CallSignal | undefined,
    deadline: number | undefined,
    readonly link: CallLink,
  ) {
    this.parser = new FrameParser(link.maxMessageSize);
    (stream as CallStream)[CALL] = this as Call<unknown>;
    if (signal?.aborted) queueMicrotask(() => this.handleEvent());
    else signal?.addEventListener("abort", this, ONCE);
    if (deadline !== undefined) this.timer = setTimeout(onDeadline, Math.max(0, deadline - Date.now()), this);
    stream.on("response", onResponse);
    stream.on("trailers", onTrailers);
    stream.on("data", onData);
    // Reported through 'close' below, with the reset code; the connection notes why.
    stream.on("error", link.error);
    // The call is over once the user function ended its side with a status, even while
    // our side is still open (an entity stream the user function closed): close ours too.
    stream.on("end", onEnd);
    stream.on("close", onClose);
  }

  send(message: unknown): void {
    const stream = this.stream;
    if (!stream.closed && !stream.writableEnded) stream.write(this.encode(message));
  }

  sendEncoded(messages: readonly Uint8Array[]): void {
    const stream = this.stream;
    if (stream.closed || stream.writableEnded || messages.length === 0) return;
    stream.write(frameMessages(messages));
  }

  end(): void {
    const stream = this.stream;
    if (!stream.closed && !stream.writableEnded) stream.end();
  }

  cancel(): void {
    this.fail(new SwitchboardError("call cancelled", Code.Canceled));
  }

  /** The caller's signal aborted (this object is the signal's listener). */
  handleEvent(): void {
    this.cancel();
  }

  fail(error: SwitchboardError): void {
    this.finish(error);
    if (!this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
  }

  private finish(error: SwitchboardError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.signal?.removeEventListener("abort", this);
    this.handlers.onEnd(error === undefined ? undefined : this.link.failure(error));
  }

  readStatus(headers: http2.IncomingHttpHeaders): void {
    const raw = headers["grpc-status"];
    if (raw !== undefined) this.status = { code: Number(raw), message: decodeGrpcMessage(String(headers["grpc-message"] ?? "")) };
  }

  response(headers: http2.IncomingHttpHeaders): void {
    this.link.response(headers);
    const httpStatus = Number(headers[":status"]);
    if (httpStatus !== 200) {
      this.fail(httpStatusError(httpStatus, this.link.target));
      return;
    }
    this.readStatus(headers);
  }

  data(chunk: Buffer): void {
    if (!this.ended) readMessages(this, this.parser, chunk, this.decode, this.path, this.handlers);
  }

  remoteEnded(): void {
    const final = this.status;
    if (this.ended || final === undefined) return;
    this.finish(final.code === 0 ? undefined : statusError(final.code, final.message, this.link.target));
    // Half-closing here, on top of the remote end, completes the stream; an RST on a stream
    // that was just half-closed can spin Node 20's http2 session, so close only if still open.
    const stream = this.stream;
    if (!stream.closed && !stream.writableEnded) stream.end();
  }

  closed(): void {
    if (!this.ended) {
      const status = this.status;
      if (status === undefined) {
        const stream = this.stream;
        const reset = stream.rstCode !== undefined && stream.rstCode !== 0 ? ` (reset code ${stream.rstCode})` : "";
        this.finish(new SwitchboardError(`user function at ${this.link.target} is unavailable: the stream ended without a status${reset}`, Code.Unavailable));
      } else if (status.code === 0) {
        this.finish(undefined);
      } else {
        this.finish(statusError(status.code, status.message, this.link.target));
      }
    }
    this.link.closed();
  }
}

/** Opens one call on `session`. */
function openCall<O>(
  session: http2.ClientHttp2Session,
  codec: MethodCodec,
  handlers: StreamHandlers<O>,
  options: CallOptions | undefined,
  link: CallLink,
): Call<O> {
  const deadline = options?.deadline;
  const headers: http2.OutgoingHttpHeaders =
    deadline === undefined
      ? { ":method": "POST", ":path": codec.path, "content-type": "application/grpc", te: "trailers" }
      : { ":method": "POST", ":path": codec.path, "content-type": "application/grpc", te: "trailers", "grpc-timeout": grpcTimeout(deadline) };
  const stream = session.request(headers);
  return new Call(stream, codec.path, codec.decode as (bytes: Uint8Array) => O, codec.encode, handlers, options?.signal, callLimit(options), link);
}

/** How one method's messages go over the wire. */
interface MethodCodec {
  readonly path: string;
  readonly encode: FrameEncoder;
  readonly decode: Decoder;
}

/** One `node:http2` session of the pool: what the pool asks of it, and what its calls report back. */
class NodeConnection implements PooledConnection, CallLink {
  active = 0;
  lastHeardAt = 0;
  /** The peer sent GOAWAY: no new streams here. */
  draining = false;

  constructor(
    readonly session: http2.ClientHttp2Session,
    private readonly report: ConnectionReport,
    readonly target: string,
    readonly maxMessageSize: number,
    private readonly describe: (error: NodeJS.ErrnoException, settled: boolean) => string,
  ) {}

  get peerMaxStreams(): number | undefined {
    return this.session.remoteSettings.maxConcurrentStreams;
  }
  get unusable(): boolean {
    return this.draining || this.session.closed || this.session.destroyed;
  }
  ping(answered: () => void): boolean {
    return this.session.ping((error) => {
      if (error === null) answered();
    });
  }
  destroy(): void {
    this.session.destroy();
  }
  close(): void {
    this.session.close();
  }
  heard(): void {
    this.lastHeardAt = Date.now();
  }
  response(headers: http2.IncomingHttpHeaders): void {
    if (String(headers["content-type"] ?? "").startsWith("application/grpc")) this.report.answered();
  }
  readonly error = (error: NodeJS.ErrnoException): void => {
    if (!this.report.isSettled) this.report.failed(this.describe(error, false));
  };
  closed(): void {
    this.active--;
  }
  failure(error: SwitchboardError): SwitchboardError {
    return this.report.failure(error);
  }
}

/**
 * The client to the user function over `node:http2`, speaking gRPC directly: the shared
 * connection pool (`channel-pool.ts`), a stream per call, no per-call interceptors or
 * metadata objects.
 */
export function createHttp2UserFunctionClient(options: UserFunctionClientOptions): UserFunctionClient {
  const socket = options.socket;
  const target = targetOf(options);
  // Over a Unix socket TLS is refused by the config; the authority is only the :authority header then.
  const tls = socket === undefined ? options.tls : undefined;
  const authority =
    socket === undefined
      ? `${tls === undefined ? "http" : "https"}://${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`
      : "http://localhost";
  const connectOptions: http2.SecureClientSessionOptions = {
    settings: { initialWindowSize: WINDOW, enablePush: false },
    maxSessionMemory: 64,
    ...(socket !== undefined ? { createConnection: () => netConnect(socket) } : {}),
    ...(tls === undefined
      ? {}
      : {
          ALPNProtocols: ["h2"],
          ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
          ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
          ...(tls.key !== undefined ? { key: tls.key } : {}),
          ...(tls.serverName !== undefined ? { servername: tls.serverName } : {}),
        }),
  };
  const describe = (error: NodeJS.ErrnoException, settled: boolean) => describeFailure(error, target, settled, tls !== undefined, socket);
  const pool = createChannelPool(options, (report): NodeConnection => {
    const session = http2.connect(authority, connectOptions);
    const c = new NodeConnection(session, report, target, options.maxMessageSize, describe);
    session.on("connect", () => {
      report.connected();
      session.setLocalWindowSize(WINDOW);
    });
    session.on("remoteSettings", () => report.settled());
    session.on("error", (error: NodeJS.ErrnoException) => report.failed(describe(error, report.isSettled)));
    session.on("goaway", (errorCode: number) => {
      c.draining = true;
      if (errorCode === http2.constants.NGHTTP2_NO_ERROR) report.goodbye();
      else report.failed(`the user function at ${target} closed the connection (GOAWAY code ${errorCode})`);
    });
    session.on("close", () => report.closed());
    return c;
  });
  /** Opens a call on a pooled connection, counting its stream while it is open. */
  const open = <O>(codec: MethodCodec, handlers: StreamHandlers<O>, callOptions: CallOptions | undefined): Call<O> => {
    const c = pool.connectionFor();
    const call = openCall(c.session, codec, handlers, callOptions, c);
    c.active++;
    return call;
  };
  /** Path, request encoder and response decoder of each method, made once. */
  const codecs = new WeakMap<DescMethod, MethodCodec>();
  const codecOf = (method: DescMethod): MethodCodec => {
    let codec = codecs.get(method);
    if (codec === undefined) {
      codec = { path: `/${method.parent.typeName}/${method.name}`, encode: frameEncoderFor(method.input, frameMessage), decode: decoderFor(method.output) };
      codecs.set(method, codec);
    }
    return codec;
  };

  return {
    target,
    unary(method, request, callOptions?: CallOptions) {
      const codec = codecOf(method);
      return new Promise((resolve, reject) => {
        let call: Call<MessageShape<typeof method.output>>;
        try {
          call = open(codec, unaryHandlers<MessageShape<typeof method.output>>(codec.path, resolve, reject), callOptions);
        } catch (error) {
          reject(SwitchboardError.from(error, Code.Unavailable));
          return;
        }
        call.stream.end(codec.encode(request));
      });
    },
    stream(method, handlers, callOptions) {
      const codec = codecOf(method);
      let call: Call<MessageShape<typeof method.output>>;
      try {
        call = open(codec, handlers, callOptions);
      } catch (error) {
        const e = SwitchboardError.from(error, Code.Unavailable);
        queueMicrotask(() => handlers.onEnd(e));
        return { send() {}, sendEncoded() {}, end() {}, cancel() {} };
      }
      if (method.methodKind === "server_streaming") call.stream.end(codec.encode(callOptions?.first));
      return call;
    },
    onChannelEvent: (listener) => pool.onChannelEvent(listener),
    close: () => pool.close(),
  };
}
