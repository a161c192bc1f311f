/**
 * A gRPC client over @grpc/grpc-js that speaks protobuf-es messages, for any service
 * descriptor: the TCK uses it for the model services on the proxy and for the protocol
 * services on the user function. Unary calls return promises; streaming calls return
 * handles whose responses land on a {@link Probe}, so tests wait on them with timeouts.
 */
import {
  create,
  type DescMessage,
  type DescMethodBiDiStreaming,
  type DescMethodClientStreaming,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { TckAssertionError } from "./assertion-error.js";
import type { StreamEvent } from "./connections.js";
import { createProbe, DEFAULT_EXPECT_TIMEOUT_MS, type Probe } from "./probe.js";

/** The status of a failed call. */
export interface CallError {
  readonly code: grpc.status;
  readonly details: string;
}

/** The error a unary call rejects with. */
export class GrpcCallError extends Error implements CallError {
  override readonly name = "GrpcCallError";
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    path: string,
  ) {
    super(`${path} failed with ${grpc.status[code] ?? code}: ${details}`);
  }
}

/** Responses of a call with a response stream. */
export interface ResponseStream<O> {
  /** Everything received, in order, ending with completion or an error. */
  readonly events: Probe<StreamEvent<O>>;
  /** Waits for the next response (it must be a message). */
  next(timeoutMs?: number): Promise<O>;
  /** Waits for the stream to complete successfully. */
  expectComplete(timeoutMs?: number): Promise<void>;
  /** Waits for the stream to fail, and returns its status. */
  expectError(timeoutMs?: number): Promise<CallError>;
  /** Asserts no response (nor end) arrives within `windowMs`. */
  expectNone(windowMs: number): Promise<void>;
  /** Cancels the call. */
  cancel(): void;
}

/** A call whose requests the test writes. */
export interface RequestStream<I extends DescMessage> {
  /** Writes one request. */
  send(request: MessageInitShape<I>): this;
  /** Half-closes the request stream. */
  complete(): this;
}

/** A bidirectional call. */
export interface BidiStream<I extends DescMessage, O> extends RequestStream<I>, ResponseStream<O> {}

/** A client-streaming call. */
export interface ClientStream<I extends DescMessage, O> extends RequestStream<I> {
  /** The single response, or the call's error. */
  readonly response: Promise<O>;
  /** Cancels the call. */
  cancel(): void;
}

/** A gRPC client of one target. */
export interface GrpcClient {
  /** Calls a unary method; rejects with {@link GrpcCallError} on a non-OK status. */
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    options?: { timeoutMs?: number },
  ): Promise<MessageShape<O>>;
  /** Starts a server-streaming call. */
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    request: MessageInitShape<I>,
  ): ResponseStream<MessageShape<O>>;
  /** Starts a client-streaming call. */
  clientStream<I extends DescMessage, O extends DescMessage>(method: DescMethodClientStreaming<I, O>): ClientStream<I, MessageShape<O>>;
  /** Starts a bidirectional call. */
  bidi<I extends DescMessage, O extends DescMessage>(method: DescMethodBiDiStreaming<I, O>): BidiStream<I, MessageShape<O>>;
  /** Cancels every call still open (between tests). */
  cancelAll(): void;
  /** Cancels open calls and closes the channel. */
  close(): void;
}

/** The gRPC path of a method. */
export function methodPath(method: { parent: { typeName: string }; name: string }): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function serializer<I extends DescMessage>(schema: I): (value: MessageInitShape<I>) => Buffer {
  return (value) => Buffer.from(toBinary(schema, create(schema, value)));
}

function deserializer<O extends DescMessage>(schema: O): (bytes: Buffer) => MessageShape<O> {
  return (bytes) => fromBinary(schema, bytes);
}

