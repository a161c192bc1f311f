import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { action } from "@switchboard/protocol/tck";
import { createTestClient, eventually, type TestClient } from "./support/grpc-client.js";
import { type ModelUserFunction, startModelUserFunction } from "./support/model-user-function.js";
import { type ProxyProcess, startProxy } from "./support/proxy-process.js";

const SERVICE = "/cloudstate.tck.model.action.ActionTckModel";
const { RequestSchema, ResponseSchema } = action;
type Step = NonNullable<MessageInitShape<typeof action.ProcessStepSchema>["step"]>;
const reply = (message: string): Step => ({ case: "reply", value: { message } });
const group = (...steps: Step[]) => ({ steps: steps.map((step) => ({ step })) });
const request = (...groups: ReturnType<typeof group>[]) => ({ groups });

describe("actions through the proxy", () => {
  let uf: ModelUserFunction;
  let proxy: ProxyProcess;
  let client: TestClient;
  const callsTo = (service: string) => uf.actionCalls.filter((c) => c.commands[0]?.serviceName.endsWith(service));

  before(async () => {
    uf = await startModelUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
    client = createTestClient(proxy.port);
  });
  after(async () => {
    client.close();
    await proxy.stop();
    await uf.close();
  });

  it("relays a unary call with its payload type URL and request headers as metadata", async () => {
    const before = uf.actionCalls.length;
    const result = await client.unary(`${SERVICE}/ProcessUnary`, RequestSchema, ResponseSchema, request(group(reply("one"))), {
      metadata: { "x-custom": "hello" },
    });
    assert.equal(result.code, grpc.status.OK);
    assert.equal(result.messages[0]?.message, "one");
    const recorded = uf.actionCalls[before];
    assert.equal(recorded?.rpc, "handleUnary");
    const command = recorded?.commands[0];
    assert.equal(command?.serviceName, "cloudstate.tck.model.action.ActionTckModel");
    assert.equal(command?.name, "ProcessUnary");
    assert.equal(command?.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.action.Request");
    const entries = command?.metadata?.entries ?? [];
    assert.ok(entries.some((e) => e.key === "x-custom" && e.value.case === "stringValue" && e.value.value === "hello"));
    assert.ok(!entries.some((e) => e.key.startsWith(":") || e.key === "content-type" || e.key === "te" || e.key.startsWith("grpc-")));
  });

  it("passes the client's deadline on to the user function, and nothing when the client gave none (the relay timeout is the proxy's own)", async () => {
    const before = uf.actionCalls.length;
    const plain = await client.unary(`${SERVICE}/ProcessUnary`, RequestSchema, ResponseSchema, request(group(reply("plain"))));
    assert.equal(plain.code, grpc.status.OK);
    assert.equal(uf.actionCalls[before]?.deadline, Number.POSITIVE_INFINITY);
    const sent = Date.now();
    const bounded = await client.unary(`${SERVICE}/ProcessUnary`, RequestSchema, ResponseSchema, request(group(reply("bounded"))), { deadlineMs: 5000 });
    assert.equal(bounded.code, grpc.status.OK);
    const seen = uf.actionCalls[before + 1]?.deadline ?? Number.NaN;
    assert.ok(seen > sent && seen <= sent + 5000 + 50, `the user function saw a deadline ${seen - sent} ms after the call was sent`);
  });

  it("answers the empty output message when the action gives no reply", async () => {
    const result = await client.unary(`${SERVICE}/ProcessUnary`, RequestSchema, ResponseSchema, request(group()));
    assert.equal(result.code, grpc.status.OK);
    assert.equal(result.messages.length, 1);
    assert.equal(result.messages[0]?.message, "");
  });

  it("turns a failure into UNKNOWN with the description", async () => {
    const result = await client.unary(
      `${SERVICE}/ProcessUnary`,
      RequestSchema,
      ResponseSchema,
      request(group({ case: "fail", value: { message: "expected failure" } })),
    );
    assert.equal(result.code, grpc.status.UNKNOWN);
    assert.equal(result.details, "expected failure");
  });

  it("forwards with a separate handleUnary call to ActionTwo and returns its reply", async () => {
    const before = callsTo("ActionTwo").length;
    const result = await client.unary(`${SERVICE}/ProcessUnary`, RequestSchema, ResponseSchema, request(group({ case: "forward", value: { id: "other" } })));
    assert.equal(result.code, grpc.status.OK);
    assert.equal(result.messages[0]?.message, "");
    const two = callsTo("ActionTwo")[before];
    assert.equal(two?.rpc, "handleUnary");
    assert.equal(two?.commands[0]?.name, "Call");
    assert.equal(two?.commands[0]?.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.action.OtherRequest");
  });

  it("runs a side effect after replying, and a failure's side effects too", async () => {
    const before = callsTo("ActionTwo").length;
    const result = await client.unary(
      `${SERVICE}/ProcessUnary`,
      RequestSchema,
      ResponseSchema,
      request(group(reply("r"), { case: "effect", value: { id: "another", synchronous: false } })),
    );
    assert.equal(result.messages[0]?.message, "r");
    await eventually(() => callsTo("ActionTwo").length > before, 2000, "side effect");
    const failed = await client.unary(
      `${SERVICE}/ProcessUnary`,
      RequestSchema,
      ResponseSchema,
      request(group({ case: "effect", value: { id: "sync", synchronous: true } }, { case: "fail", value: { message: "boom" } })),
    );
    assert.equal(failed.details, "boom");
    assert.equal(callsTo("ActionTwo").length, before + 2, "the synchronous side effect ran before the failure was returned");
  });

  it("streams in: sends the header first, then payload-only messages, and returns one reply", async () => {
    const before = uf.actionCalls.length;
    const result = await client.clientStream(`${SERVICE}/ProcessStreamedIn`, RequestSchema, ResponseSchema, [
      request(group(reply("one"))),
      request(group(reply("two"))),
    ]);
    assert.equal(result.code, grpc.status.OK);
    assert.equal(result.messages[0]?.message, "two");
    const recorded = uf.actionCalls[before];
    assert.equal(recorded?.rpc, "handleStreamedIn");
    assert.equal(recorded?.commands.length, 3);
    assert.equal(recorded?.commands[0]?.name, "ProcessStreamedIn");
    assert.equal(recorded?.commands[0]?.payload, undefined, "the header carries no payload");
    assert.equal(recorded?.commands[1]?.name, "");
    assert.ok(recorded?.commands[1]?.payload);
  });

  it("streams out: one command in, a reply per group out, in order", async () => {
    const result = await client.serverStream(
      `${SERVICE}/ProcessStreamedOut`,
      RequestSchema,
      ResponseSchema,
      request(group(reply("A")), group(reply("B")), group(), group(reply("C"))),
    );
    assert.equal(result.code, grpc.status.OK);
    assert.deepEqual(
      result.messages.map((m) => m.message),
      ["A", "B", "C"],
    );
  });

  it("streams both ways, with forwards resolved in order", async () => {
    const result = await client.bidi(`${SERVICE}/ProcessStreamed`, RequestSchema, ResponseSchema, [
      request(group(reply("X"))),
      request(group({ case: "forward", value: { id: "f" } })),
      request(group(reply("Y")), group(reply("Z"))),
    ]);
    assert.equal(result.code, grpc.status.OK);
    assert.deepEqual(
      result.messages.map((m) => m.message),
      ["X", "", "Y", "Z"],
    );
  });

  it("ends a streamed call with the failure's description", async () => {
    const result = await client.bidi(`${SERVICE}/ProcessStreamed`, RequestSchema, ResponseSchema, [
      request(group(reply("ok"))),
      request(group({ case: "fail", value: { message: "expected failure" } })),
    ]);
    assert.equal(result.code, grpc.status.UNKNOWN);
    assert.equal(result.details, "expected failure");
    assert.deepEqual(
      result.messages.map((m) => m.message),
      ["ok"],
    );
  });
});
