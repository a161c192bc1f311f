/**
 * @switchboard/sdk/testing: run entity handlers in memory, without a proxy or a socket:
 * {@link testAction}, {@link testValueEntity}, {@link testEventSourcedEntity} and
 * {@link testCrdtEntity}.
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
import { clone, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { CrdtDelta, CrdtWriteConsistency } from "@switchboard/protocol";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { MetadataInit, MetadataItem } from "../context/context.js";
import { createMetadata, metadataItemsFromInit } from "../context/context-impl.js";
import type { Crdt } from "../crdt/crdt.js";
import type { ActionDefinition } from "../entities/action/definition.js";
import { invokeBidiStreaming, invokeClientStreaming, invokeServerStreaming, invokeUnary } from "../entities/action/invoke.js";
import type { CrdtEntityDefinition } from "../entities/crdt/definition.js";
import type { CrdtOutput } from "../entities/crdt/instance.js";
import { createCrdtInstance } from "../entities/crdt/instance.js";
import type { EventSourcedEntityDefinition } from "../entities/event-sourced/definition.js";
import { createEventSourcedInstance } from "../entities/event-sourced/instance.js";
import type { CommandResult, EffectCall, SideEffectRecord } from "../entities/shared/outcome.js";
import { packAny } from "../serde/any.js";
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

/** The answer to an event-sourced command, with the events and snapshot the proxy would persist. */
export interface EventSourcedTestResult<O extends DescMessage = DescMessage, Event extends DescMessage = DescMessage, State extends DescMessage = DescMessage>
  extends ActionTestResult<O> {
  /**
   * The events the command emitted, in order, as the journal holds them (encoded and decoded):
   * messages of the entity's event types, or `Any`s for other events. None when it failed.
   */
  readonly events: readonly (MessageShape<Event> | Any)[];
  /** The snapshot sent with the reply (the state after its events), if the events reached a multiple of `snapshotEvery`. */
  readonly snapshot?: MessageShape<State>;
}

/** Options of {@link testEventSourcedEntity}: the entity's history. */
export interface EventSourcedTestOptions<State extends DescMessage, Event extends DescMessage> {
  /** The entity id; defaults to `"test-entity"`. */
  entityId?: string;
  /** A snapshot to start from (with `snapshotSequence`); by default none. */
  snapshot?: MessageInitShape<State>;
  /** The sequence number of the last event in `snapshot`; defaults to 0. */
  snapshotSequence?: bigint | number;
  /** Events already in the journal after the snapshot, replayed in order: messages of the event types, or `Any`s. */
  events?: readonly (MessageShape<Event> | Any)[];
}

/** In-memory runner for one event-sourced entity, made by {@link testEventSourcedEntity}. */
export interface EventSourcedTestKit<S extends DescService, State extends DescMessage, Event extends DescMessage> {
  /** The entity's id. */
  readonly entityId: string;
  /** A copy of the current state. */
  readonly state: MessageShape<State>;
  /** The sequence number of the last event (given or emitted). */
  readonly sequenceNumber: bigint;
  /** Every event emitted by the commands so far, in order (not the given ones). */
  readonly emitted: readonly (MessageShape<Event> | Any)[];
  /**
   * Sends the entity one command: the handler of `method` (its local name) with `request`.
   *
   * @example
   * ```ts
   * const r = await t.call("addItem", { userId: "u1", productId: "p1", name: "Pen", quantity: 2 });
   * assert.equal(r.events[0]?.$typeName, "com.example.shoppingcart.persistence.ItemAdded");
   * ```
   */
  call<K extends keyof S["method"] & string>(
    method: K,
    request: MessageInitShape<S["method"][K]["input"]>,
    options?: TestCallOptions,
  ): Promise<EventSourcedTestResult<S["method"][K]["output"], Event, State>>;
}

function copyOfEvent(event: Message | Any, definition: EventSourcedEntityDefinition): Any {
  if (event.$typeName === AnySchema.typeName) return clone(AnySchema, event as Any);
  const schema = definition.eventTypes.find((t) => t.typeName === event.$typeName);
  if (schema === undefined) throw new TypeError(`${event.$typeName} is not an event type of ${definition.service.typeName}`);
  return packAny(schema, event);
}

