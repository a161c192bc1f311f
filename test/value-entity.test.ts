import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { valueentity } from "@switchboard/protocol/tck";
import { createTestClient, eventually, type TestClient } from "./support/grpc-client.js";
import { type ModelUserFunction, startModelUserFunction, TRIGGERS } from "./support/model-user-function.js";
import { type ProxyProcess, startProxy } from "./support/proxy-process.js";

const PROCESS = "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process";
const { RequestSchema, ResponseSchema } = valueentity;
type Action = NonNullable<MessageInitShape<typeof valueentity.RequestActionSchema>["action"]>;

describe("value entities through the proxy", () => {
  let uf: ModelUserFunction;
  let proxy: ProxyProcess;
  let client: TestClient;
  let n = 0;
  const nextId = () => `entity-${++n}`;
  const call = (id: string, actions: Action[]) => client.unary(PROCESS, RequestSchema, ResponseSchema, { id, actions: actions.map((action) => ({ action })) });
  const update = (value: string) => ({ case: "update" as const, value: { value } });
  const streamsOf = (id: string) => uf.streams.filter((s) => s.messages[0]?.message.case === "init" && s.messages[0].message.value.entityId === id);

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

  it("opens one stream per entity with init (state present, no value) and numbers commands 1, 2, 3", async () => {
    const id = nextId();
    assert.equal((await call(id, [])).messages[0]?.message, "");
    assert.equal((await call(id, [update("one")])).messages[0]?.message, "one");
    assert.equal((await call(id, [])).messages[0]?.message, "one");
    const [stream, ...others] = streamsOf(id);
    assert.ok(stream);
    assert.equal(others.length, 0);
    const init = stream.messages[0]?.message;
    assert.equal(init?.case, "init");
    if (init?.case === "init") {
      assert.equal(init.value.serviceName, "cloudstate.tck.model.valueentity.ValueEntityTckModel");
      assert.ok(init.value.state, "init.state is always present");
      assert.equal(init.value.state?.value, undefined);
    }
    const commands = stream.messages.slice(1).map((m) => (m.message.case === "command" ? m.message.value : undefined));
    assert.deepEqual(
      commands.map((c) => c?.id),
      [1n, 2n, 3n],
    );
    for (const c of commands) {
      assert.equal(c?.name, "Process");
      assert.equal(c?.entityId, id);
      assert.equal(c?.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.valueentity.Request");
      assert.equal(c?.metadata, undefined, "entity commands carry no metadata");
    }
  });

  it("deletes state, and a read after delete is empty", async () => {
    const id = nextId();
    await call(id, [update("two")]);
    assert.equal((await call(id, [{ case: "delete", value: {} }])).messages[0]?.message, "");
    assert.equal((await call(id, [])).messages[0]?.message, "");
  });

  it("returns a user-function failure as UNKNOWN with its description, and the entity keeps working", async () => {
    const id = nextId();
    await call(id, [update("kept")]);
    const failed = await call(id, [update("lost"), { case: "fail", value: { message: "expected failure" } }]);
    assert.equal(failed.code, grpc.status.UNKNOWN);
    assert.equal(failed.details, "expected failure");
    assert.equal((await call(id, [])).messages[0]?.message, "kept");
    assert.equal(streamsOf(id).length, 1);
  });

  it("forwards to another entity service, which gets its own stream", async () => {
    const id = nextId();
    const result = await call(id, [{ case: "forward", value: { id } }]);
    assert.equal(result.code, grpc.status.OK);
    const two = uf.streams.find(
      (s) =>
        s.messages[0]?.message.case === "init" &&
        s.messages[0].message.value.serviceName.endsWith("ValueEntityTwo") &&
        s.messages[0].message.value.entityId === id,
    );
    assert.ok(two, "ValueEntityTwo stream opened");
    const command = two.messages[1]?.message;
    assert.equal(command?.case === "command" ? command.value.name : undefined, "Call");
    assert.equal(command?.case === "command" ? command.value.id : undefined, 1n);
  });

  it("runs synchronous side effects before the reply and asynchronous ones after", async () => {
    const id = nextId();
    const result = await call(id, [
      update("x"),
      { case: "effect", value: { id, synchronous: true } },
      { case: "effect", value: { id: `${id}-async`, synchronous: false } },
    ]);
    assert.equal(result.messages[0]?.message, "x");
    const twoStream = (eid: string) =>
      uf.streams.find(
        (s) =>
          s.messages[0]?.message.case === "init" &&
          s.messages[0].message.value.serviceName.endsWith("ValueEntityTwo") &&
          s.messages[0].message.value.entityId === eid,
      );
    assert.ok(twoStream(id)?.messages[1], "synchronous side effect arrived before the reply");
    await eventually(() => twoStream(`${id}-async`)?.messages[1] !== undefined, 3000, "asynchronous side effect");
  });

  it("processes concurrent commands to one entity one at a time, in arrival order", async () => {
    const id = nextId();
    uf.replyDelayMs = 5;
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call(id, [update(String(i))])));
      assert.deepEqual(
        results.map((r) => r.messages[0]?.message),
        Array.from({ length: 20 }, (_, i) => String(i)),
      );
    } finally {
      uf.replyDelayMs = 0;
    }
    const ids = streamsOf(id)[0]
      ?.messages.slice(1)
      .map((m) => (m.message.case === "command" ? m.message.value.id : 0n));
    assert.deepEqual(
      ids,
      Array.from({ length: 20 }, (_, i) => BigInt(i + 1)),
    );
  });

  it("passivates an entity after its own idle timeout and rehydrates it from the store", async () => {
    const id = nextId();
    const configured = "/cloudstate.tck.model.valueentity.ValueEntityConfigured/Call";
    await client.unary(configured, RequestSchema, ResponseSchema, { id });
    const stream = uf.streams.find((s) => s.messages[0]?.message.case === "init" && s.messages[0].message.value.entityId === id);
    assert.ok(stream);
    await eventually(() => stream.ended, 2000, "stream closed by passivation");
    await client.unary(configured, RequestSchema, ResponseSchema, { id });
    assert.equal(uf.streams.filter((s) => s.messages[0]?.message.case === "init" && s.messages[0].message.value.entityId === id).length, 2);
  });

  it("stops the entity on a protocol violation, fails the call, reports the error and starts it again", async () => {
    const id = nextId();
    await call(id, [update("safe")]);
    const before = uf.reportedErrors.length;
    const bad = await call(id, [{ case: "fail", value: { message: TRIGGERS.wrongCommandId } }]);
    assert.equal(bad.code, grpc.status.UNKNOWN);
    assert.equal(bad.details, "Unexpected entity failure");
    await eventually(() => uf.reportedErrors.length > before, 2000, "reportError");
    assert.match(uf.reportedErrors.at(-1) ?? "", /replied to command 102/);
    const again = await call(id, []);
    assert.equal(again.messages[0]?.message, "safe");
    assert.equal(streamsOf(id).length, 2, "a new stream after the violation");
  });

  it("fails the current command on a top-level failure and restarts the entity from the store", async () => {
    const id = nextId();
    await call(id, [update("v1")]);
    const bad = await call(id, [{ case: "fail", value: { message: TRIGGERS.topLevelFailure } }]);
    assert.equal(bad.code, grpc.status.UNKNOWN);
    assert.equal(bad.details, "Unexpected entity failure");
    assert.equal((await call(id, [])).messages[0]?.message, "v1");
  });

  it("fails the call when the user function ends the stream with an error, then recovers", async () => {
    const id = nextId();
    await call(id, [update("before")]);
    const bad = await call(id, [{ case: "fail", value: { message: TRIGGERS.breakStream } }]);
    assert.equal(bad.code, grpc.status.INTERNAL);
    assert.match(bad.details, /Unexpected entity termination: user function broke the stream/);
    assert.equal((await call(id, [])).messages[0]?.message, "before");
  });

  it("rejects an update without a value as a protocol violation", async () => {
    const id = nextId();
    const bad = await call(id, [{ case: "fail", value: { message: TRIGGERS.updateWithoutValue } }]);
    assert.equal(bad.code, grpc.status.UNKNOWN);
    await eventually(() => uf.reportedErrors.some((e) => e.includes("update without a value")), 2000, "reportError");
  });

  it("fails a forward to an unknown service with INTERNAL and reports it to the user function", async () => {
    const id = nextId();
    const result = await call(id, [{ case: "fail", value: { message: TRIGGERS.forwardToUnknown } }]);
    assert.equal(result.code, grpc.status.INTERNAL);
    assert.match(
      result.details,
      /Forward to unknown service method no\.such\.Service\/Call \(forward of cloudstate\.tck\.model\.valueentity\.ValueEntityTckModel\/Process\)/,
    );
    await eventually(() => uf.reportedErrors.some((e) => e.includes("no.such.Service/Call")), 2000, "reportError");
    assert.equal((await call(id, [])).code, grpc.status.OK, "the entity keeps working");
  });

  it("reports a side effect to an unknown service without changing the reply", async () => {
    const id = nextId();
    const before = uf.reportedErrors.length;
    const result = await call(id, [{ case: "fail", value: { message: TRIGGERS.sideEffectToUnknown } }]);
    assert.equal(result.code, grpc.status.OK);
    assert.equal(result.messages[0]?.message, "replied");
    await eventually(
      () => uf.reportedErrors.slice(before).some((e) => /Side effect to unknown service method no\.such\.Service\/Call/.test(e)),
      2000,
      "reportError",
    );
  });

  it("rejects requests whose entity key is empty or unreadable with INVALID_ARGUMENT", async () => {
    const empty = await call("", []);
    assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
    assert.match(empty.details, /entity key .* is empty/);
    const raw = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.raw.makeUnaryRequest(
        PROCESS,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0x05, 0x61]),
        new grpc.Metadata(),
        (error) => resolve(error),
      );
    });
    assert.equal(raw?.code, grpc.status.INVALID_ARGUMENT);
    const badUtf8 = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.raw.makeUnaryRequest(
        PROCESS,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0x02, 0xc3, 0x28]),
        new grpc.Metadata(),
        (error) => resolve(error),
      );
    });
    assert.equal(badUtf8?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(badUtf8?.details ?? "", /UTF-8/);
  });
});

