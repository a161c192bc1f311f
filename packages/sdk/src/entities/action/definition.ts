/**
 * `action()`: the definition of a Cloudstate Action, a stateless service.
 *
 * @module
 */
import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { ActionContext } from "../../context/context.js";
import type { AnyIterable, HandlerResult, HandlerTable, MaybePromise } from "../shared/handler-types.js";
import { checkHandlers } from "../shared/handler-types.js";

/** Handler of a unary method: one request in, one answer out. */
export type UnaryActionHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: ActionContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a handler end without `return` (or `return ctx.updateState(...)`)
) => MaybePromise<HandlerResult<O> | void>;

/**
 * Handler of a server-streaming method: one request in, any number of answers out (usually an
 * `async *` generator). Each yielded value is one response, carrying the side effects registered
 * since the previous one; yield `undefined` to send only side effects.
 */
export type ServerStreamingActionHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: ActionContext,
) => AnyIterable<HandlerResult<O>>;

/** Handler of a client-streaming method: a stream of requests in, one answer out. */
export type ClientStreamingActionHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: ActionContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a handler end without `return` (or `return ctx.updateState(...)`)
) => MaybePromise<HandlerResult<O> | void>;

/** Handler of a bidi-streaming method: a stream of requests in, any number of answers out. */
export type BidiStreamingActionHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: ActionContext,
) => AnyIterable<HandlerResult<O>>;

type ActionHandlerOfKind<K, I extends DescMessage, O extends DescMessage> = K extends "unary"
  ? UnaryActionHandler<I, O>
  : K extends "server_streaming"
    ? ServerStreamingActionHandler<I, O>
    : K extends "client_streaming"
      ? ClientStreamingActionHandler<I, O>
      : K extends "bidi_streaming"
        ? BidiStreamingActionHandler<I, O>
        : never;

/** The handler type for method `M`, by its streaming shape. */
export type ActionHandler<M extends DescMethod> = ActionHandlerOfKind<M["methodKind"], M["input"], M["output"]>;

/** One handler per method of `S`, keyed by the method's local name (`processUnary`, `call`). */
export type ActionHandlers<S extends DescService> = {
  [K in keyof S["method"]]: ActionHandler<S["method"][K]>;
};

/** Options of {@link action}. */
export interface ActionOptions<S extends DescService> {
  /** The generated service descriptor, e.g. `CounterFanout` from `counter_pb.ts`. */
  service: S;
  /** One handler per method, keyed by local name; the types follow from `service`. */
  handlers: NoInfer<ActionHandlers<S>>;
}

/** A Cloudstate Action ready to be served: pass it to `createServer({ entities })` or `serve()`. */
export interface ActionDefinition<S extends DescService = DescService> {
  readonly kind: "action";
  readonly service: S;
  /** @internal */
  readonly handlers: HandlerTable;
}

/**
 * Defines a Cloudstate Action (entity type `cloudstate.action.ActionProtocol`): a stateless
 * service whose methods may have any streaming shape. Each handler gets an `ActionContext` and
 * answers with a reply, no reply, a forward or a failure; it may register side effects.
 *
 * Handler keys and types come from the service descriptor, so a misspelt method or a wrong
 * request field does not compile.
 *
 * @example
 * ```ts
 * import { action } from "@switchboard/sdk";
 * import { CounterFanout, CounterService } from "./gen/counter_pb.js";
 *
 * export const counterFanout = action({
 *   service: CounterFanout,
 *   handlers: {
 *     increaseMany(req, ctx) {
 *       for (const counterId of req.counterIds) {
 *         ctx.sideEffect(CounterService.method.increase, { counterId, value: req.value });
 *       }
 *       return {};
 *     },
 *   },
 * });
 * ```
 */
export function action<S extends DescService>(options: ActionOptions<S>): ActionDefinition<S> {
  const { service } = options;
  return {
    kind: "action",
    service,
    handlers: checkHandlers(`action(${service.typeName})`, service, options.handlers),
  };
}
