/**
 * Runs the example as a real user function process (HOST/PORT from the environment, as a proxy
 * would start it) and talks the Cloudstate protocol to it.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create, createFileRegistry, fromBinary, getOption } from "@bufbuild/protobuf";
import { anyPack, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import type { EntitySpec, ValueEntityStreamIn, ValueEntityStreamOut } from "@switchboard/protocol";
import { EntityDiscovery, http, ProxyInfoSchema, ValueEntity, ValueEntityStreamInSchema } from "@switchboard/protocol";
import { createGrpcServiceDefinition } from "@switchboard/sdk/internal";
import { startUserFunction, type TestUserFunction } from "@switchboard/sdk/testing";
import { CurrentCounterSchema, GetCounterSchema, IncreaseValueSchema } from "./gen/counter_pb.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));
const discovery = createGrpcServiceDefinition(EntityDiscovery);
const valueEntity = createGrpcServiceDefinition(ValueEntity);

describe("the counter example as a process", () => {
  let userFunction: TestUserFunction | undefined;
  let port: number;
  let client: Client;
  let stderr = "";

  before(async () => {
    userFunction = await startUserFunction({ entry: mainTs, cwd: repoRoot });
    port = userFunction.port;
    stderr = userFunction.output();
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await userFunction?.stop("SIGKILL");
  });

  it("prints one listening line naming its services", () => {
    assert.match(stderr, /serving com\.example\.counter\.CounterService, com\.example\.counter\.CounterFanout\n/);
  });

  it("answers discover with both entities and a complete descriptor set", async () => {
    const spec = await new Promise<EntitySpec>((resolve, reject) => {
      client.makeUnaryRequest(
        discovery.discover.path,
        discovery.discover.requestSerialize,
        discovery.discover.responseDeserialize,
        create(ProxyInfoSchema, { protocolMajorVersion: 0, protocolMinorVersion: 2, proxyName: "test" }),
        new Metadata(),
        (error, response) => (error || !response ? reject(error) : resolve(response)),
      );
    });
    assert.deepEqual(
      spec.entities.map((e) => [e.entityType, e.serviceName, e.persistenceId]),
      [
        ["cloudstate.valueentity.ValueEntity", "com.example.counter.CounterService", "counter"],
        ["cloudstate.action.ActionProtocol", "com.example.counter.CounterFanout", ""],
      ],
    );
    assert.equal(spec.serviceInfo?.serviceName, "counter-example");
    assert.equal(spec.serviceInfo?.protocolMinorVersion, 2);
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, spec.proto));
    const get = registry.getService("com.example.counter.CounterService")?.method.getCurrentCounter;
    assert.ok(get);
    const rule = getOption(get, http);
    assert.deepEqual([rule.pattern.case, rule.pattern.value], ["get", "/counters/{counter_id}"]);
    assert.ok(registry.getMessage("com.example.counter.domain.CounterState"), "the state type is described too");
  });

  it("runs a counter entity stream", async () => {
    const call: ClientDuplexStream<ValueEntityStreamIn, ValueEntityStreamOut> = client.makeBidiStreamRequest(
      valueEntity.handle.path,
      valueEntity.handle.requestSerialize,
      valueEntity.handle.responseDeserialize,
      new Metadata(),
    );
    const outs: ValueEntityStreamOut[] = [];
    call.on("data", (m: ValueEntityStreamOut) => outs.push(m));
    const ended = once(call, "status");
    const send = (init: MessageInitShape<typeof ValueEntityStreamInSchema>) => call.write(create(ValueEntityStreamInSchema, init));
    send({ message: { case: "init", value: { serviceName: "com.example.counter.CounterService", entityId: "c1", state: {} } } });
    send({
      message: {
        case: "command",
        value: { entityId: "c1", id: 1n, name: "Increase", payload: anyPack(IncreaseValueSchema, create(IncreaseValueSchema, { counterId: "c1", value: 7n })) },
      },
    });
    send({
      message: {
        case: "command",
        value: { entityId: "c1", id: 2n, name: "GetCurrentCounter", payload: anyPack(GetCounterSchema, create(GetCounterSchema, { counterId: "c1" })) },
      },
    });
    call.end();
    await ended;
    assert.equal(outs.length, 2);
    const [first, second] = outs;
    assert.equal(first?.message.case, "reply");
    assert.equal(first?.message.value.commandId, 1n);
    assert.equal(first?.message.case === "reply" ? first.message.value.stateAction?.action.case : undefined, "update");
    const reply = second?.message.case === "reply" ? second.message.value.clientAction?.action : undefined;
    assert.equal(reply?.case, "reply");
    assert.equal(fromBinary(CurrentCounterSchema, reply?.value.payload?.value ?? new Uint8Array()).value, 7n);
  });

  it("exits with code 0 on SIGTERM", async () => {
    const code = await userFunction?.stop("SIGTERM");
    assert.equal(code, 0);
  });
});
