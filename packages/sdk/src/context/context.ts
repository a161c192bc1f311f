/**
 * The context objects handlers receive, layered by capability: every handler gets an
 * {@link ActionContext} (metadata, forwards, side effects, failures); a value entity's handlers
 * get a {@link ValueEntityContext}, which adds the entity's state. Event-sourced and CRDT
 * contexts will extend `ActionContext` the same way.
 *
 * Only interfaces live here; `context-impl.ts` implements them.
 *
 * @module
 */
import type { DescMessage, DescMethod, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";

/**
 * Transport metadata of a command: the request headers for actions (protocol §2.7). Keys are
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
  /** Metadata for the forwarded call (the original request's headers are not passed on). */
  metadata?: MetadataInit;
}

/** Options of {@link ActionContext.sideEffect}. */
export interface SideEffectOptions {
  /**
   * When true, the proxy finishes the side effect before it answers the caller; when false (the
   * default), it starts the call and does not wait. Its result is ignored either way.
   */
  synchronous?: boolean;
  /** Metadata for the side-effect call. */
  metadata?: MetadataInit;
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
