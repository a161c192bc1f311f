/**
 * `eventSourcedEntity()`: the definition of a Cloudstate Event sourced entity, whose state is
 * the fold of its journal of events.
 *
 * @module
 */
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { EventSourcedContext } from "../../context/context.js";
import type { HandlerResult, HandlerTable, MaybePromise } from "../shared/handler-types.js";
import { checkHandlers } from "../shared/handler-types.js";
import { checkEntityMethods, checkPassivationTimeout, checkPersistenceId } from "../shared/validate.js";

/** The last part of a dotted name: `ShortName<"com.example.ItemAdded">` is `"ItemAdded"`. */
export type ShortName<T extends string> = T extends `${string}.${infer Rest}` ? ShortName<Rest> : T;

/** The short name of message type `E`, the key of its event handler. */
export type EventName<E extends DescMessage> = ShortName<MessageShape<E>["$typeName"]>;

/**
 * An event handler: folds one event into the state. It may change `state` in place and return
 * nothing, or return the new state (a message or a plain object to create one from).
 */
export type EventHandler<State extends DescMessage, E> = (
  state: MessageShape<State>,
  event: E,
  // biome-ignore lint/suspicious/noConfusingVoidType: lets an event handler change the state in place and not return
) => MessageInitShape<State> | void;

/** One event handler per event type, keyed by the type's short name (`ItemAdded`). */
export type EventHandlers<State extends DescMessage, Events extends readonly DescMessage[]> = {
  [E in Events[number] as EventName<E>]: EventHandler<State, MessageShape<E>>;
};

/** Handler of one event-sourced entity method (always unary). */
export type EventSourcedHandler<M extends DescMethod, State extends DescMessage, Event extends DescMessage> = (
  request: MessageShape<M["input"]>,
  ctx: EventSourcedContext<State, Event>,
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a handler end without `return`
) => MaybePromise<HandlerResult<M["output"]> | void>;

/** One handler per method of `S`, keyed by the method's local name. */
export type EventSourcedHandlers<S extends DescService, State extends DescMessage, Event extends DescMessage> = {
  [K in keyof S["method"]]: EventSourcedHandler<S["method"][K], State, Event>;
};

/** Options of {@link eventSourcedEntity}. */
export interface EventSourcedEntityOptions<S extends DescService, State extends DescMessage, Events extends readonly DescMessage[]> {
  /** The generated service descriptor, e.g. `ShoppingCart`. Every method must be unary. */
  service: S;
  /**
   * The journal this entity's events go to (with the entity id), and the tag eventing
   * subscribers consume (`in.event_log`). Changing it orphans the journal.
   */
  persistenceId: string;
  /** The state message descriptor; snapshots are messages of this type too. */
  state: State;
  /** The state before any event; defaults to the empty `state` message. */
  initial?: () => MessageInitShape<State>;
  /**
   * Sends a snapshot of the state with the reply whose events reach a multiple of this number of
   * events, so activation replays at most that many events. Defaults to 100; 0 never snapshots.
   */
  snapshotEvery?: number;
  /**
   * Idle time after which the proxy passivates (closes) an entity, in milliseconds; sent as the
   * entity's passivation strategy. The proxy's default applies when absent.
   */
  passivationTimeoutMs?: number;
  /** The event message types this entity emits and replays, e.g. `[ItemAddedSchema, ItemRemovedSchema]`. */
  eventTypes?: Events;
  /** One handler per event type of `eventTypes`, keyed by the type's short name. */
  events?: NoInfer<EventHandlers<State, Events>>;
  /**
   * The handler of events of no type in `eventTypes`: JSON events (`json.cloudstate.io/…`),
   * primitive events (`p.cloudstate.io/…`), or other messages, as raw `Any`s. Without it, such an
   * event fails the command that emits it, or the activation that replays it.
   */
  otherEvents?: EventHandler<State, Any>;
  /** One handler per method, keyed by local name; the types follow from `service`, `state` and `eventTypes`. */
  handlers: NoInfer<EventSourcedHandlers<S, State, Events[number]>>;
}

/** An event-sourced entity ready to be served: pass it to `createServer({ entities })` or `serve()`. */
export interface EventSourcedEntityDefinition<
  S extends DescService = DescService,
  State extends DescMessage = DescMessage,
  Events extends readonly DescMessage[] = readonly DescMessage[],
> {
  readonly kind: "event-sourced";
  readonly service: S;
  readonly persistenceId: string;
  readonly state: State;
  /** A new initial state each call. */
  readonly initial: () => MessageShape<State>;
  readonly snapshotEvery: number;
  readonly passivationTimeoutMs: number | undefined;
  readonly eventTypes: Events;
  /** @internal Event handlers by full type name. */
  readonly eventHandlers: ReadonlyMap<string, EventHandler<DescMessage, unknown>>;
  /** @internal */
  readonly otherEvents: EventHandler<DescMessage, Any> | undefined;
  /** @internal */
  readonly handlers: HandlerTable;
}

const DEFAULT_SNAPSHOT_EVERY = 100;

