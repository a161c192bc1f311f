import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import type { SwitchboardError } from "../errors/index.js";
import type { CallSignal } from "../internal/call-signal.js";

/** Callbacks of an open user-function stream. Exactly one `onEnd` follows the last message. */
export interface StreamHandlers<O> {
  onMessage(message: O): void;
  /** The stream ended: cleanly (undefined) or with an error. */
  onEnd(error: SwitchboardError | undefined): void;
}

/** The writable side of an open user-function stream. */
export interface ClientStream<I> {
  send(message: I): void;
  /** Sends messages already encoded as `I` in one write (the hot path of journal replay). */
  sendEncoded(messages: readonly Uint8Array[]): void;
  /** Half-closes the stream (no more messages from the proxy). */
  end(): void;
  /** Cancels the call (RST); `onEnd` is still called, with a CANCELLED error. */
  cancel(): void;
}

/** Options of one call. */
export interface CallOptions {
  /**
   * Absolute deadline (ms since epoch) the call's caller asked for: sent to the user function
   * as `grpc-timeout`, and the call fails with DEADLINE_EXCEEDED when it passes.
   */
  deadline?: number;
  /**
   * The proxy's own limit (ms since epoch, the relay timeout): the call fails the same way when
   * it passes, but the user function is not told of it, as no client asked for it.
   */
  relayDeadline?: number;
  signal?: CallSignal;
}

/** When a call must have ended: the earlier of its deadline and its relay deadline, if any. */
export function callLimit(options: CallOptions | undefined): number | undefined {
  const deadline = options?.deadline;
  const relay = options?.relayDeadline;
  if (relay === undefined) return deadline;
  return deadline === undefined ? relay : Math.min(deadline, relay);
}

/** Connectivity of the channel to the user function, as the router cares about it. */
export type ChannelEvent = "ready" | "lost";

/** Why the channel was lost: `graceful` when the user function said goodbye (GOAWAY without error) or the proxy closed it. */
export interface ChannelLoss {
  readonly reason: string;
  readonly graceful: boolean;
}

/**
 * The only gRPC client to the user function. Entities, discovery and the router use
 * it through this interface; `http2-client.ts` implements it over `node:http2`.
 */
export interface UserFunctionClient {
  /** `host:port` of the user function (or `unix:<path>` for a socket), for messages. */
  readonly target: string;
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    request: MessageShape<I>,
    options?: CallOptions,
  ): Promise<MessageShape<O>>;
  /** Opens a client-streaming, server-streaming or bidi call. `first` is the request of a server-streaming call. */
  stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    handlers: StreamHandlers<MessageShape<O>>,
    options?: CallOptions & { first?: MessageShape<I> },
  ): ClientStream<MessageShape<I>>;
  /** Calls `listener` when the channel becomes ready or is lost (then with why); returns an unsubscribe function. */
  onChannelEvent(listener: (event: ChannelEvent, loss?: ChannelLoss) => void): () => void;
  close(): void;
}

/** TLS material for the connection to the user function (PEM contents, not paths). */
export interface UserFunctionTls {
  /** CA(s) the user function's certificate must chain to (absent: the system's roots). */
  readonly ca?: Buffer | undefined;
  /** Client certificate and key, for a user function that requires them (mTLS). */
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  /** The name its certificate must carry (absent: the host). */
  readonly serverName?: string | undefined;
}

/** Options of a user-function client. */
export interface UserFunctionClientOptions {
  host: string;
  port: number;
  /** Path of a Unix domain socket: when set, every connection goes there instead of `host:port`. */
  socket?: string | undefined;
  maxMessageSize: number;
  /** Speak TLS (HTTP/2 negotiated by ALPN) instead of plaintext HTTP/2. */
  tls?: UserFunctionTls | undefined;
  /** Keep-alive: PING the user function this often (ms) while connected; 0 turns it off. Default 10 s. */
  keepAliveIntervalMs?: number;
  /** A PING unanswered this long (ms) drops the connection as hung. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** A connection whose peer has not sent its HTTP/2 SETTINGS this long (ms) is given up (something that is no HTTP/2 server listens). Default 5 s. */
  connectTimeoutMs?: number;
  /** Most streams per connection before another connection is opened (the user function's own limit applies too). Default 4096. */
  maxStreamsPerConnection?: number;
  /** Most connections to the user function. Default 16. */
  maxConnections?: number;
  /** First reconnect delay (ms); doubles up to `maxBackoffMs`, and is reset only once a gRPC answer arrived. Default 200. */
  minBackoffMs?: number;
  /** Default 2000. */
  maxBackoffMs?: number;
}
