/**
 * `valueEntity()`: the definition of a Cloudstate Value entity, which keeps one state value per
 * entity id.
 *
 * @module
 */
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { ValueEntityContext } from "../../context/context.js";
import type { HandlerResult, HandlerTable, MaybePromise } from "../shared/handler-types.js";
import { checkHandlers } from "../shared/handler-types.js";
import { checkEntityMethods, checkPassivationTimeout, checkPersistenceId } from "../shared/validate.js";

/** Handler of one value entity method (value entity methods are always unary). */
export type ValueEntityHandler<M extends DescMethod, State extends DescMessage> = (
  request: MessageShape<M["input"]>,
  ctx: ValueEntityContext<State>,
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a handler end without `return` (or `return ctx.updateState(...)`)
) => MaybePromise<HandlerResult<M["output"]> | void>;

/** One handler per method of `S`, keyed by the method's local name. */
export type ValueEntityHandlers<S extends DescService, State extends DescMessage> = {
  [K in keyof S["method"]]: ValueEntityHandler<S["method"][K], State>;
};

/** Options of {@link valueEntity}. */
export interface ValueEntityOptions<S extends DescService, State extends DescMessage> {
  /** The generated service descriptor, e.g. `CounterService`. Every method must be unary. */
  service: S;
  /**
   * The namespace the proxy stores this entity's state under (with the entity id). Changing it
   * orphans the stored state.
   */
  persistenceId: string;
  /** The state message descriptor, e.g. `CounterStateSchema`. */
  state: State;
  /** The state of an entity with nothing stored; defaults to the empty `state` message. */
  initial?: () => MessageInitShape<State>;
  /**
   * Idle time after which the proxy passivates (closes) an entity, in milliseconds; sent as the
   * entity's passivation strategy. The proxy's default applies when absent.
   */
  passivationTimeoutMs?: number;
  /** One handler per method, keyed by local name; the types follow from `service` and `state`. */
  handlers: NoInfer<ValueEntityHandlers<S, State>>;
}

/** A Cloudstate Value entity ready to be served: pass it to `createServer({ entities })` or `serve()`. */
export interface ValueEntityDefinition<S extends DescService = DescService, State extends DescMessage = DescMessage> {
  readonly kind: "value-entity";
  readonly service: S;
  readonly persistenceId: string;
  readonly state: State;
  /** A new initial state each call. */
  readonly initial: () => MessageShape<State>;
  readonly passivationTimeoutMs: number | undefined;
  /** @internal */
  readonly handlers: HandlerTable;
}

/**
 * Defines a Cloudstate Value entity (entity type `cloudstate.valueentity.ValueEntity`): one state
 * message per entity id, which the proxy stores. Each command runs with a `ValueEntityContext`
 * holding the current state; `ctx.updateState()` and `ctx.deleteState()` change it when the
 * command succeeds.
 *
 * The service's methods must be unary, and each input message needs an entity key field
 * (`[(cloudstate.entity_key) = true]`); both are checked here.
 *
 * @example
 * ```ts
 * import { valueEntity } from "@switchboard/sdk";
 * import { CounterStateSchema } from "./gen/counter_domain_pb.js";
 * import { CounterService } from "./gen/counter_pb.js";
 *
 * export const counter = valueEntity({
 *   service: CounterService,
 *   persistenceId: "counter",
 *   state: CounterStateSchema,
 *   handlers: {
 *     increase: (req, ctx) => ctx.updateState({ value: ctx.state.value + req.value }),
 *     decrease: (req, ctx) => ctx.updateState({ value: ctx.state.value - req.value }),
 *     reset: (_req, ctx) => ctx.deleteState(),
 *     getCurrentCounter: (_req, ctx) => ({ value: ctx.state.value }),
 *   },
 * });
 * ```
 */
export function valueEntity<S extends DescService, State extends DescMessage>(options: ValueEntityOptions<S, State>): ValueEntityDefinition<S, State> {
  const { service, persistenceId, state, passivationTimeoutMs } = options;
  const what = `valueEntity(${service.typeName})`;
  checkPersistenceId(what, persistenceId);
  checkPassivationTimeout(what, passivationTimeoutMs);
  checkEntityMethods(what, service, "value entity", ["unary"]);
  const handlers = checkHandlers(what, service, options.handlers);
  const makeInitial = options.initial;
  return {
    kind: "value-entity",
    service,
    persistenceId,
    state,
    initial: makeInitial === undefined ? () => create(state) : () => create(state, makeInitial()),
    passivationTimeoutMs,
    handlers,
  };
}