/**
 * Defines a Cloudstate Event sourced entity (entity type `cloudstate.eventsourced.EventSourced`):
 * command handlers emit events with `ctx.emit()`, event handlers fold them into the state, and
 * the proxy keeps the events in a journal and replays them (after the latest snapshot) when the
 * entity is activated again.
 *
 * Emitted events are applied at once, so the rest of the command sees them in `ctx.state`. A
 * command that fails (`CommandFailure`) keeps none of its events or side effects.
 *
 * The service's methods must be unary, each input needs an entity key field, and every event type
 * needs a handler; all are checked here.
 *
 * @example
 * ```ts
 * import { create } from "@bufbuild/protobuf";
 * import { eventSourcedEntity } from "@switchboard/sdk";
 * import { CartSchema, ItemAddedSchema, ItemRemovedSchema } from "./gen/persistence/domain_pb.js";
 * import { ShoppingCart } from "./gen/shoppingcart_pb.js";
 *
 * export const cart = eventSourcedEntity({
 *   service: ShoppingCart,
 *   persistenceId: "shopping-cart",
 *   state: CartSchema,
 *   snapshotEvery: 50,
 *   eventTypes: [ItemAddedSchema, ItemRemovedSchema],
 *   events: {
 *     ItemAdded(state, event) {
 *       state.items.push(event.item!);
 *     },
 *     ItemRemoved: (state, event) => ({ items: state.items.filter((i) => i.productId !== event.productId) }),
 *   },
 *   handlers: {
 *     addItem(req, ctx) {
 *       if (req.quantity <= 0) ctx.fail(`Cannot add a negative quantity of ${req.productId}`);
 *       ctx.emit(ItemAddedSchema, { item: { productId: req.productId, name: req.name, quantity: req.quantity } });
 *       return {};
 *     },
 *     removeItem(req, ctx) {
 *       ctx.emit(ItemRemovedSchema, { productId: req.productId });
 *       return {};
 *     },
 *     getCart: (_req, ctx) => ({ items: ctx.state.items }),
 *   },
 * });
 * ```
 */
export function eventSourcedEntity<S extends DescService, State extends DescMessage, const Events extends readonly DescMessage[] = readonly []>(
  options: EventSourcedEntityOptions<S, State, Events>,
): EventSourcedEntityDefinition<S, State, Events> {
  const { service, persistenceId, state, passivationTimeoutMs } = options;
  const what = `eventSourcedEntity(${service.typeName})`;
  checkPersistenceId(what, persistenceId);
  checkPassivationTimeout(what, passivationTimeoutMs);
  const snapshotEvery = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
  if (!(Number.isSafeInteger(snapshotEvery) && snapshotEvery >= 0)) {
    throw new Error(`${what}: snapshotEvery must be a non-negative integer (0 never snapshots), got ${snapshotEvery}`);
  }
  checkEntityMethods(what, service, "event-sourced entity", ["unary"]);
  const handlers = checkHandlers(what, service, options.handlers);
  const eventTypes = (options.eventTypes ?? []) as unknown as Events;
  const eventHandlers = checkEventHandlers(what, eventTypes, (options.events ?? {}) as Record<string, unknown>);
  if (options.otherEvents !== undefined && typeof options.otherEvents !== "function") {
    throw new Error(`${what}: otherEvents must be a function`);
  }
  const makeInitial = options.initial;
  return {
    kind: "event-sourced",
    service,
    persistenceId,
    state,
    initial: makeInitial === undefined ? () => create(state) : () => create(state, makeInitial()),
    snapshotEvery,
    passivationTimeoutMs,
    eventTypes,
    eventHandlers,
    otherEvents: options.otherEvents as EventHandler<DescMessage, Any> | undefined,
    handlers,
  };
}

/** Checks there is exactly one handler per event type, and maps them by full type name. */
function checkEventHandlers(
  what: string,
  eventTypes: readonly DescMessage[],
  events: Record<string, unknown>,
): Map<string, EventHandler<DescMessage, unknown>> {
  const byTypeName = new Map<string, EventHandler<DescMessage, unknown>>();
  const byName = new Map<string, DescMessage>();
  for (const type of eventTypes) {
    if (type?.kind !== "message") throw new Error(`${what}: eventTypes must hold message descriptors (e.g. ItemAddedSchema)`);
    const other = byName.get(type.name);
    if (other !== undefined && other.typeName !== type.typeName) {
      throw new Error(`${what}: event types ${other.typeName} and ${type.typeName} have the same short name; events are keyed by it`);
    }
    byName.set(type.name, type);
    const handler = events[type.name];
    if (typeof handler !== "function") {
      throw new Error(`${what}: no event handler for ${type.typeName} (key "${type.name}" in events)`);
    }
    byTypeName.set(type.typeName, handler as EventHandler<DescMessage, unknown>);
  }
  for (const key of Object.keys(events)) {
    if (!byName.has(key)) {
      const names = [...byName.keys()].join(", ") || "none";
      throw new Error(`${what}: events has a handler "${key}" for no type in eventTypes (event types: ${names})`);
    }
  }
  return byTypeName;
}
