import { type DescMessage, type DescMethod, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Code, SwitchboardError } from "../errors/index.js";

/** Callbacks of an open user-function stream. Exactly one `onEnd` follows the last message. */
export interface StreamHandlers<O> {
  onMessage(message: O): void;
  /** The stream ended: cleanly (undefined) or with an error. */
  onEnd(error: SwitchboardError | undefined): void;
}

/** The writable side of an open user-function stream. */
export interface ClientStream<I> {
  send(message: I): void;
  /** Half-closes the stream (no more messages from the proxy). */
  end(): void;
  /** Cancels the call (RST); `onEnd` is still called, with a CANCELLED error. */
  cancel(): void;
}

/** Options of one call. */
export interface CallOptions {
  /** Absolute deadline (ms since epoch). */
  deadline?: number;
  signal?: AbortSignal;
}

/** Connectivity of the channel to the user function, as the router cares about it. */
export type ChannelEvent = "ready" | "lost";

/**
 * The only gRPC client to the user function. Entities, discovery and the router use
 * it through this interface; the grpc-js implementation below is the one adapter.
 */
export interface UserFunctionClient {
  /** `host:port` of the user function, for messages. */
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
  /** Calls `listener` when the channel becomes ready or is lost; returns an unsubscribe function. */
  onChannelEvent(listener: (event: ChannelEvent) => void): () => void;
  close(): void;
}

/** Options of {@link createUserFunctionClient}. */
export interface UserFunctionClientOptions {
  host: string;
  port: number;
  maxMessageSize: number;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Maps a grpc-js error from the user function to our error type. */
export function fromGrpcError(error: grpc.ServiceError | Error, target: string): SwitchboardError {
  const code = (error as grpc.ServiceError).code;
  const details = (error as grpc.ServiceError).details ?? error.message;
  if (code === grpc.status.UNAVAILABLE) {
    return new SwitchboardError(`user function at ${target} is unavailable: ${details}`, Code.Unavailable, { cause: error });
  }
  if (code === grpc.status.DEADLINE_EXCEEDED) {
    return new SwitchboardError(`user function at ${target} did not answer in time`, Code.DeadlineExceeded, { cause: error });
  }
  if (code === grpc.status.RESOURCE_EXHAUSTED) {
    return new SwitchboardError(`message from the user function is too large: ${details}`, Code.ResourceExhausted, { cause: error });
  }
  if (typeof code === "number" && code in Code) return new SwitchboardError(details, code as unknown as Code, { cause: error });
  return new SwitchboardError(details, Code.Unavailable, { cause: error });
}

/** Creates the grpc-js client to the user function (plaintext HTTP/2). */
export function createUserFunctionClient(options: UserFunctionClientOptions): UserFunctionClient {
  const target = `${options.host}:${options.port}`;
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": options.maxMessageSize,
    "grpc.max_send_message_length": options.maxMessageSize,
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 2000,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.client_idle_timeout_ms": 2_147_483_647,
    "grpc.enable_retries": 0,
  });
  const serializers = new WeakMap<DescMessage, (value: unknown) => Buffer>();
  const deserializers = new WeakMap<DescMessage, (value: Buffer) => unknown>();
  const serializer = (schema: DescMessage) => {
    let fn = serializers.get(schema);
    if (fn === undefined) {
      fn = (value: unknown) => toBuffer(toBinary(schema, value as MessageShape<DescMessage>));
      serializers.set(schema, fn);
    }
    return fn;
  };
  const deserializer = (schema: DescMessage) => {
    let fn = deserializers.get(schema);
    if (fn === undefined) {
      fn = (value: Buffer) => fromBinary(schema, value);
      deserializers.set(schema, fn);
    }
    return fn;
  };
  const pathOf = (method: DescMethod) => `/${method.parent.typeName}/${method.name}`;
  const callOptions = (options: CallOptions | undefined): grpc.CallOptions => (options?.deadline !== undefined ? { deadline: options.deadline } : {});

  const listeners = new Set<(event: ChannelEvent) => void>();
  let watching = false;
  let closed = false;
  let wasReady = false;
  const watch = () => {
    if (closed) return;
    const channel = client.getChannel();
    const state = channel.getConnectivityState(true);
    if (state === grpc.connectivityState.READY && !wasReady) {
      wasReady = true;
      for (const l of listeners) l("ready");
    } else if (wasReady && (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.IDLE)) {
      wasReady = false;
      for (const l of listeners) l("lost");
    }
    if (state === grpc.connectivityState.SHUTDOWN) return;
    channel.watchConnectivityState(state, Number.POSITIVE_INFINITY, () => watch());
  };

  return {
    target,
    unary(method, request, options) {
      return new Promise((resolve, reject) => {
        const call = client.makeUnaryRequest(
          pathOf(method),
          serializer(method.input),
          deserializer(method.output) as (b: Buffer) => MessageShape<typeof method.output>,
          request,
          new grpc.Metadata(),
          callOptions(options),
          (error, response) => {
            options?.signal?.removeEventListener("abort", onAbort);
            if (error) reject(fromGrpcError(error, target));
            else if (response === undefined) reject(new SwitchboardError("user function sent no response", Code.Internal));
            else resolve(response);
          },
        );
        const onAbort = () => call.cancel();
        options?.signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    stream(method, handlers, options) {
      const path = pathOf(method);
      const serialize = serializer(method.input);
      const deserialize = deserializer(method.output) as (b: Buffer) => MessageShape<typeof method.output>;
      let ended = false;
      const finish = (error: SwitchboardError | undefined) => {
        if (ended) return;
        ended = true;
        options?.signal?.removeEventListener("abort", onAbort);
        handlers.onEnd(error);
      };
      const onError = (error: grpc.ServiceError) => {
        if (error.code === grpc.status.CANCELLED) finish(new SwitchboardError("call cancelled", Code.Canceled, { cause: error }));
        else finish(fromGrpcError(error, target));
      };
      let call: grpc.ClientWritableStream<unknown> | grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>;
      if (method.methodKind === "client_streaming") {
        const writable = client.makeClientStreamRequest(path, serialize, deserialize, new grpc.Metadata(), callOptions(options), (error, response) => {
          if (error) onError(error);
          else {
            if (response !== undefined) handlers.onMessage(response);
            finish(undefined);
          }
        });
        call = writable;
      } else if (method.methodKind === "server_streaming") {
        const readable = client.makeServerStreamRequest(path, serialize, deserialize, options?.first, new grpc.Metadata(), callOptions(options));
        readable.on("data", (m: MessageShape<typeof method.output>) => handlers.onMessage(m));
        readable.on("error", onError);
        readable.on("end", () => finish(undefined));
        call = readable;
      } else {
        const duplex = client.makeBidiStreamRequest(path, serialize, deserialize, new grpc.Metadata(), callOptions(options));
        duplex.on("data", (m: MessageShape<typeof method.output>) => handlers.onMessage(m));
        duplex.on("error", onError);
        duplex.on("end", () => finish(undefined));
        call = duplex;
      }
      const onAbort = () => call.cancel();
      options?.signal?.addEventListener("abort", onAbort, { once: true });
      return {
        send(message) {
          if (!ended && "write" in call) call.write(message);
        },
        end() {
          if (!ended && "end" in call && typeof call.end === "function") call.end();
        },
        cancel() {
          call.cancel();
        },
      };
    },
    onChannelEvent(listener) {
      listeners.add(listener);
      if (!watching) {
        watching = true;
        watch();
      }
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      client.close();
    },
  };
}