function responseStream<O>(
  what: string,
  call: grpc.ClientReadableStream<O> | grpc.ClientDuplexStream<unknown, O>,
  opened: Set<{ cancel(): void }>,
): ResponseStream<O> {
  const events: Probe<StreamEvent<O>> = createProbe();
  opened.add(call);
  call.on("data", (message: O) => events.push({ kind: "message", message }));
  call.on("error", () => {});
  call.on("status", (status: grpc.StatusObject) => {
    opened.delete(call);
    events.push(status.code === grpc.status.OK ? { kind: "complete" } : { kind: "error", code: status.code, details: status.details });
  });
  const describe = (event: StreamEvent<O>) =>
    event.kind === "message"
      ? "a response"
      : event.kind === "complete"
        ? "completion"
        : event.kind === "error"
          ? `status ${grpc.status[event.code] ?? event.code}: ${event.details}`
          : "an undecodable response";
  return {
    events,
    async next(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS) {
      const event = await events.next(`a response on ${what}`, timeoutMs);
      if (event.kind !== "message") throw new TckAssertionError(`expected a response on ${what}, got ${describe(event)}`);
      return event.message;
    },
    async expectComplete(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS) {
      const event = await events.next(`${what} to complete`, timeoutMs);
      if (event.kind !== "complete") throw new TckAssertionError(`expected ${what} to complete, got ${describe(event)}`);
    },
    async expectError(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS) {
      const event = await events.next(`${what} to fail`, timeoutMs);
      if (event.kind !== "error") throw new TckAssertionError(`expected ${what} to fail, got ${describe(event)}`);
      return { code: event.code, details: event.details };
    },
    expectNone(windowMs) {
      return events.expectNone(`response on ${what}`, windowMs, describe);
    },
    cancel() {
      call.cancel();
    },
  };
}

/** Creates a client of `host:port` (plaintext). */
export function createGrpcClient(host: string, port: number): GrpcClient {
  const client = new grpc.Client(`${host}:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": -1,
    "grpc.max_receive_message_length": -1,
  });
  const opened = new Set<{ cancel(): void }>();
  return {
    unary(method, request, options) {
      const path = methodPath(method);
      return new Promise((resolve, reject) => {
        const call = client.makeUnaryRequest(
          path,
          serializer(method.input),
          deserializer(method.output),
          request,
          new grpc.Metadata(),
          { deadline: Date.now() + (options?.timeoutMs ?? DEFAULT_EXPECT_TIMEOUT_MS) },
          (error, response) => {
            opened.delete(call);
            if (error) reject(new GrpcCallError(error.code, error.details, path));
            else if (response === undefined) reject(new GrpcCallError(grpc.status.INTERNAL, "no response", path));
            else resolve(response);
          },
        );
        opened.add(call);
      });
    },
    serverStream(method, request) {
      const path = methodPath(method);
      return responseStream(
        path,
        client.makeServerStreamRequest(path, serializer(method.input), deserializer(method.output), request, new grpc.Metadata(), {}),
        opened,
      );
    },
    clientStream(method) {
      const path = methodPath(method);
      let call!: grpc.ClientWritableStream<MessageInitShape<typeof method.input>>;
      const response = new Promise<MessageShape<typeof method.output>>((resolve, reject) => {
        call = client.makeClientStreamRequest(path, serializer(method.input), deserializer(method.output), new grpc.Metadata(), {}, (error, value) => {
          opened.delete(call);
          if (error) reject(new GrpcCallError(error.code, error.details, path));
          else if (value === undefined) reject(new GrpcCallError(grpc.status.INTERNAL, "no response", path));
          else resolve(value);
        });
      });
      response.catch(() => {});
      opened.add(call);
      return {
        response,
        send(request) {
          call.write(request);
          return this;
        },
        complete() {
          call.end();
          return this;
        },
        cancel() {
          call.cancel();
        },
      };
    },
    bidi(method) {
      const path = methodPath(method);
      const call = client.makeBidiStreamRequest(path, serializer(method.input), deserializer(method.output), new grpc.Metadata(), {});
      const responses = responseStream(path, call, opened);
      return {
        ...responses,
        send(request) {
          call.write(request);
          return this;
        },
        complete() {
          call.end();
          return this;
        },
      };
    },
    cancelAll() {
      for (const call of opened) call.cancel();
      opened.clear();
    },
    close() {
      this.cancelAll();
      client.close();
    },
  };
}

/**
 * Awaits a call that must fail and returns its status.
 * @throws TckAssertionError if the call succeeded.
 */
export async function expectCallFailure(call: Promise<unknown>, what: string): Promise<CallError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof GrpcCallError) return { code: error.code, details: error.details };
    throw error;
  }
  throw new TckAssertionError(`expected ${what} to fail, but it succeeded`);
}