/**
 * An in-memory runner for one event-sourced entity: given its history (a snapshot and events),
 * send it commands and look at the replies, the events they emit, the snapshots and the state,
 * as the proxy would see them.
 *
 * @example
 * ```ts
 * import { create } from "@bufbuild/protobuf";
 * import { testEventSourcedEntity } from "@switchboard/sdk/testing";
 * import { cart } from "./cart.js";
 *
 * // Given an item in the cart...
 * const t = testEventSourcedEntity(cart, {
 *   entityId: "u1",
 *   events: [create(ItemAddedSchema, { item: { productId: "p1", name: "Pen", quantity: 1 } })],
 * });
 * // ...when it is removed...
 * const r = await t.call("removeItem", { userId: "u1", productId: "p1" });
 * // ...then one ItemRemoved event is emitted and the cart is empty.
 * assert.deepEqual(r.events.map((e) => e.$typeName), ["com.example.shoppingcart.persistence.ItemRemoved"]);
 * assert.equal(t.state.items.length, 0);
 * ```
 */
export function testEventSourcedEntity<S extends DescService, State extends DescMessage, Events extends readonly DescMessage[]>(
  definition: EventSourcedEntityDefinition<S, State, Events>,
  options: EventSourcedTestOptions<State, Events[number]> = {},
): EventSourcedTestKit<S, State, Events[number]> {
  const erased = definition as unknown as EventSourcedEntityDefinition;
  const entityId = options.entityId ?? "test-entity";
  const instance = createEventSourcedInstance(erased, entityId);
  if (options.snapshot !== undefined) {
    const sequence = BigInt(options.snapshotSequence ?? 0);
    instance.applySnapshot(packAny(definition.state, create(definition.state, options.snapshot)), sequence);
  }
  let sequence = instance.sequenceNumber;
  for (const event of options.events ?? []) {
    sequence += 1n;
    instance.replayEvent(copyOfEvent(event, erased), sequence);
  }
  const emitted: (MessageShape<Events[number]> | Any)[] = [];
  return {
    entityId,
    get state() {
      return instance.state as MessageShape<State>;
    },
    get sequenceNumber() {
      return instance.sequenceNumber;
    },
    get emitted() {
      return [...emitted];
    },
    async call(localName, request, callOptions = {}) {
      const method = methodOf(definition.service, localName);
      const result = await instance.handle(method, overTheWire(method.input, request), {
        metadata: createMetadata(metadataItemsFromInit(callOptions.metadata)),
        signal: new AbortController().signal,
      });
      const testResult = toTestResult<S["method"][typeof localName]["output"]>(method, result);
      const events = result.events.map((e) => e.message as MessageShape<Events[number]> | Any);
      emitted.push(...events);
      return result.snapshot === undefined
        ? { ...testResult, events }
        : { ...testResult, events, snapshot: fromBinary(definition.state, result.snapshot.value) as MessageShape<State> };
    },
  };
}

/** A state change the proxy would apply (`CrdtStateAction`). */
export type CrdtStateChangeResult =
  | {
      readonly kind: "update";
      /** The one delta of the command's local changes. */
      readonly delta: CrdtDelta;
      readonly writeConsistency: CrdtWriteConsistency;
    }
  | { readonly kind: "delete"; readonly writeConsistency: CrdtWriteConsistency };

/** The answer to a CRDT command. */
export interface CrdtTestResult<O extends DescMessage = DescMessage> extends ActionTestResult<O> {
  /** The state change sent with the reply, if any. */
  readonly stateChange?: CrdtStateChangeResult;
  /** Whether the call stays open for streamed messages (`CrdtReply.streamed`). */
  readonly streamed: boolean;
}

/** A message pushed on an open streamed call. */
export interface CrdtStreamedTestMessage<O extends DescMessage = DescMessage> extends ActionTestResult<O> {
  /** Whether this message ends the call. */
  readonly endStream: boolean;
}

/** What a cancellation produced: the `onCancel` callback's side effects and state change. */
export interface CrdtCancelTestResult {
  readonly sideEffects: readonly SideEffectResult[];
  readonly stateChange?: CrdtStateChangeResult;
  /** The failure description if `onCancel` failed (a `CommandFailure`). */
  readonly failure?: string;
}

/** A streamed call opened by {@link CrdtTestKit.stream}. */
export interface CrdtTestStream<O extends DescMessage = DescMessage> {
  /** The command id the call got. */
  readonly commandId: bigint;
  /** The reply to the command (the call's first message, if it has a reply). */
  readonly reply: CrdtTestResult<O>;
  /** The messages pushed since, in order (they keep coming as the CRDT changes). */
  readonly messages: readonly CrdtStreamedTestMessage<O>[];
  /** Whether the call is over: not streamed, ended by `endStream()`, failed, or cancelled. */
  readonly ended: boolean;
  /**
   * Cancels the call as a client would (`StreamCancelled`): runs its `onCancel` callback.
   *
   * @example
   * ```ts
   * const watch = await t.stream("watch", { room: "r1" });
   * const cancelled = await watch.cancel();
   * assert.equal(cancelled.stateChange?.kind, "update");
   * ```
   */
  cancel(): Promise<CrdtCancelTestResult>;
}

