/**
 * Implementations of the context interfaces in `context.ts`. Internal: handlers only see the
 * interfaces.
 *
 * @module
 */
import type { DescMessage, DescMethod, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Metadata as ProtocolMetadata } from "@switchboard/protocol";
import type { EffectCall, SideEffectRecord } from "../entities/shared/outcome.js";
import { CommandFailure } from "../errors.js";
import { packAny } from "../serde/any.js";
import { cloneMessage, createMessage } from "../serde/binary.js";
import type { CrdtWriteConsistency } from "@switchboard/protocol";
import type { Crdt } from "../crdt/crdt.js";
import type {
  ActionContext,
  CloudEvent,
  CrdtContext,
  CrdtStreamContext,
  EventSourcedContext,
  ForwardOptions,
  ForwardReply,
  Metadata,
  MetadataInit,
  MetadataItem,
  MethodWithInput,
  SideEffectOptions,
  StreamedCrdtContext,
  StreamedMessage,
  ValueEntityContext,
} from "./context.js";

/** Registered symbol marking forward replies, so two copies of the SDK recognise each other's. */
const FORWARD_REPLY = Symbol.for("@switchboard/sdk/ForwardReply");

class ForwardReplyImpl implements ForwardReply, EffectCall {
  readonly kind = "forward";

  constructor(
    readonly method: DescMethod,
    readonly request: Message,
    readonly payload: Any,
    readonly metadata: readonly MetadataItem[],
  ) {
    Object.defineProperty(this, FORWARD_REPLY, { value: true });
  }
}

/** The forward call inside `value` if it is a reply made by `ctx.forward`, else `undefined`. */
export function asForwardCall(value: unknown): EffectCall | undefined {
  if (typeof value === "object" && value !== null && (value as Partial<Record<symbol, unknown>>)[FORWARD_REPLY] === true) {
    return value as EffectCall;
  }
  return undefined;
}

class MetadataImpl implements Metadata {
  readonly #items: readonly MetadataItem[];

  constructor(items: readonly MetadataItem[]) {
    this.#items = items;
  }

  get(key: string): string | undefined {
    return this.getAll(key)[0];
  }

  getAll(key: string): string[] {
    const k = key.toLowerCase();
    const values: string[] = [];
    for (const item of this.#items) {
      if (typeof item.value === "string" && item.key.toLowerCase() === k) values.push(item.value);
    }
    return values;
  }

  getBytes(key: string): Uint8Array | undefined {
    const k = key.toLowerCase();
    for (const item of this.#items) {
      if (typeof item.value !== "string" && item.key.toLowerCase() === k) return item.value;
    }
    return undefined;
  }

  has(key: string): boolean {
    const k = key.toLowerCase();
    return this.#items.some((item) => item.key.toLowerCase() === k);
  }

  entries(): readonly MetadataItem[] {
    return this.#items;
  }
}

/** A {@link Metadata} view of a list of entries. */
export function createMetadata(items: readonly MetadataItem[] = []): Metadata {
  return new MetadataImpl(items);
}

/** A {@link Metadata} view of a Cloudstate `Metadata` message (absent → empty). */
export function metadataFromProtocol(metadata: ProtocolMetadata | undefined): Metadata {
  const items: MetadataItem[] = [];
  for (const entry of metadata?.entries ?? []) {
    if (entry.value.case === "stringValue" || entry.value.case === "bytesValue") {
      items.push({ key: entry.key, value: entry.value.value });
    }
  }
  return createMetadata(items);
}

/** Whether `value` is a {@link Metadata} view rather than a {@link MetadataInit} record. */
function isMetadata(value: MetadataInit | Metadata): value is Metadata {
  return (
    value instanceof MetadataImpl || (typeof (value as Partial<Metadata>).entries === "function" && typeof (value as Partial<Metadata>).getAll === "function")
  );
}

/** The entries of a {@link MetadataInit} (in insertion order) or of a {@link Metadata} view. */
export function metadataItemsFromInit(init: MetadataInit | Metadata | undefined): MetadataItem[] {
  if (init === undefined) return [];
  if (isMetadata(init)) return [...init.entries()];
  return Object.entries(init).map(([key, value]) => ({ key, value }));
}