describe("value entities with a short relay timeout", () => {
  it("answers DEADLINE_EXCEEDED when the user function does not reply, and restarts the entity", async () => {
    const uf = await startModelUserFunction();
    const proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--relay-timeout", "300"] });
    const client = createTestClient(proxy.port);
    try {
      await client.unary(PROCESS, RequestSchema, ResponseSchema, { id: "slow", actions: [{ action: { case: "update", value: { value: "v" } } }] });
      const started = Date.now();
      const [silent, queued] = await Promise.all([
        client.unary(PROCESS, RequestSchema, ResponseSchema, { id: "slow", actions: [{ action: { case: "fail", value: { message: TRIGGERS.noReply } } }] }),
        client.unary(PROCESS, RequestSchema, ResponseSchema, { id: "slow", actions: [] }),
      ]);
      assert.equal(silent.code, grpc.status.DEADLINE_EXCEEDED);
      assert.match(silent.details, /did not answer command 2 .* within 300 ms/);
      assert.equal(queued.code, grpc.status.UNAVAILABLE);
      assert.equal(queued.details, "Entity terminated");
      assert.ok(Date.now() - started < 3000);
      const after = await client.unary(PROCESS, RequestSchema, ResponseSchema, { id: "slow", actions: [] });
      assert.equal(after.messages[0]?.message, "v");
    } finally {
      client.close();
      await proxy.stop();
      await uf.close();
    }
  });
});