/** Options of {@link testCrdtEntity}. */
export interface CrdtTestOptions {
  /** The entity id; defaults to `"test-entity"`. */
  entityId?: string;
  /** The CRDT the proxy holds already, as the delta `init` would carry; by default none. */
  delta?: MessageInitShape<typeof CrdtDeltaSchema>;
}

/** In-memory runner for one CRDT entity, made by {@link testCrdtEntity}. */
export interface CrdtTestKit<S extends DescService, C extends Crdt> {
  /** The entity's id. */
  readonly entityId: string;
  /** The entity's CRDT, or `undefined` while it has none (no command yet and nothing from the proxy). */
  readonly state: C | undefined;
  /** Whether the CRDT was deleted. */
  readonly deleted: boolean;
  /**
   * Sends the entity one command (not streamed): the handler of `method` with `request`.
   *
   * @example
   * ```ts
   * const r = await t.call("increment", { id: "c1", value: 2n });
   * assert.equal(r.stateChange?.kind, "update");
   * ```
   */
  call<K extends keyof S["method"] & string>(
    method: K,
    request: MessageInitShape<S["method"][K]["input"]>,
    options?: TestCallOptions,
  ): Promise<CrdtTestResult<S["method"][K]["output"]>>;
  /**
   * Calls a server-streaming method as a streamed call (`Command.streamed`), and keeps the call
   * to collect the messages later changes push.
   *
   * @example
   * ```ts
   * const watch = await t.stream("watch", { room: "r1" });
   * await t.call("join", { room: "r1", user: "alice" });
   * assert.deepEqual(watch.messages.at(-1)?.reply?.online, ["alice"]);
   * ```
   */
  stream<K extends keyof S["method"] & string>(
    method: K,
    request: MessageInitShape<S["method"][K]["input"]>,
    options?: TestCallOptions,
  ): Promise<CrdtTestStream<S["method"][K]["output"]>>;
  /**
   * Merges a delta as if replicated from elsewhere; open streamed calls hear of it.
   *
   * @example
   * ```ts
   * await t.applyDelta({ delta: { case: "pncounter", value: { change: 5n } } });
   * ```
   */
  applyDelta(delta: MessageInitShape<typeof CrdtDeltaSchema>): Promise<void>;
  /** Deletes the CRDT as the proxy would (it was deleted elsewhere). */
  delete(): void;
}

interface StreamRecord {
  readonly method: DescMethod;
  readonly messages: CrdtStreamedTestMessage[];
  ended: boolean;
}

function stateChangeResult(
  change: { kind: "update"; delta: CrdtDelta; writeConsistency: CrdtWriteConsistency } | { kind: "delete"; writeConsistency: CrdtWriteConsistency },
): CrdtStateChangeResult {
  return change.kind === "update"
    ? { kind: "update", delta: fromBinary(CrdtDeltaSchema, toBinary(CrdtDeltaSchema, change.delta)), writeConsistency: change.writeConsistency }
    : { kind: "delete", writeConsistency: change.writeConsistency };
}

function sideEffectResults(effects: readonly SideEffectRecord[]): SideEffectResult[] {
  return effects.map((e) => ({ ...effectCall(e), synchronous: e.synchronous }));
}

/**
 * An in-memory runner for one CRDT entity: send it commands, open streamed calls and cancel
 * them, merge deltas from elsewhere, and look at the replies, the deltas the proxy would receive
 * and the CRDT.
 *
 * @example
 * ```ts
 * import { testCrdtEntity } from "@switchboard/sdk/testing";
 * import { presence } from "./presence.js";
 *
 * const t = testCrdtEntity(presence, { entityId: "room-1" });
 * const watch = await t.stream("watch", { room: "room-1" });
 * const alice = await t.stream("connect", { room: "room-1", user: "alice" });
 * assert.deepEqual(watch.messages.at(-1)?.reply?.online, ["alice"]);
 * await alice.cancel();
 * assert.deepEqual(watch.messages.at(-1)?.reply?.online, []);
 * ```
 */
