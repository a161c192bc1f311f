import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import type { ActionCommand } from "@switchboard/protocol";
import { eventlogeventing } from "@switchboard/protocol/tck";
import { createTestClient, eventually, type TestClient } from "./support/grpc-client.js";
import { type ModelUserFunction, startModelUserFunction } from "./support/model-user-function.js";
import { type ProxyProcess, startProxy } from "./support/proxy-process.js";

const metadataOf = (command: ActionCommand | undefined) =>
  Object.fromEntries((command?.metadata?.entries ?? []).map((e) => [e.key, e.value.case === "stringValue" ? e.value.value : "<bytes>"]));

describe("event-log eventing", () => {
  let uf: ModelUserFunction;
  let proxy: ProxyProcess;
  let client: TestClient;
  let dir: string;
  const subscriberCalls = (name: string) =>
    uf.actionCalls.filter((c) => c.commands[0]?.serviceName.endsWith("EventLogSubscriberModel") && c.commands[0]?.name === name);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-eventing-"));
    uf = await startModelUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port, store: `sqlite:${path.join(dir, "ev.db")}` });
    client = createTestClient(proxy.port);
  });
  after(async () => {
    client.close();
    await proxy.stop();
    await uf.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("delivers a journal event to the subscriber with CloudEvents metadata", async () => {
    const id = "eventlogeventing:1";
    const result = await client.unary(
      "/cloudstate.tck.model.eventlogeventing.EventSourcedEntityOne/EmitEvent",
      eventlogeventing.EmitEventRequestSchema,
      EmptySchema,
      {
        id,
        event: { case: "eventOne", value: { step: { step: { case: "reply", value: { message: "some message" } } } } },
      },
    );
    assert.equal(result.code, grpc.status.OK);
    await eventually(() => subscriberCalls("ProcessEventOne").length === 1, 3000, "subscriber call");
    const call = subscriberCalls("ProcessEventOne")[0];
    assert.equal(call?.rpc, "handleUnary");
    const command = call?.commands[0];
    assert.equal(command?.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.eventlogeventing.EventOne");
    const metadata = metadataOf(command);
    assert.equal(metadata["ce-subject"], id);
    assert.equal(metadata["ce-source"], "eventlogeventing-one");
    assert.equal(metadata["ce-specversion"], "1.0");
    assert.equal(metadata["ce-type"], "type.googleapis.com/cloudstate.tck.model.eventlogeventing.EventOne");
    assert.equal(metadata["Content-Type"], "application/vnd.cloudstate.protobuf.any");
    assert.match(metadata["ce-id"] ?? "", /^\d+$/);
    assert.deepEqual(
      command?.metadata?.entries.map((e) => e.key),
      ["ce-id", "ce-source", "ce-specversion", "ce-type", "Content-Type", "ce-subject"],
    );
  });

  it("follows a subscriber's forward with a handleUnary call to Effect", async () => {
    await client.unary("/cloudstate.tck.model.eventlogeventing.EventSourcedEntityOne/EmitEvent", eventlogeventing.EmitEventRequestSchema, EmptySchema, {
      id: "eventlogeventing:2",
      event: { case: "eventOne", value: { step: { step: { case: "forward", value: { message: "more" } } } } },
    });
    await eventually(() => subscriberCalls("Effect").length === 1, 3000, "Effect call");
    assert.equal(subscriberCalls("Effect")[0]?.rpc, "handleUnary");
  });

  it("sends an event type with a streaming subscriber through handleStreamedOut", async () => {
    await client.unary("/cloudstate.tck.model.eventlogeventing.EventSourcedEntityOne/EmitEvent", eventlogeventing.EmitEventRequestSchema, EmptySchema, {
      id: "eventlogeventing:4",
      event: {
        case: "eventTwo",
        value: { step: [{ step: { case: "reply", value: { message: "a" } } }, { step: { case: "reply", value: { message: "b" } } }] },
      },
    });
    await eventually(() => subscriberCalls("ProcessEventTwo").length === 1, 3000, "ProcessEventTwo call");
    assert.equal(subscriberCalls("ProcessEventTwo")[0]?.rpc, "handleStreamedOut");
  });

  it("sends JSON events to the method taking google.protobuf.Any, unchanged", async () => {
    await client.unary("/cloudstate.tck.model.eventlogeventing.EventSourcedEntityTwo/EmitJsonEvent", eventlogeventing.JsonEventSchema, EmptySchema, {
      id: "eventlogeventing:3",
      message: "some json message",
    });
    await eventually(() => subscriberCalls("ProcessAnyEvent").length === 1, 3000, "ProcessAnyEvent call");
    const command = subscriberCalls("ProcessAnyEvent")[0]?.commands[0];
    assert.equal(command?.payload?.typeUrl, "json.cloudstate.io/JsonEvent");
    assert.equal(metadataOf(command)["ce-subject"], "eventlogeventing:3");
  });

  it("keeps its offset in the store: a restarted proxy does not deliver old events again", async () => {
    const before = uf.actionCalls.length;
    await proxy.stop();
    client.close();
    proxy = await startProxy({ userFunctionPort: uf.port, store: `sqlite:${path.join(dir, "ev.db")}` });
    client = createTestClient(proxy.port);
    await client.unary("/cloudstate.tck.model.eventlogeventing.EventSourcedEntityOne/EmitEvent", eventlogeventing.EmitEventRequestSchema, EmptySchema, {
      id: "eventlogeventing:5",
      event: { case: "eventOne", value: { step: { step: { case: "reply", value: { message: "after restart" } } } } },
    });
    await eventually(() => subscriberCalls("ProcessEventOne").some((c) => metadataOf(c.commands[0])["ce-subject"] === "eventlogeventing:5"), 3000, "new event");
    await new Promise((r) => setTimeout(r, 300));
    const redelivered = uf.actionCalls
      .slice(before)
      .filter((c) => c.commands[0]?.serviceName.endsWith("EventLogSubscriberModel") && metadataOf(c.commands[0])["ce-subject"] !== "eventlogeventing:5");
    assert.deepEqual(
      redelivered.map((c) => metadataOf(c.commands[0])["ce-subject"]),
      [],
    );
  });
});
