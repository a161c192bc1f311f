import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { action as actionModel } from "@switchboard/protocol/tck";
import { valueentity } from "@switchboard/protocol/tck";
import { actionTckModel, actionTwo, valueEntityTckModel } from "../../test/support/tck-model.js";
import { valueEntity } from "../entities/value/definition.js";
import { testAction, testValueEntity } from "./index.js";

type Step = MessageInitShape<typeof actionModel.ProcessStepSchema>;
const reply = (message: string): Step => ({ step: { case: "reply", value: { message } } });
const effect = (id: string, synchronous = false): Step => ({ step: { case: "effect", value: { id, synchronous } } });
const forward = (id: string): Step => ({ step: { case: "forward", value: { id } } });
const fail = (message: string): Step => ({ step: { case: "fail", value: { message } } });
const groups = (...g: Step[][]) => ({ groups: g.map((steps) => ({ steps })) });

describe("testAction", () => {
  const t = testAction(actionTckModel);

  it("runs a unary handler: reply and side effects", async () => {
    const r = await t.call("processUnary", groups([reply("hi"), effect("a", true)]));
    assert.equal(r.reply?.message, "hi");
    assert.equal(r.reply?.$typeName, "cloudstate.tck.model.action.Response");
    assert.deepEqual(
      r.sideEffects.map((e) => [e.service, e.method, e.synchronous]),
      [["cloudstate.tck.model.action.ActionTwo", "Call", true]],
    );
    assert.deepEqual(r.sideEffects[0]?.request, { $typeName: "cloudstate.tck.model.action.OtherRequest", id: "a" });
  });

  it("reports forwards, failures and no reply", async () => {
    const f = await t.call("processUnary", groups([forward("x")]));
    assert.equal(f.forward?.service, "cloudstate.tck.model.action.ActionTwo");
    assert.equal(f.forward?.method, "Call");
    assert.equal(f.reply, undefined);
    assert.equal((await t.call("processUnary", groups([fail("nope")]))).failure, "nope");
    assert.deepEqual(await t.call("processUnary", groups()), { sideEffects: [] });
  });

  it("rejects with the handler's error when it crashes", async () => {
    await assert.rejects(t.call("processUnary", groups([fail("crash:broken")])), /broken/);
  });

  it("runs streamed handlers from arrays", async () => {
    const streamedIn = await t.call("processStreamedIn", [groups([effect("a")]), groups([reply("last")])]);
    assert.equal(streamedIn.reply?.message, "last");
    assert.equal(streamedIn.sideEffects.length, 1);

    const streamedOut = await t.call("processStreamedOut", groups([reply("A")], [reply("B")], [effect("c")]));
    assert.deepEqual(
      streamedOut.map((r) => r.reply?.message ?? `effects:${r.sideEffects.length}`),
      ["A", "B", "effects:1"],
    );

    const streamed = await t.call("processStreamed", [groups([reply("X")]), groups([reply("Y")], [reply("Z")])]);
    assert.deepEqual(
      streamed.map((r) => r.reply?.message),
      ["X", "Y", "Z"],
    );
  });

  it("passes metadata", async () => {
    const r = await testAction(actionTwo).call("call", { id: "1" }, { metadata: { "X-Echo": "from-test" } });
    assert.equal(r.reply?.message, "from-test");
  });
});

describe("testValueEntity", () => {
  type Action = MessageInitShape<typeof valueentity.RequestActionSchema>;
  const update = (value: string): Action => ({ action: { case: "update", value: { value } } });
  const del = (): Action => ({ action: { case: "delete", value: {} } });

  it("keeps state across commands and reports state actions", async () => {
    const t = testValueEntity(valueEntityTckModel, { entityId: "e1" });
    assert.equal(t.entityId, "e1");
    assert.equal(t.hasState, false);
    const r = await t.call("process", { id: "e1", actions: [update("A"), update("B")] });
    assert.equal(r.stateAction, "update");
    assert.equal(r.reply?.message, "B");
    assert.equal(t.state.value, "B");
    assert.equal(t.hasState, true);
    const d = await t.call("process", { id: "e1", actions: [del()] });
    assert.equal(d.stateAction, "delete");
    assert.equal(t.hasState, false);
    assert.equal(t.state.value, "");
  });

  it("starts from a given state", async () => {
    const t = testValueEntity(valueEntityTckModel, { state: { value: "S" } });
    assert.equal(t.hasState, true);
    assert.equal((await t.call("process", { id: "x" })).reply?.message, "S");
  });

  it("keeps nothing of a failed or crashed command", async () => {
    const t = testValueEntity(valueEntityTckModel, { state: { value: "S" } });
    const failed = await t.call("process", {
      id: "x",
      actions: [update("lost"), { action: { case: "effect", value: { id: "y" } } }, { action: { case: "fail", value: { message: "no" } } }],
    });
    assert.deepEqual(failed, { failure: "no", sideEffects: [] });
    await assert.rejects(t.call("process", { id: "x", actions: [update("lost"), { action: { case: "fail", value: { message: "crash:boom" } } }] }), /boom/);
    assert.equal(t.state.value, "S");
  });

  it("gives handlers and tests copies of the state", async () => {
    const mutating = valueEntity({
      service: valueentity.ValueEntityTwo,
      persistenceId: "p",
      state: valueentity.PersistedSchema,
      handlers: {
        call(_req, ctx) {
          ctx.state.value = "mutated without updateState";
          return { message: ctx.state.value };
        },
      },
    });
    const t = testValueEntity(mutating, { state: { value: "stored" } });
    const r = await t.call("call", { id: "x" });
    assert.equal(r.reply?.message, "mutated without updateState");
    assert.equal(r.stateAction, undefined);
    assert.equal(t.state.value, "stored");
    t.state.value = "changed by the test";
    assert.equal(t.state.value, "stored");
  });
});
