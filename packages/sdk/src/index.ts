/**
 * @switchboard/sdk: write Cloudstate user functions in TypeScript and serve them to a Cloudstate
 * 0.2 proxy such as Switchboard.
 *
 * Define entities with {@link action} and {@link valueEntity} from protobuf-es service
 * descriptors, then serve them with {@link serve} (or {@link createServer}). Test handlers
 * without a proxy with `@switchboard/sdk/testing`.
 *
 * @example
 * ```ts
 * import { serve, valueEntity } from "@switchboard/sdk";
 * import { CounterStateSchema } from "./gen/counter_domain_pb.js";
 * import { CounterService } from "./gen/counter_pb.js";
 *
 * const counter = valueEntity({
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
 *
 * await serve([counter]);
 * ```
 *
 * @module
 */

// Entities
export type {
  ActionDefinition,
  ActionHandler,
  ActionHandlers,
  ActionOptions,
  BidiStreamingActionHandler,
  ClientStreamingActionHandler,
  ServerStreamingActionHandler,
  UnaryActionHandler,
} from "./entities/action/definition.js";
export { action } from "./entities/action/definition.js";
export type {
  ValueEntityDefinition,
  ValueEntityHandler,
  ValueEntityHandlers,
  ValueEntityOptions,
} from "./entities/value/definition.js";
export { valueEntity } from "./entities/value/definition.js";
export type { EntityDefinition } from "./entities/entity-definition.js";
export { ENTITY_TYPES } from "./entities/entity-definition.js";
export type { AnyIterable, HandlerResult, MaybePromise } from "./entities/shared/handler-types.js";

// Contexts
export type {
  ActionContext,
  ForwardOptions,
  ForwardReply,
  Metadata,
  MetadataInit,
  MetadataItem,
  MethodWithInput,
  SideEffectOptions,
  ValueEntityContext,
} from "./context/context.js";

// Failures
export { CommandFailure, isCommandFailure } from "./errors.js";

// Serving
export type { ListenOptions, RunningServer, ServerOptions, UserFunctionServer } from "./server.js";
export { createServer } from "./server.js";
export type { ServeOptions } from "./serve.js";
export { serve } from "./serve.js";
export type { Logger } from "./logger.js";
export { createStderrLogger, silentLogger } from "./logger.js";
export { SDK_NAME, SDK_VERSION } from "./version.js";
