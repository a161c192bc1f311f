/**
 * @switchboard/sdk/testing: run entity handlers in memory, without a proxy or a socket.
 *
 * The runners go through the same code as the server (context, state handling, failure rules)
 * and round-trip requests, replies and state through the protobuf wire format, so what passes
 * here behaves the same behind a proxy. A handler that crashes (throws anything but a
 * `CommandFailure`) makes `call` reject with its error.
 *
 * @example
 * ```ts
 * import { testValueEntity } from "@switchboard/sdk/testing";
 * import { counter } from "./counter.js";
 *
 * const t = testValueEntity(counter, { entityId: "c1" });
 * await t.call("increase", { counterId: "c1", value: 2n });
 * const r = await t.call("getCurrentCounter", { counterId: "c1" });
 * assert.equal(r.reply?.value, 2n);
 * ```
 *
 * @module
 */
import type { DescMessage, DescMethod, DescService, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { MetadataInit, MetadataItem } from "../context/context.js";
import { createMetadata, metadataItemsFromInit } from "../context/context-impl.js";
import type { ActionDefinition } from "../entities/action/definition.js";
import { invokeBidiStreaming, invokeClientStreaming, invokeServerStreaming, invokeUnary } from "../entities/action/invoke.js";
import type { CommandResult, EffectCall } from "../entities/shared/outcome.js";
import type { ValueEntityDefinition } from "../entities/value/definition.js";
import { createValueEntityInstance } from "../entities/value/instance.js";

/** A call the proxy would make: a forward or a side effect. */
export interface EffectCallResult {
  /** Full name of the target service, e.g. `com.example.counter.CounterService`. */
  readonly service: string;
  /** Name of the target method as in the proto, e.g. `Increase`. */
  readonly method: string;
  /** The request for the target (a message of its input type). */
  readonly request: Message;
  /** The call's metadata entries. */
  readonly metadata: readonly MetadataItem[];
}

/** A side effect the proxy would run after the command. */
export interface SideEffectResult extends EffectCallResult {
  readonly synchronous: boolean;
}

/**
 * One answer of a handler. At most one of `reply`, `forward` and `failure` is set; none means
 * "no reply".
 */
export interface ActionTestResult<O extends DescMessage = DescMessage> {
  /** The reply message. */
  readonly reply?: MessageShape<O>;
  /** Where the call was forwarded. */
  readonly forward?: EffectCallResult;
  /** The failure description the caller would receive. */
  readonly failure?: string;
  /** Side effects, in the order they were registered. */
  readonly sideEffects: readonly SideEffectResult[];
}

/** The answer to a value entity command, with the state change the proxy would store. */
export interface ValueEntityTestResult<O extends DescMessage = DescMessage> extends ActionTestResult<O> {
  /** `update` or `delete` when the command changed the state. */
  readonly stateAction?: "update" | "delete";
}

/** Options of a test call. */
export interface TestCallOptions {
  /** The command's metadata (request headers). */
  metadata?: MetadataInit;
}

/** What `call` takes for method `M`: a request, or several for a client-streaming or bidi method. */
export type ActionTestInput<M extends DescMethod> = M["methodKind"] extends "unary" | "server_streaming"
  ? MessageInitShape<M["input"]>
  : Iterable<MessageInitShape<M["input"]>> | AsyncIterable<MessageInitShape<M["input"]>>;

/** What `call` gives for method `M`: one result, or one per response for a server-streaming or bidi method. */
export type ActionTestOutput<M extends DescMethod> = M["methodKind"] extends "unary" | "client_streaming"
  ? ActionTestResult<M["output"]>
  : ActionTestResult<M["output"]>[];

/** In-memory runner for an action, made by {@link testAction}. */
export interface ActionTestKit<S extends DescService> {
  /**
   * Calls the handler of `method` (its local name, e.g. `increaseMany`).
   *
   * @example
   * ```ts
   * const r = await testAction(counterFanout).call("increaseMany", { counterIds: ["a", "b"], value: 1n });
   * assert.deepEqual(r.sideEffects.map((e) => e.method), ["Increase", "Increase"]);
   * ```
   */
  call<K extends keyof S["method"] & string>(
    method: K,
    input: ActionTestInput<S["method"][K]>,
    options?: TestCallOptions,
  ): Promise<ActionTestOutput<S["method"][K]>>;
}

/** In-memory runner for one value entity, made by {@link testValueEntity}. */
export interface ValueEntityTestKit<S extends DescService, State extends DescMessage> {
  /** The entity's id. */
  readonly entityId: string;
  /** A copy of the current state (the initial state while nothing is stored). */
  readonly state: MessageShape<State>;
  /** Whether a state is stored: false before the first update and after a delete. */
  readonly hasState: boolean;
  /**
   * Sends the entity one command: the handler of `method` (its local name) with `request`.
   *
   * @example
   * ```ts
   * const r = await t.call("increase", { counterId: "c1", value: 2n });
   * assert.equal(r.stateAction, "update");
   * assert.equal(t.state.value, 2n);
   * ```
   */
  call<K extends keyof S["method"] & string>(
    method: K,
    request: MessageInitShape<S["method"][K]["input"]>,
    options?: TestCallOptions,
  ): Promise<ValueEntityTestResult<S["method"][K]["output"]>>;
}

/** Options of {@link testValueEntity}. */
export interface ValueEntityTestOptions<State extends DescMessage> {
  /** The entity id; defaults to `"test-entity"`. */
  entityId?: string;
  /** The stored state to start from; by default nothing is stored. */
  state?: MessageInitShape<State>;
}

function methodOf(service: DescService, localName: string): DescMethod {
  const method = service.method[localName];
  if (method === undefined) {
    throw new Error(`${service.typeName} has no method "${localName}"`);
  }
  return method;
}

/** Creates the request as the proxy would deliver it: encoded, then decoded. */
function overTheWire(schema: DescMessage, init: unknown): Message {
  return fromBinary(schema, toBinary(schema, create(schema, init as MessageInitShape<DescMessage>)));
}

async function* overTheWireAll(schema: DescMessage, inits: Iterable<unknown> | AsyncIterable<unknown>): AsyncGenerator<Message> {
  for await (const init of inits) yield overTheWire(schema, init);
}

function effectCall(call: EffectCall): EffectCallResult {
  return {
    service: call.method.parent.typeName,
    method: call.method.name,
    request: fromBinary(call.method.input, call.payload.value),
    metadata: call.metadata,
  };
}

function toTestResult<O extends DescMessage>(method: DescMethod, result: CommandResult): ActionTestResult<O> {
  const { outcome } = result;
  const sideEffects = result.sideEffects.map((e) => ({ ...effectCall(e), synchronous: e.synchronous }));
  switch (outcome.kind) {
    case "crash":
      throw outcome.error;
    case "no-reply":
      return { sideEffects };
    case "reply":
      return { reply: fromBinary(method.output, outcome.payload.value) as MessageShape<O>, sideEffects };
    case "forward":
      return { forward: effectCall(outcome.forward), sideEffects };
    case "failure":
      return { failure: outcome.description, sideEffects };
    default: {
      const unknown: never = outcome;
      throw new Error(`unknown outcome ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * An in-memory runner for an action definition: call its handlers as the proxy would and look at
 * the replies, forwards, failures and side effects.
 *
 * Unary and server-streaming methods take one request; client-streaming and bidi methods take
 * an array (or any iterable) of requests. Unary and client-streaming methods give one result;
 * streaming-out methods give one result per response.
 *
 * @example
 * ```ts
 * import { testAction } from "@switchboard/sdk/testing";
 * import { counterFanout } from "./counter.js";
 *
 * const r = await testAction(counterFanout).call("increaseMany", { counterIds: ["a", "b"], value: 3n });
 * assert.equal(r.sideEffects.length, 2);
 * assert.equal(r.sideEffects[0]?.service, "com.example.counter.CounterService");
 * ```
 */
export function testAction<S extends DescService>(definition: ActionDefinition<S>): ActionTestKit<S> {
  const erased = definition as unknown as ActionDefinition;
  return {
    async call(localName, input, options = {}) {
      const method = methodOf(definition.service, localName);
      const callOptions = {
        metadata: createMetadata(metadataItemsFromInit(options.metadata)),
        signal: new AbortController().signal,
      };
      const results: CommandResult[] = [];
      switch (method.methodKind) {
        case "unary":
          results.push(await invokeUnary(erased, method, overTheWire(method.input, input), callOptions));
          break;
        case "client_streaming":
          results.push(
            await invokeClientStreaming(erased, method, overTheWireAll(method.input, input as Iterable<unknown> | AsyncIterable<unknown>), callOptions),
          );
          break;
        case "server_streaming":
          for await (const r of invokeServerStreaming(erased, method, overTheWire(method.input, input), callOptions)) {
            results.push(r);
          }
          break;
        case "bidi_streaming": {
          const requests = overTheWireAll(method.input, input as Iterable<unknown> | AsyncIterable<unknown>);
          for await (const r of invokeBidiStreaming(erased, method, requests, callOptions)) {
            results.push(r);
          }
          break;
        }
      }
      const testResults = results.map((r) => toTestResult(method, r));
      const single = method.methodKind === "unary" || method.methodKind === "client_streaming";
      return (single ? testResults[0] : testResults) as ActionTestOutput<S["method"][typeof localName]>;
    },
  };
}

/**
 * An in-memory runner for one value entity: send it commands and look at the answers, the state
 * changes and the state, as the proxy would store it.
 *
 * @example
 * ```ts
 * import { testValueEntity } from "@switchboard/sdk/testing";
 * import { counter } from "./counter.js";
 *
 * const t = testValueEntity(counter, { entityId: "c1", state: { value: 5n } });
 * const r = await t.call("decrease", { counterId: "c1", value: 2n });
 * assert.equal(r.stateAction, "update");
 * assert.equal(t.state.value, 3n);
 * ```
 */
export function testValueEntity<S extends DescService, State extends DescMessage>(
  definition: ValueEntityDefinition<S, State>,
  options: ValueEntityTestOptions<State> = {},
): ValueEntityTestKit<S, State> {
  const erased = definition as unknown as ValueEntityDefinition;
  const entityId = options.entityId ?? "test-entity";
  const stored = options.state === undefined ? undefined : overTheWire(definition.state, options.state);
  const instance = createValueEntityInstance(erased, entityId, stored);
  return {
    entityId,
    get state() {
      return instance.state as MessageShape<State>;
    },
    get hasState() {
      return instance.hasState;
    },
    async call(localName, request, callOptions = {}) {
      const method = methodOf(definition.service, localName);
      const result = await instance.handle(method, overTheWire(method.input, request), {
        metadata: createMetadata(metadataItemsFromInit(callOptions.metadata)),
        signal: new AbortController().signal,
      });
      const testResult = toTestResult<S["method"][typeof localName]["output"]>(method, result);
      return result.stateAction === undefined ? testResult : { ...testResult, stateAction: result.stateAction.kind };
    },
  };
}
