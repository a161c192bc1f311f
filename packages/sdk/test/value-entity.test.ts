import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import type { ValueEntityStreamInSchema, ValueEntityStreamOut } from "@switchboard/protocol";
import { valueentity as model } from "@switchboard/protocol/tck";
import type { Harness } from "./support/harness.js";
import { startHarness } from "./support/harness.js";
import type { Session } from "./support/protocol-client.js";
import { payload } from "./support/protocol-client.js";
import { tckModelEntities } from "../../../test/conformance/supports/typescript-sdk/entities.js";

const MODEL = "cloudstate.tck.model.valueentity.ValueEntityTckModel";
const TWO = "cloudstate.tck.model.valueentity.ValueEntityTwo";

type Action = MessageInitShape<typeof model.RequestActionSchema>;
const update = (value: string): Action => ({ action: { case: "update", value: { value } } });
const del = (): Action => ({ action: { case: "delete", value: {} } });
const forward = (id: string): Action => ({ action: { case: "forward", value: { id } } });
const effect = (id: string, synchronous = false): Action => ({ action: { case: "effect", value: { id, synchronous } } });
const fail = (message: string): Action => ({ action: { case: "fail", value: { message } } });

/** A compact view of a stream message. */
interface View {
  commandId: bigint;
  topLevelFailure?: string;
  reply?: string;
  noReply?: boolean;
  forward?: string;
  failure?: string;
  failureCommandId?: bigint;
  effects?: string[];
  state?: string;
}

function view(out: ValueEntityStreamOut): View {
  if (out.message.case === "failure") {
    return { topLevelFailure: out.message.value.description, commandId: out.message.value.commandId };
  }
  assert.equal(out.message.case, "reply");
  const r = out.message.value;
  const effects = r.sideEffects.map((e) => {
    const id = fromBinary(model.RequestSchema, e.payload?.value ?? new Uint8Array()).id;
    return `${e.serviceName}/${e.commandName}(${id})${e.synchronous ? " sync" : ""}`;
  });
  let state: string | undefined;
  if (r.stateAction?.action.case === "update") {
    assert.equal(r.stateAction.action.value.value?.typeUrl, "type.googleapis.com/cloudstate.tck.model.valueentity.Persisted");
    state = `update(${fromBinary(model.PersistedSchema, r.stateAction.action.value.value?.value ?? new Uint8Array()).value})`;
  } else if (r.stateAction?.action.case === "delete") {
    state = "delete";
  }
  const action = r.clientAction?.action;
  const answer =
    action === undefined || action.case === undefined
      ? { noReply: true }
      : action.case === "reply"
        ? { reply: fromBinary(model.ResponseSchema, action.value.payload?.value ?? new Uint8Array()).message }
        : action.case === "forward"
          ? {
              forward: `${action.value.serviceName}/${action.value.commandName}(${fromBinary(model.RequestSchema, action.value.payload?.value ?? new Uint8Array()).id})`,
            }
          : { failure: action.value.description, failureCommandId: action.value.commandId };
  return { commandId: r.commandId, ...answer, effects, ...(state === undefined ? {} : { state }) };
}

