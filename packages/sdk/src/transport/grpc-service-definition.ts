/**
 * gRPC service definitions for @grpc/grpc-js made from protobuf-es descriptors, so the protocol
 * messages are (de)serialized with `toBinary`/`fromBinary` (or, for the commands and replies of
 * Actions and entity streams, the hand-written codecs of `wire.ts`) and no proto-loader is needed.
 *
 * @module
 */
import type { MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { MethodDefinition } from "@grpc/grpc-js";
import { deserializerFor, serializerFor } from "./wire.js";

/** The grpc-js definition of service `S`: one method definition per method, keyed by proto name. */
export type GrpcServiceDefinition<S extends GenServiceMethods> = {
  [K in keyof S]: MethodDefinition<MessageShape<S[K]["input"]>, MessageShape<S[K]["output"]>>;
};

/**
 * The grpc-js service definition of a protobuf-es service, for `server.addService()` or
 * `makeGenericClientConstructor()`.
 *
 * @example
 * ```ts
 * const server = new Server();
 * server.addService(createGrpcServiceDefinition(EntityDiscovery), { discover, reportError });
 * ```
 */
export function createGrpcServiceDefinition<S extends GenServiceMethods>(service: GenService<S>): GrpcServiceDefinition<S> {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const streamsIn = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const streamsOut = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: streamsIn,
      responseStream: streamsOut,
      requestSerialize: serializerFor(method.input),
      requestDeserialize: deserializerFor(method.input),
      responseSerialize: serializerFor(method.output),
      responseDeserialize: deserializerFor(method.output),
      originalName: method.localName,
    };
  }
  return definition as GrpcServiceDefinition<S>;
}
