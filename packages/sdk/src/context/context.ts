/**
 * The context objects handlers receive, layered by capability: every handler gets an
 * {@link ActionContext} (metadata, CloudEvent attributes, forwards, side effects, failures); a
 * value entity's handlers get a {@link ValueEntityContext}, which adds the entity's state; an
 * event-sourced entity's an {@link EventSourcedContext}, which adds the state and `emit`; a CRDT
 * entity's a {@link CrdtContext}, which adds the CRDT, `delete` and the write consistency, and for
 * server-streaming methods a {@link StreamedCrdtContext}, which adds `onStateChange` and
 * `onCancel`.
 *
 * Only interfaces live here; `context-impl.ts` implements them.
 *
 * @module
 */
import type { DescMessage, DescMethod, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { CrdtWriteConsistency } from "@switchboard/protocol";
import type { Crdt } from "../crdt/crdt.js";
import type { CommandFailure } from "../errors.js";

/**
 * Transport metadata of a command: the request headers for actions (docs/protocol.md#metadata). Keys are
 * compared case-insensitively. Value entity commands normally carry none.
 *
 * @example
 * ```ts
 * const user = ctx.metadata.get("x-user-id") ?? "anonymous";
 * const traces = ctx.metadata.getAll("traceparent");
 * ```
 */
export interface Metadata {
  /** The first string value for `key`, or `undefined`. */
  get(key: string): string | undefined;
  /** Every string value for `key`, in order (bytes values are left out). */
  getAll(key: string): string[];
  /** The first bytes value for `key` (a `-bin` header), or `undefined`. */
  getBytes(key: string): Uint8Array | undefined;
  /** Whether any value, string or bytes, exists for `key`. */
  has(key: string): boolean;
  /** All entries, in order, with their keys as sent. */
  entries(): readonly MetadataItem[];
}

/** One metadata entry: a string value, or bytes for a binary header. */
export interface MetadataItem {
  readonly key: string;
  readonly value: string | Uint8Array;
}

/**
 * Metadata to attach to a forward or a side effect, as header name → value. A `Uint8Array` value
 * is sent as a bytes entry.
 */
export type MetadataInit = Readonly<Record<string, string | Uint8Array>>;

/** Options of {@link ActionContext.forward}. */
export interface ForwardOptions {
  /**
   * Metadata for the forwarded call (the original request's headers are not passed on unless
   * given here: pass `ctx.metadata` to forward them all).
   */
  metadata?: MetadataInit | Metadata;
}

/** Options of {@link ActionContext.sideEffect}. */
export interface SideEffectOptions {
  /**
   * When true, the proxy finishes the side effect before it answers the caller; when false (the
   * default), it starts the call and does not wait. Its result is ignored either way.
   */
  synchronous?: boolean;
  /** Metadata for the side-effect call (`ctx.metadata` passes the command's own on). */
  metadata?: MetadataInit | Metadata;
}

/**
 * The CloudEvents attributes of a command that carries an event: what the proxy sends with each
 * journal event it delivers to an eventing subscriber (docs/protocol.md#eventing), read from the `ce-*`
 * metadata (HTTP binary binding names).
 */
export interface CloudEvent {
  /** `ce-id`: the event's id (for journal events, its offset). */
  readonly id: string;
  /** `ce-source`: where it comes from (for journal events, the persistence id, the tag). */
  readonly source: string;
  /** `ce-specversion`: the CloudEvents version, `1.0`. */
  readonly specVersion: string;
  /** `ce-type`: the event's type (for journal events, the type URL of its Any). */
  readonly type: string;
  /** `ce-subject`: the subject (for journal events, the id of the entity that emitted it). */
  readonly subject: string | undefined;
  /** `ce-time`: when it happened, as sent (RFC 3339). */
  readonly time: string | undefined;
  /** `ce-dataschema`, if sent. */
  readonly dataSchema: string | undefined;
  /** `Content-Type` of the data, if sent (`application/vnd.cloudstate.protobuf.any` for journal events). */
  readonly dataContentType: string | undefined;
}

/**
 * A method descriptor whose input message type is `I`, as found on a generated service:
 * `CounterService.method.increase`.
 */
export type MethodWithInput<I extends DescMessage> = DescMethod & { readonly input: I };

/**
 * The answer "forward this call": returned by {@link ActionContext.forward}, to be returned (or
 * yielded) by the handler. The proxy calls the target method and gives its reply to the caller.
 */
export interface ForwardReply {
  readonly kind: "forward";
  /** The target method. */
  readonly method: DescMethod;
  /** The request for the target method. */
  readonly request: Message;
}

/**
 * What every handler can do: read the request metadata, forward the call, ask for side effects
 * and fail the command. Actions receive exactly this; entity contexts extend it.
 */
export interface ActionContext {
  /** The command's transport metadata (request headers, for actions). */
  readonly metadata: Metadata;

  /**
   * The CloudEvents attributes when the command carries an event (it has `ce-*` metadata), as an
   * eventing subscriber receives journal events; `undefined` otherwise.
   *
   * @example
   * ```ts
   * // An action method annotated with (cloudstate.eventing).in.event_log = "shopping-cart":
   * processItemAdded(event, ctx) {
   *   const cartId = ctx.cloudEvent?.subject ?? "unknown";
   *   return { cartId, productId: event.item?.productId ?? "" };
   * }
   * ```
   */
  readonly cloudEvent: CloudEvent | undefined;

  /**
   * Aborted when the call is cancelled or the stream it belongs to ends, so long-running work in
   * a handler can stop early.
   */
  readonly signal: AbortSignal;

  /**
   * Builds a Cloudstate `Forward`: return the result from the handler, and the proxy answers the
   * caller with the reply of `method` called with `request` instead.
   *
   * The request is packed as `type.googleapis.com/<input type>`. Side effects registered in the
   * same command still run.
   *
   * @example
   * ```ts
   * handlers: {
   *   deposit(req, ctx) {
   *     return ctx.forward(AccountService.method.credit, { accountId: req.accountId, amount: req.amount });
   *   },
   * }
   * ```
   */
  forward<I extends DescMessage>(method: MethodWithInput<I>, request: MessageInitShape<I>, options?: ForwardOptions): ForwardReply;

  /**
   * Registers a Cloudstate `SideEffect`: once this command succeeds, the proxy calls `method` with
   * `request`, after the state change and before (synchronous) or alongside (asynchronous) the
   * reply. Side effects of a failed command are dropped.
   *
   * @example
   * ```ts
   * handlers: {
   *   increaseMany(req, ctx) {
   *     for (const counterId of req.counterIds) {
   *       ctx.sideEffect(CounterService.method.increase, { counterId, value: req.value });
   *     }
   *     return {};
   *   },
   * }
   * ```
   */
  sideEffect<I extends DescMessage>(method: MethodWithInput<I>, request: MessageInitShape<I>, options?: SideEffectOptions): void;

  /**
   * Fails the command with `message` by throwing a `CommandFailure`; the caller receives the
   * message as the error description. Nothing of the command (state change, side effects) is kept.
   *
   * @example
   * ```ts
   * if (req.value < 0n) ctx.fail("value must not be negative");
   * ```
   */
  fail(message: string): never;
}

/**
 * The context of a value entity command: an {@link ActionContext} plus the entity's id and state.
 *
 * `state` is the current value (the entity's `initial()` value while nothing is stored). It is a
 * copy for this command: change it freely, and call {@link updateState} to keep a new value. If
 * the command fails or crashes, the state stays as it was.
 */
export interface ValueEntityContext<State extends DescMessage = DescMessage> extends ActionContext {
  /** The id of the entity handling this command. */
  readonly entityId: string;

  /**
   * The entity's current state, including an update or delete made earlier in this command.
   *
   * @example
   * ```ts
   * getCurrentCounter(_req, ctx) {
   *   return { value: ctx.state.value };
   * }
   * ```
   */
  readonly state: MessageShape<State>;

  /**
   * Replaces the entity's state once this command succeeds (a Cloudstate `ValueEntityUpdate`).
   * Calling it several times in one command keeps the last value only.
   *
   * @example
   * ```ts
   * increase(req, ctx) {
   *   ctx.updateState({ value: ctx.state.value + req.value });
   *   return {};
   * }
   * ```
   */
  updateState(state: MessageInitShape<State>): void;

  /**
   * Deletes the entity's state once this command succeeds (a Cloudstate `ValueEntityDelete`);
   * `state` reads as the initial value again. A later `updateState` in the same command wins.
   *
   * @example
   * ```ts
   * reset(_req, ctx) {
   *   ctx.deleteState();
   *   return {};
   * }
   * ```
   */
  deleteState(): void;
}

/**
 * The context of an event-sourced entity command: an {@link ActionContext} plus the entity's id,
 * state and `emit`.
 *
 * `state` is the state after every event so far, including the ones this command emitted. It is
 * a copy: only events change the entity (a replay sees nothing else). If the command fails or
 * crashes, its events are dropped: they are neither applied nor sent.
 */
export interface EventSourcedContext<State extends DescMessage = DescMessage, Event extends DescMessage = DescMessage> extends ActionContext {
  /** The id of the entity handling this command. */
  readonly entityId: string;

  /**
   * The entity's state, with the events emitted so far in this command applied.
   *
   * @example
   * ```ts
   * getCart(_req, ctx) {
   *   return { items: ctx.state.items };
   * }
   * ```
   */
  readonly state: MessageShape<State>;

  /** The sequence number of the last event: the journal's, plus the events emitted so far in this command. */
  readonly sequenceNumber: bigint;

  /**
   * Emits an event: it is applied to `state` at once (through the entity's event handler) and,
   * once the command succeeds, sent to the proxy to persist in the journal (a Cloudstate
   * `EventSourcedReply.events` entry).
   *
   * Pass a message of one of the entity's event types, or an `Any` as is (for JSON events made
   * with `createJsonAny`, or primitive events made with `codecs`).
   *
   * @example
   * ```ts
   * addItem(req, ctx) {
   *   ctx.emit(create(ItemAddedSchema, { item: { productId: req.productId, name: req.name, quantity: req.quantity } }));
   *   return {};
   * }
   * ```
   */
  emit(event: MessageShape<Event> | Any): void;

  /**
   * Emits an event of type `type` made from `init`; see the other overload.
   *
   * @example
   * ```ts
   * ctx.emit(ItemRemovedSchema, { productId: req.productId });
   * ```
   */
  emit<E extends Event>(type: E, init: MessageInitShape<E>): void;
}

/**
 * The context of a CRDT entity command: an {@link ActionContext} plus the entity's id, its CRDT
 * (`state`), `delete()` and the write consistency.
 *
 * Changes made to `state` are sent to the proxy with the reply, as one delta. If the command
 * fails or crashes, they are undone.
 */
export interface CrdtContext<C extends Crdt = Crdt> extends ActionContext {
  /** The id of the entity handling this command. */
  readonly entityId: string;

  /**
   * The entity's CRDT: the one the proxy gave (`init` or a later delta), or a new one from the
   * entity's `crdt` option on first use.
   *
   * @example
   * ```ts
   * increment(req, ctx) {
   *   ctx.state.increment(req.value);
   *   return { value: ctx.state.value };
   * }
   * ```
   */
  readonly state: C;

  /**
   * Whether the command is a streamed call (`Command.streamed`: a server-streaming method the
   * client called as a stream).
   */
  readonly streamed: boolean;

  /**
   * The write consistency of this command's state change (`CrdtStateAction.write_consistency`):
   * `LOCAL` (the default), `MAJORITY` or `ALL`.
   *
   * @example
   * ```ts
   * ctx.writeConsistency = CrdtWriteConsistency.MAJORITY;
   * ```
   */
  writeConsistency: CrdtWriteConsistency;

  /**
   * Deletes the CRDT once this command succeeds (a Cloudstate `CrdtDelete` state action); the
   * proxy then closes the entity. Local changes of the command are not sent.
   *
   * @example
   * ```ts
   * close(_req, ctx) {
   *   ctx.delete();
   *   return {};
   * }
   * ```
   */
  delete(): void;
}

/**
 * What an `onStateChange` callback may answer: a message for the client, a forward, a failure
 * (which ends the stream), or nothing.
 */
export type StreamedMessage<O extends DescMessage> = MessageInitShape<O> | ForwardReply | CommandFailure | undefined;

/**
 * The context of an `onStateChange` callback: an {@link ActionContext} (with the streamed
 * command's metadata) plus `endStream`. The callback must not change the CRDT.
 */
export interface CrdtStreamContext extends ActionContext {
  /** The id of the entity. */
  readonly entityId: string;

  /** The id of the streamed command this callback belongs to. */
  readonly commandId: bigint;

  /**
   * Ends the client's stream after this message (`CrdtStreamedMessage.end_stream`); the callback
   * is not called again, and no cancellation follows.
   *
   * @example
   * ```ts
   * ctx.onStateChange((state, stream) => {
   *   if (state.value >= req.target) stream.endStream();
   *   return { value: state.value };
   * });
   * ```
   */
  endStream(): void;
}

/**
 * The context of a server-streaming CRDT command: a {@link CrdtContext} plus the subscriptions
 * that keep the call open.
 *
 * The handler's answer is the call's first message (`undefined` sends none). If it subscribes
 * with `onStateChange` or `onCancel` on a streamed call, the reply says `streamed` and the call
 * stays open; otherwise it ends with the first answer.
 */
export interface StreamedCrdtContext<C extends Crdt = Crdt, O extends DescMessage = DescMessage> extends CrdtContext<C> {
  /**
   * Calls `callback` after every later change of the CRDT (by another command, a delta from the
   * proxy, a cancellation), in order; what it returns goes to this call's client as a
   * `CrdtStreamedMessage`, with the side effects it registers. Throws if the call is not streamed.
   *
   * @example
   * ```ts
   * watch(_req, ctx) {
   *   ctx.onStateChange((state) => ({ online: state.values() }));
   *   return { online: ctx.state.values() };
   * }
   * ```
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a callback end without `return` (no message)
  onStateChange(callback: (state: C, ctx: CrdtStreamContext) => StreamedMessage<O> | void): void;

  /**
   * Calls `callback` when the client cancels the call (`StreamCancelled`); the changes it makes to
   * the CRDT, its `delete()` and its side effects go in the `CrdtStreamCancelledResponse`. It may
   * be async (the response waits for it). Throws if the call is not streamed.
   *
   * @example
   * ```ts
   * connect(req, ctx) {
   *   ctx.state.add(req.user);
   *   ctx.onCancel((state) => state.remove(req.user));
   *   return {};
   * }
   * ```
   */
  onCancel(callback: (state: C, ctx: CrdtContext<C>) => void): void;
}
