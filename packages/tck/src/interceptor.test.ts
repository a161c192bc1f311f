/**
 * The interceptor against a tiny fake user function: forwarding of every call shape,
 * recording in both directions, status and cancellation pass-through, and the
 * connection expectations.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  ActionCommandSchema,
  ActionProtocol,
  ActionResponseSchema,
  EntityDiscovery,
  EntitySpecSchema,
  ProxyInfoSchema,
  UserFunctionErrorSchema,
  ValueEntity,
  ValueEntityStreamInSchema,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import { TckAssertionError } from "./assertion-error.js";
import { createGrpcClient, expectCallFailure, type GrpcClient } from "./grpc-client.js";
import { createInterceptor, type Interceptor } from "./interceptor.js";
import { command as actionCommand, reply as actionReply } from "./messages/action.js";
import { pack } from "./messages/common.js";
import { command, init, reply } from "./messages/value-entity.js";

const SERVICE = "test.Service";

/** What the fake user function saw. */
interface FakeSeen {
  discovers: number;
  reportedErrors: string[];
  cancelled: number;
}

/**
 * A user function speaking just enough protocol: discovery, a value entity that replies to
 * each command with the command's name, and actions that echo or fail.
 */
async function startFakeUserFunction(port = 0): Promise<{ port: number; seen: FakeSeen; close(): void }> {
  const seen: FakeSeen = { discovers: 0, reportedErrors: [], cancelled: 0 };
  const server = new grpc.Server();
  const ser = (schema: Parameters<typeof toBinary>[0]) => (value: unknown) => Buffer.from(toBinary(schema, value as never));
  const de = (schema: Parameters<typeof fromBinary>[0]) => (bytes: Buffer) => fromBinary(schema, bytes);
  const def = (
    path: string,
    input: Parameters<typeof toBinary>[0],
    output: Parameters<typeof toBinary>[0],
    requestStream: boolean,
    responseStream: boolean,
  ) => ({
    path,
    requestStream,
    responseStream,
    requestSerialize: ser(input),
    requestDeserialize: de(input),
    responseSerialize: ser(output),
    responseDeserialize: de(output),
  });
  server.addService(
    {
      discover: def(`/${EntityDiscovery.typeName}/discover`, ProxyInfoSchema, EntitySpecSchema, false, false),
      reportError: def(`/${EntityDiscovery.typeName}/reportError`, UserFunctionErrorSchema, EmptySchema, false, false),
    },
    {
      discover(_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
        seen.discovers += 1;
        callback(null, create(EntitySpecSchema, { entities: [{ entityType: ValueEntity.typeName, serviceName: SERVICE, persistenceId: "p" }] }));
      },
      reportError(call: grpc.ServerUnaryCall<{ message: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
        seen.reportedErrors.push(call.request.message);
        callback(null, create(EmptySchema));
      },
    } as grpc.UntypedServiceImplementation,
  );
  server.addService({ handle: def(`/${ValueEntity.typeName}/handle`, ValueEntityStreamInSchema, ValueEntityStreamOutSchema, true, true) }, {
    handle(call: grpc.ServerDuplexStream<ReturnType<typeof init>, unknown>) {
      call.on("data", (message: ReturnType<typeof init>) => {
        if (message.message.case === "command") call.write(reply(Number(message.message.value.id), pack(EmptySchema)));
      });
      call.on("end", () => call.end());
      call.on("cancelled", () => {
        seen.cancelled += 1;
      });
    },
  } as grpc.UntypedServiceImplementation);
  const respond = (name: string) => actionReply(pack(UserFunctionErrorSchema, { message: name }));
  server.addService(
    {
      handleUnary: def(`/${ActionProtocol.typeName}/handleUnary`, ActionCommandSchema, ActionResponseSchema, false, false),
      handleStreamedIn: def(`/${ActionProtocol.typeName}/handleStreamedIn`, ActionCommandSchema, ActionResponseSchema, true, false),
      handleStreamedOut: def(`/${ActionProtocol.typeName}/handleStreamedOut`, ActionCommandSchema, ActionResponseSchema, false, true),
      handleStreamed: def(`/${ActionProtocol.typeName}/handleStreamed`, ActionCommandSchema, ActionResponseSchema, true, true),
    },
    {
      handleUnary(call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
        if (call.request.name === "Fail") callback({ code: grpc.status.FAILED_PRECONDITION, details: "told to fail" });
        else callback(null, respond(call.request.name));
      },
      handleStreamedIn(call: grpc.ServerReadableStream<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
        let count = 0;
        call.on("data", () => {
          count += 1;
        });
        call.on("end", () => callback(null, respond(`received ${count}`)));
      },
      handleStreamedOut(call: grpc.ServerWritableStream<{ name: string }, unknown>) {
        call.write(respond("A"));
        call.write(respond("B"));
        call.end();
      },
      handleStreamed(call: grpc.ServerDuplexStream<{ name: string }, unknown>) {
        call.on("data", (c: { name: string }) => call.write(respond(c.name)));
        call.on("end", () => call.end());
        call.on("cancelled", () => {
          seen.cancelled += 1;
        });
      },
    } as grpc.UntypedServiceImplementation,
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  return { port: bound, seen, close: () => server.forceShutdown() };
}

describe("interceptor", () => {
  let uf: Awaited<ReturnType<typeof startFakeUserFunction>>;
  let interceptor: Interceptor;
  let proxy: GrpcClient;

  before(async () => {
    uf = await startFakeUserFunction();
    interceptor = await createInterceptor({ bindPort: 0, userFunctionPort: uf.port });
    proxy = createGrpcClient("127.0.0.1", interceptor.port);
  });

  after(async () => {
    proxy.close();
    await interceptor.close();
    uf.close();
  });

  test("its own discover calls before binding are not recorded", async () => {
    assert.equal(uf.seen.discovers, 1);
    await interceptor.verifyNoMoreInteractions();
  });

  test("records a discovery: ProxyInfo in, EntitySpec out", async () => {
    const spec = await proxy.unary(EntityDiscovery.method.discover, { protocolMajorVersion: 0, protocolMinorVersion: 2, proxyName: "test-proxy" });
    assert.equal(spec.entities[0]?.serviceName, SERVICE);
    const discovery = await interceptor.expectDiscovery();
    assert.equal(discovery.proxyInfo.proxyName, "test-proxy");
    assert.equal(discovery.spec.entities[0]?.serviceName, SERVICE);
    await interceptor.verifyNoMoreInteractions();
  });

  test("forwards reportError without recording a connection", async () => {
    await proxy.unary(EntityDiscovery.method.reportError, { message: "bad reply" });
    assert.deepEqual(uf.seen.reportedErrors, ["bad reply"]);
    assert.deepEqual(interceptor.reportedErrors, ["bad reply"]);
    await interceptor.verifyNoMoreInteractions();
  });

  test("forwards an entity stream and records both directions, half-close and completion", async () => {
    const stream = proxy.bidi(ValueEntity.method.handle);
    stream.send(init(SERVICE, "e1")).send(command(1, "e1", "Get", pack(EmptySchema)));
    const out = await stream.next();
    assert.equal(out.message.case, "reply");
    const connection = await interceptor.expectConnection("value-entity");
    await connection.expectIncoming(init(SERVICE, "e1"));
    await connection.expectIncoming(command(1, "e1", "Get", pack(EmptySchema)));
    await connection.expectOutgoing(reply(1, pack(EmptySchema)));
    stream.complete();
    await stream.expectComplete();
    await connection.expectClosed();
    await interceptor.verifyNoMoreInteractions();
  });

  test("an unequal message fails with both messages rendered", async () => {
    const stream = proxy.bidi(ValueEntity.method.handle);
    stream.send(init(SERVICE, "e2"));
    const connection = await interceptor.expectConnection("value-entity");
    await assert.rejects(connection.expectIncoming(init(SERVICE, "other")), (error: unknown) => {
      assert.ok(error instanceof TckAssertionError);
      assert.match(error.message, /expected .*"entityId":"other"/);
      assert.match(error.message, /received .*"entityId":"e2"/);
      return true;
    });
    stream.cancel();
  });

  test("a proxy cancel is recorded and passed on to the user function", async () => {
    interceptor.drain();
    const before = uf.seen.cancelled;
    const stream = proxy.bidi(ValueEntity.method.handle);
    stream.send(init(SERVICE, "e3"));
    const connection = await interceptor.expectConnection("value-entity");
    await connection.expectIncoming(init(SERVICE, "e3"));
    stream.cancel();
    await assert.rejects(connection.expectClosed(1000), /expected the proxy's side of the stream to complete, got stream failed \(code 1/);
    for (let i = 0; i < 100 && uf.seen.cancelled === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(uf.seen.cancelled, before + 1);
  });

  test("forwards a unary action and ignores metadata when comparing", async () => {
    interceptor.drain();
    await proxy.unary(ActionProtocol.method.handleUnary, {
      serviceName: SERVICE,
      name: "Hello",
      metadata: { entries: [{ key: "k", value: { case: "stringValue", value: "v" } }] },
    });
    const connection = await interceptor.expectConnection("action-unary");
    connection.expectIncoming(actionCommand(SERVICE, "Hello"));
    await connection.expectOutgoing(actionReply(pack(UserFunctionErrorSchema, { message: "Hello" })));
    await interceptor.verifyNoMoreInteractions();
  });

  test("passes a user function's error status back and records it", async () => {
    const failed = await expectCallFailure(proxy.unary(ActionProtocol.method.handleUnary, { serviceName: SERVICE, name: "Fail" }), "the call");
    assert.equal(failed.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(failed.details, "told to fail");
    const connection = await interceptor.expectConnection("action-unary");
    await assert.rejects(connection.expectResponse(), /got stream failed \(code 9: told to fail\)/);
  });

  test("forwards streamed-in, streamed-out and streamed actions", async () => {
    const input = proxy.clientStream(ActionProtocol.method.handleStreamedIn);
    input.send(actionCommand(SERVICE, "In")).send({}).send({}).complete();
    assert.equal((await input.response).response.case, "reply");
    const inConnection = await interceptor.expectConnection("action-streamed-in");
    await inConnection.expectIncoming(actionCommand(SERVICE, "In"));
    await inConnection.expectIncoming(create(ActionCommandSchema));
    await inConnection.expectIncoming(create(ActionCommandSchema));
    await inConnection.expectInComplete();
    await inConnection.expectOutgoing(actionReply(pack(UserFunctionErrorSchema, { message: "received 3" })));

    const output = proxy.serverStream(ActionProtocol.method.handleStreamedOut, { serviceName: SERVICE, name: "Out" });
    await output.next();
    await output.next();
    await output.expectComplete();
    const outConnection = await interceptor.expectConnection("action-streamed-out");
    await outConnection.expectIncoming(actionCommand(SERVICE, "Out"));
    await outConnection.expectOutgoing(actionReply(pack(UserFunctionErrorSchema, { message: "A" })));
    await outConnection.expectOutgoing(actionReply(pack(UserFunctionErrorSchema, { message: "B" })));
    await outConnection.expectOutComplete();

    const duplex = proxy.bidi(ActionProtocol.method.handleStreamed);
    duplex.send(actionCommand(SERVICE, "X"));
    await duplex.next();
    duplex.complete();
    await duplex.expectComplete();
    const duplexConnection = await interceptor.expectConnection("action-streamed");
    await duplexConnection.expectIncoming(actionCommand(SERVICE, "X"));
    await duplexConnection.expectOutgoing(actionReply(pack(UserFunctionErrorSchema, { message: "X" })));
    await duplexConnection.expectComplete();
    await interceptor.verifyNoMoreInteractions();
  });

  test("expectConnection fails on a call of another kind, naming it", async () => {
    await proxy.unary(ActionProtocol.method.handleUnary, { serviceName: SERVICE, name: "Surprise" });
    await assert.rejects(
      interceptor.expectConnection("event-sourced"),
      /expected an event sourced entity stream, got an action handleUnary call \(test.Service\/Surprise\)/,
    );
  });

  test("verifyNoMoreInteractions fails on an unexpected call", async () => {
    await proxy.unary(ActionProtocol.method.handleUnary, { serviceName: SERVICE, name: "Extra" });
    await assert.rejects(interceptor.verifyNoMoreInteractions(), /expected no further calls from the proxy, got an action handleUnary call/);
  });

  test("expectConnection times out naming the awaited kind", async () => {
    await assert.rejects(interceptor.expectConnection("crdt", 30), /timed out after 30 ms waiting for a CRDT entity stream/);
  });
});

describe("interceptor start-up", () => {
  test("waits until the user function answers discover before binding", async () => {
    // Pick a free port for a user function that starts late.
    const probe = await startFakeUserFunction();
    const port = probe.port;
    probe.close();
    const starting = createInterceptor({ bindPort: 0, userFunctionPort: port, onlineTimeoutMs: 5000 });
    let late: Awaited<ReturnType<typeof startFakeUserFunction>> | undefined;
    setTimeout(() => {
      void startFakeUserFunction(port).then((uf) => {
        late = uf;
      });
    }, 300);
    const interceptor = await starting;
    assert.ok(late, "the interceptor must not be ready before the user function");
    assert.equal(late.seen.discovers, 1);
    await interceptor.close();
    late.close();
  });

  test("gives up after the online timeout with the last error", async () => {
    const probe = await startFakeUserFunction();
    const port = probe.port;
    probe.close();
    await assert.rejects(createInterceptor({ bindPort: 0, userFunctionPort: port, onlineTimeoutMs: 300 }), /did not answer discover within 300 ms/);
  });
});
