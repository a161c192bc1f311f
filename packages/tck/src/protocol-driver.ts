/**
 * The direct driver of the user function (upstream testkit `TestProtocol`): opens
 * EventSourced, ValueEntity and Crdt streams and ActionProtocol calls straight to the user
 * function, for the "model" tests that check the language support without a proxy.
 */
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  type ActionCommand,
  ActionProtocol,
  type ActionResponse,
  ActionResponseSchema,
  Crdt,
  CrdtStreamInSchema,
  type CrdtStreamOut,
  CrdtStreamOutSchema,
  EventSourced,
  EventSourcedStreamOutSchema,
  ValueEntity,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import { CRDT_HANDLE_BEFORE_0_2, createCrdtTranslation } from "@switchboard/proxy/internal";
import { TckAssertionError } from "./assertion-error.js";
import { expectMessage } from "./compare.js";
import { type BidiStream, createGrpcClient, type GrpcClient, type ResponseStream } from "./grpc-client.js";
import { DEFAULT_EXPECT_TIMEOUT_MS } from "./probe.js";

/** One entity stream opened on the user function. */
export interface EntityStreamDriver<I extends DescMessage, O extends DescMessage> {
  /** Sends a message to the user function. */
  send(message: MessageShape<I>): this;
  /** Expects the next message from the user function to equal `expected` (after `normalize`). */
  expect(expected: MessageShape<O>, normalize?: (received: MessageShape<O>) => MessageShape<O>): Promise<this>;
  /** Takes the next message from the user function. */
  expectMessage(): Promise<MessageShape<O>>;
  /** Half-closes the stream and expects the user function to complete it (upstream `passivate`). */
  passivate(timeoutMs?: number): Promise<void>;
}

function entityStream<I extends DescMessage, O extends DescMessage>(call: BidiStream<I, MessageShape<O>>, outSchema: O): EntityStreamDriver<I, O> {
  return {
    send(message) {
      call.send(message);
      return this;
    },
    async expect(expected, normalize) {
      const received = await call.next();
      expectMessage(outSchema, normalize ? normalize(received) : received, expected, "message from the user function");
      return this;
    },
    expectMessage() {
      return call.next();
    },
    async passivate(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS) {
      call.complete();
      await call.expectComplete(timeoutMs);
    },
  };
}

/** A `handleStreamedIn` call opened on the user function. */
export interface ActionInDriver {
  send(command: ActionCommand): this;
  complete(): this;
  /** Expects the single response to equal `expected`. */
  expect(expected: ActionResponse): Promise<void>;
}

/** A `handleStreamedOut` or `handleStreamed` call opened on the user function. */
export interface ActionStreamDriver {
  send(command: ActionCommand): this;
  /** Expects the next response to equal `expected`. */
  expect(expected: ActionResponse): Promise<this>;
  /** Expects the user function to complete the response stream. */
  expectClosed(): Promise<void>;
  /** Half-closes the request stream and expects the user function to complete (upstream `complete`). */
  complete(): Promise<void>;
}

/** The direct driver of one user function. */
export interface ProtocolDriver {
  eventSourced(): EntityStreamDriver<typeof EventSourced.method.handle.input, typeof EventSourcedStreamOutSchema>;
  valueEntity(): EntityStreamDriver<typeof ValueEntity.method.handle.input, typeof ValueEntityStreamOutSchema>;
  crdt(): EntityStreamDriver<typeof Crdt.method.handle.input, typeof CrdtStreamOutSchema>;
  /** Calls `handleUnary` and expects the response to equal `expected`. */
  actionUnary(command: ActionCommand, expected: ActionResponse): Promise<void>;
  actionIn(): ActionInDriver;
  actionOut(command: ActionCommand): ActionStreamDriver;
  action(): ActionStreamDriver;
  /** Cancels every call still open. */
  cancelAll(): void;
  close(): void;
}

function actionStream(call: ResponseStream<ActionResponse> & { send?: (c: ActionCommand) => unknown; complete?: () => unknown }): ActionStreamDriver {
  return {
    send(command) {
      call.send?.(command);
      return this;
    },
    async expect(expected) {
      expectMessage(ActionResponseSchema, await call.next(), expected, "action response");
      return this;
    },
    expectClosed() {
      return call.expectComplete();
    },
    async complete() {
      call.complete?.();
      await call.expectComplete();
    },
  };
}

/**
 * A CRDT stream on the wire from before protocol 0.2, spoken in 0.2 messages: each message
 * goes through the proxy's own translation, so a model test checks the same thing as
 * against a 0.2 support.
 */
function crdtStreamBefore02(client: GrpcClient): BidiStream<typeof CrdtStreamInSchema, CrdtStreamOut> {
  const call = client.bidi(CRDT_HANDLE_BEFORE_0_2);
  const translation = createCrdtTranslation();
  return {
    events: call.events as unknown as BidiStream<typeof CrdtStreamInSchema, CrdtStreamOut>["events"],
    send(message) {
      call.send(translation.toOlder(create(CrdtStreamInSchema, message)));
      return this;
    },
    complete() {
      call.complete();
      return this;
    },
    async next(timeoutMs) {
      return translation.fromOlder(await call.next(timeoutMs));
    },
    expectComplete: (timeoutMs) => call.expectComplete(timeoutMs),
    expectError: (timeoutMs) => call.expectError(timeoutMs),
    expectNone: (windowMs) => call.expectNone(windowMs),
    cancel: () => call.cancel(),
  };
}

/** Options of {@link createProtocolDriver}. */
export interface ProtocolDriverOptions {
  /** The user function reported a protocol below 0.2: CRDT streams speak the older CRDT wire. */
  readonly crdtBefore02?: boolean;
}

/** Creates the driver of the user function at `host:port`. */
export function createProtocolDriver(
  host: string,
  port: number,
  client: GrpcClient = createGrpcClient(host, port),
  options: ProtocolDriverOptions = {},
): ProtocolDriver {
  return {
    eventSourced: () => entityStream(client.bidi(EventSourced.method.handle), EventSourcedStreamOutSchema),
    valueEntity: () => entityStream(client.bidi(ValueEntity.method.handle), ValueEntityStreamOutSchema),
    crdt: () => entityStream(options.crdtBefore02 ? crdtStreamBefore02(client) : client.bidi(Crdt.method.handle), CrdtStreamOutSchema),
    async actionUnary(command, expected) {
      expectMessage(ActionResponseSchema, await client.unary(ActionProtocol.method.handleUnary, command), expected, "action response");
    },
    actionIn() {
      const call = client.clientStream(ActionProtocol.method.handleStreamedIn);
      return {
        send(command) {
          call.send(command);
          return this;
        },
        complete() {
          call.complete();
          return this;
        },
        async expect(expected) {
          expectMessage(ActionResponseSchema, await withTimeout(call.response, "the streamed-in action response"), expected, "action response");
        },
      };
    },
    actionOut: (command) => actionStream(client.serverStream(ActionProtocol.method.handleStreamedOut, command)),
    action: () => actionStream(client.bidi(ActionProtocol.method.handleStreamed)),
    cancelAll: () => client.cancelAll(),
    close: () => client.close(),
  };
}

/** Rejects if `promise` does not settle within `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TckAssertionError(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