/** The CloudEvents attributes in `metadata`, if it has any `ce-*` entry. */
export function cloudEventOf(metadata: Metadata): CloudEvent | undefined {
  if (!metadata.entries().some((item) => item.key.toLowerCase().startsWith("ce-"))) return undefined;
  return {
    id: metadata.get("ce-id") ?? "",
    source: metadata.get("ce-source") ?? "",
    specVersion: metadata.get("ce-specversion") ?? "",
    type: metadata.get("ce-type") ?? "",
    subject: metadata.get("ce-subject"),
    time: metadata.get("ce-time"),
    dataSchema: metadata.get("ce-dataschema"),
    dataContentType: metadata.get("content-type"),
  };
}

function effectCall<I extends DescMessage>(
  method: MethodWithInput<I>,
  request: MessageInitShape<I>,
  metadata: MetadataInit | Metadata | undefined,
): EffectCall {
  const message = create(method.input, request);
  return {
    method,
    request: message,
    payload: packAny(method.input, message),
    metadata: metadataItemsFromInit(metadata),
  };
}

/** {@link ActionContext} implementation; it collects the side effects of the current answer. */
export class ActionContextImpl implements ActionContext {
  #sideEffects: SideEffectRecord[] = [];

  constructor(
    readonly metadata: Metadata,
    readonly signal: AbortSignal,
  ) {}

  get cloudEvent(): CloudEvent | undefined {
    return cloudEventOf(this.metadata);
  }

  forward<I extends DescMessage>(method: MethodWithInput<I>, request: MessageInitShape<I>, options?: ForwardOptions): ForwardReply {
    const call = effectCall(method, request, options?.metadata);
    return new ForwardReplyImpl(call.method, call.request, call.payload, call.metadata);
  }

  sideEffect<I extends DescMessage>(method: MethodWithInput<I>, request: MessageInitShape<I>, options?: SideEffectOptions): void {
    this.#sideEffects.push({ ...effectCall(method, request, options?.metadata), synchronous: options?.synchronous ?? false });
  }

  fail(message: string): never {
    throw new CommandFailure(message);
  }

  /** The side effects registered since the last call, which are then forgotten. */
  takeSideEffects(): SideEffectRecord[] {
    const taken = this.#sideEffects;
    this.#sideEffects = [];
    return taken;
  }
}

/** The state change a value entity command asked for, if any. */
export type ValueEntityStateChange<State extends DescMessage> = { readonly kind: "update"; readonly state: MessageShape<State> } | { readonly kind: "delete" };

/** {@link ValueEntityContext} implementation over a working copy of the state. */
export class ValueEntityContextImpl<State extends DescMessage> extends ActionContextImpl implements ValueEntityContext<State> {
  readonly #schema: State;
  readonly #stored: MessageShape<State> | undefined;
  readonly #initial: () => MessageShape<State>;
  #working: MessageShape<State> | undefined;
  #change: ValueEntityStateChange<State> | undefined;

  /**
   * @param stored - the committed state, or `undefined` when nothing is stored; never mutated.
   * @param initial - makes the state to show while nothing is stored.
   */
  constructor(
    metadata: Metadata,
    signal: AbortSignal,
    readonly entityId: string,
    schema: State,
    stored: MessageShape<State> | undefined,
    initial: () => MessageShape<State>,
  ) {
    super(metadata, signal);
    this.#schema = schema;
    this.#stored = stored;
    this.#initial = initial;
  }

  get state(): MessageShape<State> {
    if (this.#working === undefined) {
      // A copy per command: a handler that mutates `state` without calling updateState, or whose
      // command fails, must not change the entity.
      this.#working = this.#change === undefined && this.#stored !== undefined ? cloneMessage(this.#schema, this.#stored) : this.#initial();
    }
    return this.#working;
  }

  updateState(state: MessageInitShape<State>): void {
    const message = createMessage(this.#schema, state);
    this.#working = message;
    this.#change = { kind: "update", state: message };
  }

  deleteState(): void {
    this.#working = undefined;
    this.#change = { kind: "delete" };
  }

  /** The net state change of the command: the last update, or a delete. */
  stateChange(): ValueEntityStateChange<State> | undefined {
    return this.#change;
  }
}

/**
 * What an event-sourced command runs against: the working state and the emitted events, owned by
 * the entity instance.
 */
export interface EventSourcedCommandSession {
  /** The working state: the entity's state with the command's events applied. */
  readonly state: Message;
  /** The sequence number of the last event, emitted ones included. */
  readonly sequenceNumber: bigint;
  /** Applies and records an event (a message of a declared event type, or an Any). */
  emit(event: Message): void;
}

function isMessageSchema(value: unknown): value is DescMessage {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Partial<DescMessage>).kind === "message" &&
    typeof (value as Partial<DescMessage>).typeName === "string"
  );
}

