/**
 * @switchboard/sdk: write Cloudstate user functions in TypeScript and serve them to a Cloudstate
 * 0.2 proxy such as Switchboard.
 *
 * Define entities with {@link action}, {@link valueEntity}, {@link eventSourcedEntity} and
 * {@link crdtEntity} from protobuf-es service descriptors, then serve them with {@link serve} (or
 * {@link createServer}). Test handlers without a proxy with `@switchboard/sdk/testing`.
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
export type {
  EventHandler,
  EventHandlers,
  EventName,
  EventSourcedEntityDefinition,
  EventSourcedEntityOptions,
  EventSourcedHandler,
  EventSourcedHandlers,
  ShortName,
} from "./entities/event-sourced/definition.js";
export { eventSourcedEntity } from "./entities/event-sourced/definition.js";
export type { CrdtEntityDefinition, CrdtEntityOptions, CrdtHandler, CrdtHandlers, CrdtOf, CrdtOption } from "./entities/crdt/definition.js";
export { crdtEntity } from "./entities/crdt/definition.js";
export type { EntityDefinition } from "./entities/entity-definition.js";
export { ENTITY_TYPES } from "./entities/entity-definition.js";
export type { AnyIterable, HandlerResult, MaybePromise } from "./entities/shared/handler-types.js";

// CRDTs
export type { Crdt, CrdtKind } from "./crdt/crdt.js";
export { CRDT_KINDS, isCrdt } from "./crdt/crdt.js";
export type { CrdtOfKind } from "./crdt/create-crdt.js";
export { createCrdt } from "./crdt/create-crdt.js";
export type { GCounter } from "./crdt/gcounter.js";
export { createGCounter } from "./crdt/gcounter.js";
export type { PNCounter } from "./crdt/pncounter.js";
export { createPNCounter } from "./crdt/pncounter.js";
export type { GSet } from "./crdt/gset.js";
export { createGSet } from "./crdt/gset.js";
export type { ORSet } from "./crdt/orset.js";
export { createORSet } from "./crdt/orset.js";
export type { LWWRegister, LWWRegisterSetOptions } from "./crdt/lww-register.js";
export { createLWWRegister } from "./crdt/lww-register.js";
export type { Flag } from "./crdt/flag.js";
export { createFlag } from "./crdt/flag.js";
export type { ORMap } from "./crdt/ormap.js";
export { createORMap } from "./crdt/ormap.js";
export type { Vote } from "./crdt/vote.js";
export { createVote } from "./crdt/vote.js";
export { CrdtClock, CrdtWriteConsistency } from "@switchboard/protocol";

// Values in google.protobuf.Any
export type { ValueCodec } from "./serde/codecs.js";
export { codecs, createJsonAny, isJsonAny, JSON_TYPE_URL_PREFIX, jsonTypeOf, parseJsonAny, PRIMITIVE_TYPE_URL_PREFIX } from "./serde/codecs.js";

// Contexts
export type {
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
