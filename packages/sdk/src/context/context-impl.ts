/**
 * Implementations of the context interfaces in `context.ts`. Internal: handlers only see the
 * interfaces.
 *
 * @module
 */
import type { DescMessage, DescMethod, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { clone, create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Metadata as ProtocolMetadata } from "@switchboard/protocol";
import type { EffectCall, SideEffectRecord } from "../entities/shared/outcome.js";
import { CommandFailure } from "../errors.js";
import { packAny } from "../serde/any.js";
import type {
  ActionContext,
  ForwardOptions,
  ForwardReply,
  Metadata,
  MetadataInit,
  MetadataItem,
  MethodWithInput,
  SideEffectOptions,
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

/** The entries of a {@link MetadataInit}, in insertion order. */
export function metadataItemsFromInit(init: MetadataInit | undefined): MetadataItem[] {
  return init === undefined ? [] : Object.entries(init).map(([key, value]) => ({ key, value }));
}

function effectCall<I extends DescMessage>(method: MethodWithInput<I>, request: MessageInitShape<I>, metadata: MetadataInit | undefined): EffectCall {
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
      this.#working = this.#change === undefined && this.#stored !== undefined ? clone(this.#schema, this.#stored) : this.#initial();
    }
    return this.#working;
  }

  updateState(state: MessageInitShape<State>): void {
    const message = create(this.#schema, state);
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
