import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { action as actionModel } from "@switchboard/protocol/tck";
import { valueentity } from "@switchboard/protocol/tck";
import { create } from "@bufbuild/protobuf";
import { crdt as crdtModel, eventsourced } from "@switchboard/protocol/tck";
import { crdtTckModel } from "../../../../test/conformance/supports/typescript-sdk/crdt.js";
import { eventSourcedTckModel } from "../../../../test/conformance/supports/typescript-sdk/event-sourced.js";
import { actionTckModel, actionTwo } from "../../../../test/conformance/supports/typescript-sdk/action.js";
import { valueEntityTckModel } from "../../../../test/conformance/supports/typescript-sdk/value-entity.js";
import { codecs, createJsonAny } from "../index.js";
import { eventSourcedEntity } from "../entities/event-sourced/definition.js";
import { valueEntity } from "../entities/value/definition.js";
import { testAction, testCrdtEntity, testEventSourcedEntity, testValueEntity } from "./index.js";

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

type EsAction = MessageInitShape<typeof eventsourced.RequestActionSchema>;
const emit = (...values: string[]): EsAction[] => values.map((value) => ({ action: { case: "emit", value: { value } } }));

describe("testEventSourcedEntity", () => {
  it("given a snapshot and events, when a command emits, then events, reply, snapshot and state", async () => {
    const t = testEventSourcedEntity(eventSourcedTckModel, {
      entityId: "e1",
      snapshot: { value: "AB" },
      snapshotSequence: 2,
      events: [create(eventsourced.PersistedSchema, { value: "C" }), createJsonAny("test.Text", { text: "D" })],
    });
    assert.equal(t.state.value, "ABCD");
    assert.equal(t.sequenceNumber, 4n);
    const r = await t.call("process", { id: "e1", actions: emit("E", "F") });
    assert.equal(r.reply?.message, "ABCDEF");
    assert.deepEqual(r.events, [create(eventsourced.PersistedSchema, { value: "E" }), create(eventsourced.PersistedSchema, { value: "F" })]);
    assert.equal(r.snapshot?.value, "ABCDE" + "F", "events 5 and 6 cross 5: the snapshot is the state after them");
    assert.equal(t.sequenceNumber, 6n);
    assert.equal(t.emitted.length, 2);
  });

  it("keeps nothing of a failed command, and rejects with a crash", async () => {
    const t = testEventSourcedEntity(eventSourcedTckModel);
    const r = await t.call("process", { id: "x", actions: [...emit("A"), { action: { case: "fail", value: { message: "nope" } } }] });
    assert.deepEqual([r.failure, r.events, t.state.value, t.sequenceNumber], ["nope", [], "", 0n]);
    await assert.rejects(t.call("process", { id: "x", actions: [{ action: { case: "fail", value: { message: "crash:boom" } } }] }), /boom/);
  });

  it("changes the state by events only: direct changes to ctx.state are not kept", async () => {
    const entity = eventSourcedEntity({
      service: eventsourced.EventSourcedTwo,
      persistenceId: "p",
      state: eventsourced.PersistedSchema,
      eventTypes: [eventsourced.PersistedSchema],
      events: {
        Persisted(state, event) {
          state.value += event.value;
        },
      },
      handlers: {
        call(_req, ctx) {
          ctx.state.value = "lost";
          ctx.emit(eventsourced.PersistedSchema, { value: "a" });
          const seen = ctx.state.value;
          ctx.state.value = "lost too";
          return { message: `${seen} ${ctx.sequenceNumber}` };
        },
      },
    });
    const t = testEventSourcedEntity(entity);
    assert.equal((await t.call("call", { id: "x" })).reply?.message, "a 1");
    assert.equal(t.state.value, "a");
  });

  it("refuses given events of no declared type", () => {
    assert.throws(
      () => testEventSourcedEntity(eventSourcedTckModel, { events: [create(eventsourced.ResponseSchema) as never] }),
      /cloudstate\.tck\.model\.Response is not an event type/,
    );
  });
});

type CrdtAction = MessageInitShape<typeof crdtModel.RequestActionSchema>;
const change = (n: number): CrdtAction => ({ action: { case: "update", value: { update: { case: "pncounter", value: { change: BigInt(n) } } } } });

describe("testCrdtEntity", () => {
  it("sends commands and reports the delta, the write consistency and the CRDT", async () => {
    const t = testCrdtEntity(crdtTckModel, { entityId: "PNCounter-1", delta: { delta: { case: "pncounter", value: { change: 10n } } } });
    assert.equal(t.state?.kind, "PNCounter");
    const r = await t.call("process", { id: "PNCounter-1", actions: [change(1), change(2)] });
    assert.equal(r.reply?.state?.value.case, "pncounter");
    assert.equal(r.stateChange?.kind, "update");
    const delta = r.stateChange?.kind === "update" ? r.stateChange.delta.delta : undefined;
    assert.equal(delta?.case === "pncounter" ? delta.value.change : undefined, 3n, "one coalesced delta");
    assert.equal(r.stateChange?.writeConsistency, 0);
    assert.equal(r.streamed, false);
    await t.applyDelta({ delta: { case: "pncounter", value: { change: -3n } } });
    const read = await t.call("process", { id: "PNCounter-1" });
    assert.deepEqual(read.reply?.state?.value, { case: "pncounter", value: create(crdtModel.PNCounterValueSchema, { value: 10n }) });
    assert.equal(read.stateChange, undefined);
  });

  it("opens streamed calls, collects what later changes push, and cancels them", async () => {
    const t = testCrdtEntity(crdtTckModel, { entityId: "PNCounter-2" });
    const watch = await t.stream("processStreamed", { id: "PNCounter-2", cancelUpdate: { update: { case: "pncounter", value: { change: -5n } } } });
    assert.equal(watch.reply.streamed, true);
    await t.call("process", { id: "PNCounter-2", actions: [change(7)] });
    assert.deepEqual(
      watch.messages.map((m) => (m.reply?.state?.value.case === "pncounter" ? m.reply.state.value.value.value : undefined)),
      [7n],
    );
    const cancelled = await watch.cancel();
    assert.equal(cancelled.stateChange?.kind, "update");
    assert.equal(watch.ended, true);
    await assert.rejects(watch.cancel(), /is over/);
    const c = t.state;
    assert.equal(c?.kind === "PNCounter" ? c.value : undefined, 2n);
  });

  it("reports a delete, and a deletion by the proxy", async () => {
    const t = testCrdtEntity(crdtTckModel, { entityId: "GSet-1" });
    const r = await t.call("process", { id: "GSet-1", actions: [{ action: { case: "delete", value: {} } }] });
    assert.equal(r.stateChange?.kind, "delete");
    assert.equal(t.deleted, true);
    assert.match(String((await t.call("process", { id: "GSet-1" })).failure), /the entity was deleted/);
    const other = testCrdtEntity(crdtTckModel, { entityId: "GSet-2", delta: { delta: { case: "gset", value: { added: [codecs.string.encode("a")] } } } });
    other.delete();
    assert.equal(other.state, undefined);
  });
});
