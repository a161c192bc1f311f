/**
 * Server reflection through the real proxy with a grpc-js client: the TCK-exact list,
 * the valid_host/original_request echo, empty answers for unknown names, and every
 * kind of question, on v1alpha and v1.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createFileRegistry, equals, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { v1alpha } from "@switchboard/protocol/reflection";
import { type ModelUserFunction, startModelUserFunction } from "../support/model-user-function.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { type EchoUserFunction, startEchoUserFunction } from "./support/echo-user-function.js";
import { openReflection, type ReflectionStream } from "./support/reflection-client.js";

const fileNames = (response: v1alpha.ServerReflectionResponse) => {
  assert.equal(response.messageResponse.case, "fileDescriptorResponse");
  return response.messageResponse.case === "fileDescriptorResponse"
    ? response.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name)
    : [];
};

describe("server reflection (TCK model user function)", () => {
  let uf: ModelUserFunction;
  let proxy: ProxyProcess;
  let stream: ReflectionStream;
  /** The reflection service, then the services the model user function declares, sorted. */
  let TCK_LIST: string[];

  before(async () => {
    uf = await startModelUserFunction();
    TCK_LIST = ["grpc.reflection.v1alpha.ServerReflection", ...uf.spec.entities.map((e) => e.serviceName).sort()];
    proxy = await startProxy({ userFunctionPort: uf.port });
    stream = openReflection(proxy.port);
  });
  after(async () => {
    stream.close();
    await proxy.stop();
    await uf.close();
  });

  it("ListServices: the reflection service first, then the entity services sorted; the argument is ignored", async () => {
    for (const argument of ["", "nonsense.blabla.", "*"]) {
      const { request, response } = await stream.ask({ host: "localhost:9000", messageRequest: { case: "listServices", value: argument } });
      assert.equal(response.messageResponse.case, "listServicesResponse");
      if (response.messageResponse.case === "listServicesResponse") {
        assert.deepEqual(
          response.messageResponse.value.service.map((s) => s.name),
          TCK_LIST,
        );
      }
      assert.equal(response.validHost, "localhost:9000");
      assert.ok(response.originalRequest && equals(v1alpha.ServerReflectionRequestSchema, response.originalRequest, request), "original_request echoed");
    }
  });

  it("an unknown symbol answers an empty FileDescriptorResponse, echoing host and request", async () => {
    const { request, response } = await stream.ask({ host: "h", messageRequest: { case: "fileContainingSymbol", value: "nonsense.blabla.Void" } });
    const expected = create(v1alpha.ServerReflectionResponseSchema, {
      validHost: "h",
      originalRequest: request,
      messageResponse: { case: "fileDescriptorResponse", value: {} },
    });
    assert.ok(equals(v1alpha.ServerReflectionResponseSchema, response, expected), JSON.stringify(response));
  });

  it("v1 answers the same list (and never lists itself)", async () => {
    const v1 = openReflection(proxy.port, "v1");
    try {
      const { response } = await v1.ask({ messageRequest: { case: "listServices", value: "" } });
      assert.deepEqual(response.messageResponse.case === "listServicesResponse" ? response.messageResponse.value.service.map((s) => s.name) : [], TCK_LIST);
      const { response: unknown } = await v1.ask({ messageRequest: { case: "fileContainingSymbol", value: "nonsense.blabla.Void" } });
      assert.deepEqual(fileNames(unknown), []);
      assert.equal((await v1.end()).code, 0);
    } finally {
      v1.close();
    }
  });

  it("a service's file comes with its imports, and the files resolve into a registry", async () => {
    const fresh = openReflection(proxy.port);
    try {
      const { response } = await fresh.ask({ messageRequest: { case: "fileContainingSymbol", value: "cloudstate.tck.model.valueentity.ValueEntityTckModel" } });
      const names = fileNames(response);
      assert.equal(names[0], "cloudstate/tck/model/valueentity.proto");
      for (const dep of ["cloudstate/entity_key.proto", "google/api/annotations.proto", "google/api/http.proto", "google/protobuf/descriptor.proto"])
        assert.ok(names.includes(dep), `${dep} in ${names.join(", ")}`);
      const files =
        response.messageResponse.case === "fileDescriptorResponse"
          ? response.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b))
          : [];
      const byName = new Map(files.map((f) => [f.name, f]));
      const registry = createFileRegistry(files[0] as (typeof files)[number], (name) => byName.get(name));
      assert.ok(registry.getService("cloudstate.tck.model.valueentity.ValueEntityTckModel"));
      // The same stream does not send the imports again.
      const { response: again } = await fresh.ask({ messageRequest: { case: "fileContainingSymbol", value: "cloudstate.tck.model.valueentity.Request" } });
      assert.deepEqual(fileNames(again), ["cloudstate/tck/model/valueentity.proto"]);
    } finally {
      fresh.close();
    }
  });

  it("finds methods, messages, fields, extensions, and the reflection service's own file", async () => {
    const cases: [string, string][] = [
      ["cloudstate.tck.model.valueentity.ValueEntityTckModel.Process", "cloudstate/tck/model/valueentity.proto"],
      [".cloudstate.tck.model.action.Request", "cloudstate/tck/model/action.proto"],
      ["cloudstate.tck.model.valueentity.Request.id", "cloudstate/tck/model/valueentity.proto"],
      ["google.api.http", "google/api/annotations.proto"],
      ["google.protobuf.MethodOptions", "google/protobuf/descriptor.proto"],
      ["grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"],
      ["grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto"],
    ];
    for (const [symbol, file] of cases) {
      const { response } = await stream.ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } });
      assert.equal(fileNames(response)[0], file, symbol);
    }
  });

  it("file_by_filename, file_containing_extension and all_extension_numbers_of_type", async () => {
    const byName = await stream.ask({ messageRequest: { case: "fileByFilename", value: "google/api/http.proto" } });
    assert.equal(fileNames(byName.response)[0], "google/api/http.proto");
    const missing = await stream.ask({ messageRequest: { case: "fileByFilename", value: "no/such.proto" } });
    assert.deepEqual(fileNames(missing.response), []);
    const extension = await stream.ask({
      messageRequest: { case: "fileContainingExtension", value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 72295728 } },
    });
    assert.equal(fileNames(extension.response)[0], "google/api/annotations.proto");
    const noExtension = await stream.ask({
      messageRequest: { case: "fileContainingExtension", value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 } },
    });
    assert.deepEqual(fileNames(noExtension.response), []);
    const numbers = await stream.ask({ messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" } });
    assert.equal(numbers.response.messageResponse.case, "allExtensionNumbersResponse");
    if (numbers.response.messageResponse.case === "allExtensionNumbersResponse") {
      assert.equal(numbers.response.messageResponse.value.baseTypeName, "google.protobuf.FieldOptions");
      assert.ok(numbers.response.messageResponse.value.extensionNumber.includes(1080), String(numbers.response.messageResponse.value.extensionNumber));
    }
  });

  it("a request that asks nothing gets an error response, and the stream goes on", async () => {
    const { response } = await stream.ask({ host: "x" });
    assert.equal(response.messageResponse.case, "errorResponse");
    assert.equal(response.validHost, "x");
    const { response: next } = await stream.ask({ messageRequest: { case: "listServices", value: "" } });
    assert.equal(next.messageResponse.case, "listServicesResponse");
  });
});