describe("ValueEntity on a real SDK server", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(tckModelEntities);
  });
  after(() => h.close());

  /** Opens an entity stream with init (no stored value unless given). */
  function open(entityId: string, stored?: string, serviceName = MODEL): Session<MessageInitShape<typeof ValueEntityStreamInSchema>, ValueEntityStreamOut> {
    const s = h.client.valueEntity();
    s.send({
      message: {
        case: "init",
        value: {
          serviceName,
          entityId,
          state: stored === undefined ? {} : { value: payload(model.PersistedSchema, { value: stored }) },
        },
      },
    });
    return s;
  }
  let nextId = 0n;
  function send(s: ReturnType<typeof open>, entityId: string, ...actions: Action[]): bigint {
    nextId += 1n;
    s.send({
      message: {
        case: "command",
        value: { entityId, id: nextId, name: "Process", payload: payload(model.RequestSchema, { id: entityId, actions }) },
      },
    });
    return nextId;
  }

  it("starts empty, updates, reads, deletes, and echoes command ids", async () => {
    const s = open("e1");
    let id = send(s, "e1");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "", effects: [] });
    id = send(s, "e1", update("one"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "one", effects: [], state: "update(one)" });
    id = send(s, "e1");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "one", effects: [] });
    id = send(s, "e1", del());
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "", effects: [], state: "delete" });
    id = send(s, "e1");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "", effects: [] });
    s.end();
    const end = await s.ended;
    assert.equal(end.status.code, 0);
    assert.deepEqual(end.rest, []);
  });

  it("starts from the state in init", async () => {
    const s = open("e2", "D");
    let id = send(s, "e2");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "D", effects: [] });
    id = send(s, "e2", update("E"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "E", effects: [], state: "update(E)" });
    s.end();
    await s.ended;
  });

  it("sends one state action for several changes in one command", async () => {
    const s = open("e3");
    let id = send(s, "e3", update("A"), update("B"), update("C"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "C", effects: [], state: "update(C)" });
    id = send(s, "e3", update("A"), del(), update("B"), del());
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "", effects: [], state: "delete" });
    id = send(s, "e3", update("A"), del(), update("B"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "B", effects: [], state: "update(B)" });
    s.end();
    await s.ended;
  });

  it("sends side effects and forwards, with the state action", async () => {
    const s = open("e4");
    let id = send(s, "e4", update("s"), effect("a"), effect("b", true));
    assert.deepEqual(view(await s.next()), {
      commandId: id,
      reply: "s",
      effects: [`${TWO}/Call(a)`, `${TWO}/Call(b) sync`],
      state: "update(s)",
    });
    id = send(s, "e4", update("t"), forward("f"), effect("c"));
    assert.deepEqual(view(await s.next()), { commandId: id, forward: `${TWO}/Call(f)`, effects: [`${TWO}/Call(c)`], state: "update(t)" });
    s.end();
    await s.ended;
  });

  it("fails a command without state action or side effects, and the stream goes on unchanged", async () => {
    const s = open("e5", "kept");
    let id = send(s, "e5", update("lost"), effect("x"), fail("expected failure"));
    assert.deepEqual(view(await s.next()), { commandId: id, failure: "expected failure", failureCommandId: id, effects: [] });
    id = send(s, "e5");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "kept", effects: [] });
    s.end();
    await s.ended;
  });

  it("fails the stream on a crash: top-level failure with the command id, then the stream ends", async () => {
    const s = open("e6");
    send(s, "e6", update("a"));
    await s.next();
    const id = send(s, "e6", update("b"), fail("crash:boom"));
    assert.deepEqual(view(await s.next()), {
      topLevelFailure: "cloudstate.tck.model.valueentity.ValueEntityTckModel.Process failed: boom",
      commandId: id,
    });
    const end = await s.ended;
    assert.equal(end.status.code, 0);
    assert.deepEqual(end.rest, []);
    assert.ok(h.logs.some((l) => l.level === "error" && l.error instanceof Error && l.error.message === "boom"));
  });

  it("fails an unknown method with a clear message and keeps the stream", async () => {
    const s = open("e7");
    s.send({ message: { case: "command", value: { entityId: "e7", id: 1n, name: "Nope", payload: payload(model.RequestSchema, { id: "e7" }) } } });
    const failed = view(await s.next());
    assert.equal(failed.commandId, 1n);
    assert.match(
      String(failed.failure),
      /Unknown method "Nope" on value entity cloudstate\.tck\.model\.valueentity\.ValueEntityTckModel \(its methods: Process\)/,
    );
    const id = send(s, "e7", update("ok"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ok", effects: [], state: "update(ok)" });
    s.end();
    await s.ended;
  });

  it("fails a payload of the wrong type URL and keeps the stream", async () => {
    const s = open("e8");
    s.send({
      message: { case: "command", value: { entityId: "e8", id: 1n, name: "Process", payload: payload(model.PersistedSchema, { value: "x" }) } },
    });
    const failed = view(await s.next());
    assert.equal(
      failed.failure,
      "Invalid request for cloudstate.tck.model.valueentity.ValueEntityTckModel.Process: expected a type.googleapis.com/cloudstate.tck.model.valueentity.Request payload, got type.googleapis.com/cloudstate.tck.model.valueentity.Persisted",
    );
    s.end();
    await s.ended;
  });

  it("fails the stream when init names an unknown service", async () => {
    const s = open("e9", undefined, "a.Missing");
    const out = view(await s.next());
    assert.equal(out.commandId, 0n);
    assert.match(String(out.topLevelFailure), /no value entity is registered for service "a\.Missing"/);
    assert.equal((await s.ended).status.code, 0);
  });

  it("fails the stream when the first message is not init", async () => {
    const s = h.client.valueEntity();
    s.send({ message: { case: "command", value: { entityId: "x", id: 1n, name: "Process" } } });
    assert.match(String(view(await s.next()).topLevelFailure), /first message of a value entity stream must be init, got command/);
    assert.equal((await s.ended).status.code, 0);
  });

  it("fails the stream when the stored state has another type", async () => {
    const s = h.client.valueEntity();
    s.send({
      message: {
        case: "init",
        value: { serviceName: MODEL, entityId: "e10", state: { value: payload(model.ResponseSchema, { message: "x" }) } },
      },
    });
    assert.match(
      String(view(await s.next()).topLevelFailure),
      /cannot read the stored state of .*"e10": expected a type\.googleapis\.com\/cloudstate\.tck\.model\.valueentity\.Persisted payload/,
    );
    await s.ended;
  });

  it("serves several entities on separate streams at once", async () => {
    const a = open("p1");
    const b = open("p2", "b0");
    const ia = send(a, "p1", update("a1"));
    const ib = send(b, "p2");
    assert.deepEqual(view(await b.next()), { commandId: ib, reply: "b0", effects: [] });
    assert.deepEqual(view(await a.next()), { commandId: ia, reply: "a1", effects: [], state: "update(a1)" });
    a.end();
    b.end();
    await Promise.all([a.ended, b.ended]);
  });

  it("closes open entity streams when the server closes", async () => {
    const other = await startHarness(tckModelEntities);
    const s = other.client.valueEntity();
    s.send({ message: { case: "init", value: { serviceName: MODEL, entityId: "z", state: {} } } });
    const started = Date.now();
    await other.close();
    const end = await s.ended;
    assert.notEqual(end.status.code, 0);
    assert.ok(Date.now() - started < 2000);
  });
});
