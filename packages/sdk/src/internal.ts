/**
 * @switchboard/sdk/internal: building blocks for sibling packages (in-process proxy harnesses,
 * the TCK, benchmarks). Not covered by semver.
 *
 * The runtimes speak Cloudstate protocol messages over async iterables with no transport, so a
 * proxy test can drive a user function in process:
 *
 * @example
 * ```ts
 * const runtime = createValueEntityRuntime([counter], silentLogger);
 * for await (const out of runtime.handle(inputs)) console.log(out.message.case);
 * ```
 *
 * @internal
 * @module
 */
export { collectFiles, createEntitySpec, createFileDescriptorSet } from "./discovery.js";
export type { ServiceInfoOptions } from "./discovery.js";
export { createActionRuntime } from "./entities/action/runtime.js";
export type { ActionRuntime } from "./entities/action/runtime.js";
export { createValueEntityRuntime } from "./entities/value/runtime.js";
export type { ValueEntityRuntime } from "./entities/value/runtime.js";
export { createEventSourcedRuntime } from "./entities/event-sourced/runtime.js";
export type { EventSourcedRuntime } from "./entities/event-sourced/runtime.js";
export { createCrdtRuntime } from "./entities/crdt/runtime.js";
export type { CrdtRuntime } from "./entities/crdt/runtime.js";
export { createCrdtForDelta } from "./crdt/create-crdt.js";
export type { CrdtImpl } from "./crdt/crdt.js";
export { implOf } from "./crdt/crdt.js";
export { anyKey } from "./serde/codecs.js";
export { UNEXPECTED_ERROR } from "./entities/action/codec.js";
export { createGrpcServiceDefinition } from "./transport/grpc-service-definition.js";
export type { GrpcServiceDefinition } from "./transport/grpc-service-definition.js";
export { packAny, typeUrlOf, unpackAny, TYPE_URL_PREFIX } from "./serde/any.js";