describe("server reflection (echo user function)", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  let stream: ReflectionStream;

  before(async () => {
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
    stream = openReflection(proxy.port);
  });
  after(async () => {
    stream.close();
    await proxy.stop();
    await uf.close();
  });

  it("finds nested messages, map entries, enums, enum values and oneofs", async () => {
    for (const symbol of [
      "switchboard.test.http.EchoMessage.LabelsEntry",
      "switchboard.test.http.Color",
      "switchboard.test.http.GREEN",
      "switchboard.test.http.EchoMessage.choice",
      "switchboard.test.http.Transcoding.Stream",
    ]) {
      const { response } = await stream.ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } });
      assert.equal(fileNames(response)[0], "switchboard/test/http/transcoding.proto", symbol);
    }
    const { response } = await stream.ask({ messageRequest: { case: "listServices", value: "" } });
    assert.deepEqual(response.messageResponse.case === "listServicesResponse" ? response.messageResponse.value.service.map((s) => s.name) : [], [
      "grpc.reflection.v1alpha.ServerReflection",
      "switchboard.test.http.Transcoding",
    ]);
  });
});

describe("server reflection before discovery", () => {
  it("is UNAVAILABLE until the user function is discovered", async () => {
    const proxy = await startProxy({ userFunctionPort: 9, waitFor: "spawn" });
    try {
      const until = Date.now() + 10_000;
      let port = 0;
      while (port === 0 && Date.now() < until) {
        const match = /front port bound.*?:(\d+)/.exec(proxy.stderr());
        if (match) port = Number(match[1]);
        else await new Promise((r) => setTimeout(r, 20));
      }
      const early = openReflection(port);
      const failure = await early.ask({ messageRequest: { case: "listServices", value: "" } }).then(
        () => undefined,
        (error: Error & { code?: number }) => error,
      );
      early.close();
      assert.equal(failure?.code, 14);
    } finally {
      await proxy.kill();
    }
  });
});