export function testCrdtEntity<S extends DescService, C extends Crdt>(
  definition: CrdtEntityDefinition<S, C>,
  options: CrdtTestOptions = {},
): CrdtTestKit<S, C> {
  const erased = definition as unknown as CrdtEntityDefinition;
  const entityId = options.entityId ?? "test-entity";
  const instance = createCrdtInstance(erased, entityId);
  if (options.delta !== undefined) instance.init(overTheWire(CrdtDeltaSchema, options.delta) as CrdtDelta);
  const streams = new Map<bigint, StreamRecord>();
  let nextCommandId = 0n;

  /** Routes streamed messages to their calls; returns the outputs left (reply, cancelled response, failure). */
  function route(outputs: readonly CrdtOutput[]): CrdtOutput[] {
    const rest: CrdtOutput[] = [];
    for (const output of outputs) {
      if (output.kind === "crash") throw output.error;
      if (output.kind !== "streamed-message") {
        rest.push(output);
        continue;
      }
      const record = streams.get(output.commandId);
      if (record === undefined) throw new Error(`a streamed message for command ${output.commandId}, which is not open`);
      record.messages.push({ ...toTestResult(record.method, output.result), endStream: output.endStream });
      if (output.endStream) record.ended = true;
    }
    return rest;
  }

  async function send(
    localName: string,
    request: unknown,
    streamed: boolean,
    callOptions: TestCallOptions,
  ): Promise<{ id: bigint; method: DescMethod; reply: CrdtTestResult }> {
    const method = methodOf(definition.service, localName);
    nextCommandId += 1n;
    const id = nextCommandId;
    if (streamed) {
      if (method.methodKind !== "server_streaming") throw new Error(`${method.parent.typeName}.${method.name} is not a server-streaming method`);
      streams.set(id, { method, messages: [], ended: false });
    }
    const outputs = await instance.handleCommand(id, method, overTheWire(method.input, request), {
      metadata: createMetadata(metadataItemsFromInit(callOptions.metadata)),
      signal: new AbortController().signal,
      streamed,
    });
    const [reply] = route(outputs);
    if (reply?.kind !== "reply") throw new Error(`no reply to command ${id}`);
    const result: CrdtTestResult = {
      ...toTestResult(method, reply.result),
      streamed: reply.streamed,
      ...(reply.stateChange === undefined ? {} : { stateChange: stateChangeResult(reply.stateChange) }),
    };
    const record = streams.get(id);
    if (record !== undefined && !reply.streamed) record.ended = true;
    return { id, method, reply: result };
  }

  return {
    entityId,
    get state() {
      return instance.crdt as C | undefined;
    },
    get deleted() {
      return instance.deleted;
    },
    async call(localName, request, callOptions = {}) {
      const { reply } = await send(localName, request, false, callOptions);
      return reply as CrdtTestResult<S["method"][typeof localName]["output"]>;
    },
    async stream(localName, request, callOptions = {}) {
      const { id, reply } = await send(localName, request, true, callOptions);
      const record = streams.get(id);
      if (record === undefined) throw new Error(`command ${id} is not open`);
      return {
        commandId: id,
        reply: reply as CrdtTestResult<S["method"][typeof localName]["output"]>,
        get messages() {
          return [...record.messages] as CrdtStreamedTestMessage<S["method"][typeof localName]["output"]>[];
        },
        get ended() {
          return record.ended;
        },
        async cancel() {
          if (record.ended) throw new Error(`command ${id} is over; a client cannot cancel it`);
          record.ended = true;
          const [response] = route(await instance.cancel(id));
          if (response?.kind === "failure") return { sideEffects: [], failure: response.description };
          if (response?.kind !== "cancelled-response") throw new Error(`no response to the cancellation of command ${id}`);
          return {
            sideEffects: sideEffectResults(response.sideEffects),
            ...(response.stateChange === undefined ? {} : { stateChange: stateChangeResult(response.stateChange) }),
          };
        },
      };
    },
    async applyDelta(delta) {
      route(await instance.applyDelta(overTheWire(CrdtDeltaSchema, delta) as CrdtDelta));
    },
    delete() {
      instance.delete();
      for (const record of streams.values()) record.ended = true;
    },
  };
}

export type {
  StartProcessOptions,
  StartProxyOptions,
  StartUserFunctionOptions,
  TestProcess,
  TestGrpcClient,
  TestProxy,
  TestUserFunction,
} from "./processes.js";
export { findProxyBin, grpcTestClient, startProcess, startProxy, startUserFunction } from "./processes.js";
