/**
 * gRPC server reflection (`grpc.reflection.v1alpha` and `grpc.reflection.v1`), one
 * namespace per version. The two versions have the same messages and wire numbers.
 */
export * as v1 from "./gen/grpc/reflection/v1/reflection_pb.js";
export * as v1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";
