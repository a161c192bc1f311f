import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ServerReflectionInfo, ServerReflectionRequestSchema, ServerReflectionResponseSchema } from "./reflection.js";

test("reflection schemas encode the v1alpha wire format", () => {
  assert.equal(ServerReflectionInfo.parent.typeName, "grpc.reflection.v1alpha.ServerReflection");
  assert.equal(ServerReflectionInfo.methodKind, "bidi_streaming");
  const request = create(ServerReflectionRequestSchema, { host: "h", messageRequest: { case: "listServices", value: "" } } as never);
  // host = 1 (string "h"), list_services = 7 (empty string, but set in the oneof).
  assert.deepEqual([...toBinary(ServerReflectionRequestSchema, request)], [0x0a, 0x01, 0x68, 0x3a, 0x00]);
  const response = create(ServerReflectionResponseSchema, {
    validHost: "h",
    originalRequest: request,
    messageResponse: { case: "listServicesResponse", value: { service: [{ name: "a.B" }] } },
  } as never);
  const decoded = fromBinary(ServerReflectionResponseSchema, toBinary(ServerReflectionResponseSchema, response)) as unknown as {
    validHost: string;
    messageResponse: { case: string; value: { service: { name: string }[] } };
  };
  assert.equal(decoded.validHost, "h");
  assert.equal(decoded.messageResponse.case, "listServicesResponse");
  assert.equal(decoded.messageResponse.value.service[0]?.name, "a.B");
});