/** {@link EventSourcedContext} implementation over a command session. */
export class EventSourcedContextImpl<State extends DescMessage, Event extends DescMessage>
  extends ActionContextImpl
  implements EventSourcedContext<State, Event>
{
  readonly #session: EventSourcedCommandSession;

  constructor(
    metadata: Metadata,
    signal: AbortSignal,
    readonly entityId: string,
    session: EventSourcedCommandSession,
  ) {
    super(metadata, signal);
    this.#session = session;
  }

  get state(): MessageShape<State> {
    return this.#session.state as MessageShape<State>;
  }

  get sequenceNumber(): bigint {
    return this.#session.sequenceNumber;
  }

  emit(event: MessageShape<Event> | Any): void;
  emit<E extends Event>(type: E, init: MessageInitShape<E>): void;
  emit(eventOrType: unknown, init?: unknown): void {
    if (isMessageSchema(eventOrType)) {
      this.#session.emit(create(eventOrType, init as MessageInitShape<DescMessage>));
      return;
    }
    if (typeof eventOrType !== "object" || eventOrType === null || typeof (eventOrType as Partial<Message>).$typeName !== "string") {
      throw new TypeError("emit() takes an event message (made with create()), an Any, or an event type and an init object");
    }
    this.#session.emit(eventOrType as Message);
  }
}

/** What a CRDT command runs against, owned by the entity instance. */
export interface CrdtCommandSession<C extends Crdt> {
  /** The CRDT, made from the entity's `crdt` option on first use. */
  crdt(): C;
}

/** A subscription a streamed CRDT command registered. */
export interface CrdtSubscription<C extends Crdt> {
  onStateChange?: (state: C, ctx: CrdtStreamContext) => unknown;
  onCancel?: (state: C, ctx: CrdtContext<C>) => unknown;
}

/** {@link CrdtContext} and {@link StreamedCrdtContext} implementation. */
export class CrdtContextImpl<C extends Crdt, O extends DescMessage = DescMessage> extends ActionContextImpl implements StreamedCrdtContext<C, O> {
  readonly #session: CrdtCommandSession<C>;
  readonly #allowSubscriptions: boolean;
  #deleted = false;
  #subscription: CrdtSubscription<C> | undefined;
  writeConsistency: CrdtWriteConsistency = 0;

  /**
   * @param streamed - `Command.streamed`.
   * @param allowSubscriptions - whether `onStateChange`/`onCancel` may be called (a streamed
   *   command's handler; not a cancellation callback).
   */
  constructor(
    metadata: Metadata,
    signal: AbortSignal,
    readonly entityId: string,
    readonly streamed: boolean,
    session: CrdtCommandSession<C>,
    allowSubscriptions: boolean,
  ) {
    super(metadata, signal);
    this.#session = session;
    this.#allowSubscriptions = allowSubscriptions;
  }

  get state(): C {
    return this.#session.crdt();
  }

  delete(): void {
    this.#deleted = true;
  }

  // biome-ignore lint/suspicious/noConfusingVoidType: lets a callback end without `return` (no message)
  onStateChange(callback: (state: C, ctx: CrdtStreamContext) => StreamedMessage<O> | void): void {
    this.#subscribe("onStateChange").onStateChange = callback;
  }

  onCancel(callback: (state: C, ctx: CrdtContext<C>) => void): void {
    this.#subscribe("onCancel").onCancel = callback;
  }

  #subscribe(what: string): CrdtSubscription<C> {
    if (!this.#allowSubscriptions) throw new Error(`${what}() can only be called by the handler of a server-streaming method`);
    if (!this.streamed) throw new Error(`${what}() needs a streamed call; this command is not streamed (check ctx.streamed first)`);
    this.#subscription ??= {};
    return this.#subscription;
  }

  /** Whether the command asked to delete the CRDT. */
  get deleted(): boolean {
    return this.#deleted;
  }

  /** The subscription the command registered, if any. */
  get subscription(): CrdtSubscription<C> | undefined {
    return this.#subscription;
  }
}

/** {@link CrdtStreamContext} implementation. */
export class CrdtStreamContextImpl extends ActionContextImpl implements CrdtStreamContext {
  #ended = false;

  constructor(
    metadata: Metadata,
    signal: AbortSignal,
    readonly entityId: string,
    readonly commandId: bigint,
  ) {
    super(metadata, signal);
  }

  endStream(): void {
    this.#ended = true;
  }

  /** Whether `endStream()` was called. */
  get ended(): boolean {
    return this.#ended;
  }
}
