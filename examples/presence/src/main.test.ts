/**
 * Runs the example as a real user function process (HOST/PORT from the environment, as a proxy
 * would start it) and talks the Cloudstate CRDT protocol to it.
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
import type { CrdtStreamIn, CrdtStreamOut, EntitySpec } from "@switchboard/protocol";
import { Crdt, CrdtStreamInSchema, EntityDiscovery, http, ProxyInfoSchema } from "@switchboard/protocol";
import { createGrpcServiceDefinition } from "@switchboard/sdk/internal";
import { startUserFunction, type TestUserFunction } from "@switchboard/sdk/testing";
import { ConnectRequestSchema, OnlineSchema, WatchRequestSchema } from "./gen/presence_pb.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));
const discovery = createGrpcServiceDefinition(EntityDiscovery);
const crdt = createGrpcServiceDefinition(Crdt);
const SERVICE = "com.example.presence.Presence";

describe("the presence example as a process", () => {
  let userFunction: TestUserFunction | undefined;
  let port: number;
  let client: Client;

  before(async () => {
    userFunction = await startUserFunction({ entry: mainTs, cwd: repoRoot });
    port = userFunction.port;
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await userFunction?.stop("SIGKILL");
  });

  it("answers discover with the CRDT entity and its HTTP routes", async () => {
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
      [["cloudstate.crdt.Crdt", SERVICE, SERVICE]],
    );
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, spec.proto));
    const watch = registry.getService(SERVICE)?.method.watch;
    assert.ok(watch);
    assert.equal(watch.methodKind, "server_streaming");
    const rule = getOption(watch, http);
    assert.deepEqual([rule.pattern.case, rule.pattern.value], ["get", "/rooms/{room}/watch"]);
  });

  it("runs a room: a watcher sees a user join and leave", async () => {
    const call: ClientDuplexStream<CrdtStreamIn, CrdtStreamOut> = client.makeBidiStreamRequest(
      crdt.handle.path,
      crdt.handle.requestSerialize,
      crdt.handle.responseDeserialize,
      new Metadata(),
    );
    const outs: CrdtStreamOut[] = [];
    let notify: () => void = () => {};
    call.on("data", (m: CrdtStreamOut) => {
      outs.push(m);
      notify();
    });
    const until = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${outs.length} of ${count} messages`)), 5000);
        notify = () => {
          if (outs.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      });
    const ended = once(call, "status");
    const send = (init: MessageInitShape<typeof CrdtStreamInSchema>) => call.write(create(CrdtStreamInSchema, init));
    const users = (out: CrdtStreamOut | undefined): string[] | undefined => {
      const action = out?.message.case === "reply" || out?.message.case === "streamedMessage" ? out.message.value.clientAction?.action : undefined;
      return action?.case === "reply" ? fromBinary(OnlineSchema, action.value.payload?.value ?? new Uint8Array()).users : undefined;
    };

    send({ message: { case: "init", value: { serviceName: SERVICE, entityId: "lobby" } } });
    send({
      message: {
        case: "command",
        value: {
          entityId: "lobby",
          id: 1n,
          name: "Watch",
          streamed: true,
          payload: anyPack(WatchRequestSchema, create(WatchRequestSchema, { room: "lobby" })),
        },
      },
    });
    await until(1);
    assert.equal(outs[0]?.message.case, "reply");
    assert.equal(outs[0]?.message.case === "reply" ? outs[0].message.value.streamed : undefined, true);
    assert.deepEqual(users(outs[0]), []);

    send({
      message: {
        case: "command",
        value: {
          entityId: "lobby",
          id: 2n,
          name: "Connect",
          streamed: true,
          payload: anyPack(ConnectRequestSchema, create(ConnectRequestSchema, { room: "lobby", user: "alice" })),
        },
      },
    });
    await until(3);
    const joined = outs[1];
    assert.equal(joined?.message.case, "reply");
    assert.equal(joined?.message.case === "reply" ? joined.message.value.stateAction?.action.value?.$typeName : undefined, "cloudstate.crdt.CrdtDelta");
    assert.deepEqual(users(joined), ["alice"]);
    assert.equal(outs[2]?.message.case, "streamedMessage");
    assert.equal(outs[2]?.message.value?.commandId, 1n);
    assert.deepEqual(users(outs[2]), ["alice"], "the watcher sees alice join");

    send({ message: { case: "streamCancelled", value: { entityId: "lobby", id: 2n } } });
    await until(5);
    assert.equal(outs[3]?.message.case, "streamCancelledResponse");
    assert.equal(outs[3]?.message.case === "streamCancelledResponse" ? outs[3].message.value.stateAction?.action.case : undefined, "update");
    assert.deepEqual(users(outs[4]), [], "the watcher sees alice leave");

    call.end();
    await ended;
    assert.equal(outs.length, 5);
  });

  it("exits with code 0 on SIGTERM", async () => {
    const code = await userFunction?.stop("SIGTERM");
    assert.equal(code, 0);
  });
});
