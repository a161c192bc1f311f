import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { EventSourcedStreamInSchema, EventSourcedStreamOut } from "@switchboard/protocol";
import { eventsourced as model } from "@switchboard/protocol/tck";
import { createJsonAny } from "../src/index.js";
import { eventSourcedModelEntities } from "../../../test/conformance/supports/typescript-sdk/entities.js";
import type { Harness } from "./support/harness.js";
import { startHarness } from "./support/harness.js";
import type { Session } from "./support/protocol-client.js";
import { payload } from "./support/protocol-client.js";

const MODEL = "cloudstate.tck.model.EventSourcedTckModel";
const TWO = "cloudstate.tck.model.EventSourcedTwo";

type Action = MessageInitShape<typeof model.RequestActionSchema>;
const emit = (...values: string[]): Action[] => values.map((value) => ({ action: { case: "emit", value: { value } } }));
const forward = (id: string): Action => ({ action: { case: "forward", value: { id } } });
const effect = (id: string, synchronous = false): Action => ({ action: { case: "effect", value: { id, synchronous } } });
const fail = (message: string): Action => ({ action: { case: "fail", value: { message } } });
const persisted = (value: string): Any => payload(model.PersistedSchema, { value });

/** The text of a `Persisted` event or snapshot, or `json(<text>)` for a JSON event. */
function eventText(any: Any | undefined): string {
  if (any === undefined) return "(none)";
  if (any.typeUrl === "type.googleapis.com/cloudstate.tck.model.Persisted") return fromBinary(model.PersistedSchema, any.value).value;
  return `${any.typeUrl}`;
}

/** A compact view of a stream message. */
interface View {
  commandId: bigint;
  topLevelFailure?: string;
  reply?: string;
  forward?: string;
  failure?: string;
  restart?: boolean;
  events?: string[];
  snapshot?: string;
  effects?: string[];
}

function view(out: EventSourcedStreamOut): View {
  if (out.message.case === "failure") {
    return { topLevelFailure: out.message.value.description, commandId: out.message.value.commandId };
  }
  assert.equal(out.message.case, "reply");
  const r = out.message.value;
  const v: View = { commandId: r.commandId };
  const action = r.clientAction?.action;
  if (action?.case === "reply") v.reply = fromBinary(model.ResponseSchema, action.value.payload?.value ?? new Uint8Array()).message;
  if (action?.case === "forward") {
    v.forward = `${action.value.serviceName}/${action.value.commandName}(${fromBinary(model.RequestSchema, action.value.payload?.value ?? new Uint8Array()).id})`;
  }
  if (action?.case === "failure") {
    v.failure = action.value.description;
    v.restart = action.value.restart;
    assert.equal(action.value.commandId, r.commandId, "the failure names its command");
  }
  if (r.events.length > 0) v.events = r.events.map(eventText);
  if (r.snapshot !== undefined) v.snapshot = eventText(r.snapshot);
  if (r.sideEffects.length > 0) {
    v.effects = r.sideEffects.map((e) => {
      const id = fromBinary(model.RequestSchema, e.payload?.value ?? new Uint8Array()).id;
      return `${e.serviceName}/${e.commandName}(${id})${e.synchronous ? " sync" : ""}`;
    });
  }
  return v;
}

describe("EventSourced on a real SDK server", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(eventSourcedModelEntities);
  });
  after(() => h.close());

  type EsSession = Session<MessageInitShape<typeof EventSourcedStreamInSchema>, EventSourcedStreamOut>;

  /** Opens an entity stream: init (with a snapshot if given), then the given journal events. */
  function open(entityId: string, history: { snapshot?: [number, string]; events?: [number, Any][] } = {}, serviceName = MODEL): EsSession {
    const s = h.client.eventSourced();
    const snapshot =
      history.snapshot === undefined ? {} : { snapshot: { snapshotSequence: BigInt(history.snapshot[0]), snapshot: persisted(history.snapshot[1]) } };
    s.send({ message: { case: "init", value: { serviceName, entityId, ...snapshot } } });
    for (const [sequence, event] of history.events ?? []) {
      s.send({ message: { case: "event", value: { sequence: BigInt(sequence), payload: event } } });
    }
    return s;
  }
  let nextId = 0n;
  function send(s: EsSession, entityId: string, ...actions: Action[]): bigint {
    nextId += 1n;
    s.send({
      message: { case: "command", value: { entityId, id: nextId, name: "Process", payload: payload(model.RequestSchema, { id: entityId, actions }) } },
    });
    return nextId;
  }
  async function close(s: EsSession): Promise<void> {
    s.end();
    const end = await s.ended;
    assert.equal(end.status.code, 0);
    assert.deepEqual(end.rest, []);
  }

  it("emits events, applies them at once, and keeps the state between commands", async () => {
    const s = open("e1");
    let id = send(s, "e1");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "" });
    id = send(s, "e1", ...emit("A", "B", "C"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABC", events: ["A", "B", "C"] });
    id = send(s, "e1");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABC" });
    await close(s);
  });

  it("sends a snapshot with the reply whose events reach a multiple of snapshotEvery", async () => {
    const s = open("e2");
    const steps: [string[], View][] = [
      [["A"], { commandId: 0n, reply: "A", events: ["A"] }],
      [["B", "C", "D"], { commandId: 0n, reply: "ABCD", events: ["B", "C", "D"] }],
      [["E"], { commandId: 0n, reply: "ABCDE", events: ["E"], snapshot: "ABCDE" }],
      [["F", "G", "H"], { commandId: 0n, reply: "ABCDEFGH", events: ["F", "G", "H"] }],
      [["I", "J", "K"], { commandId: 0n, reply: "ABCDEFGHIJK", events: ["I", "J", "K"], snapshot: "ABCDEFGHIJK" }],
      [[], { commandId: 0n, reply: "ABCDEFGHIJK" }],
    ];
    for (const [values, expected] of steps) {
      const id = send(s, "e2", ...emit(...values));
      assert.deepEqual(view(await s.next()), { ...expected, commandId: id });
    }
    await close(s);
  });

  it("starts from the snapshot and the journal events in init, counting sequence numbers from them", async () => {
    const s = open("e3", {
      snapshot: [5, "ABCDE"],
      events: [
        [6, persisted("F")],
        [7, persisted("G")],
      ],
    });
    let id = send(s, "e3");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABCDEFG" });
    // Events 8, 9, 10: the reply reaching 10 carries the snapshot.
    id = send(s, "e3", ...emit("H", "I"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABCDEFGHI", events: ["H", "I"] });
    id = send(s, "e3", ...emit("J"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABCDEFGHIJ", events: ["J"], snapshot: "ABCDEFGHIJ" });
    await close(s);
  });

  it("replays journal events without a snapshot", async () => {
    const s = open("e4", {
      events: [
        [1, persisted("x")],
        [2, persisted("y")],
      ],
    });
    const id = send(s, "e4");
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "xy" });
    await close(s);
  });

  it("sends forwards and side effects with the events and the snapshot", async () => {
    const s = open("e5", { snapshot: [3, "ABC"] });
    let id = send(s, "e5", ...emit("D", "E"), forward("f"), effect("a"), effect("b", true));
    assert.deepEqual(view(await s.next()), {
      commandId: id,
      forward: `${TWO}/Call(f)`,
      events: ["D", "E"],
      snapshot: "ABCDE",
      effects: [`${TWO}/Call(a)`, `${TWO}/Call(b) sync`],
    });
    id = send(s, "e5", effect("c"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABCDE", effects: [`${TWO}/Call(c)`] });
    await close(s);
  });

  it("drops the events and side effects of a failed command, never asking for a restart", async () => {
    const s = open("e6");
    let id = send(s, "e6", ...emit("A", "B", "C"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABC", events: ["A", "B", "C"] });
    id = send(s, "e6", ...emit("4", "5"), effect("x"), fail("failure 1"));
    assert.deepEqual(view(await s.next()), { commandId: id, failure: "failure 1", restart: false });
    id = send(s, "e6", ...emit("D"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABCD", events: ["D"] });
    // The failed command's events did not count towards the snapshot either: 4 events so far.
    id = send(s, "e6", ...emit("E"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ABCDE", events: ["E"], snapshot: "ABCDE" });
    await close(s);
  });

  it("emits and replays JSON events through otherEvents", async () => {
    const s = open("e7", {
      events: [
        [1, persisted("a")],
        [2, createJsonAny("test.Text", { text: "b" })],
      ],
    });
    const id = send(s, "e7", ...emit("json:c", "d"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "abcd", events: ["json.cloudstate.io/test.Text", "d"] });
    await close(s);
  });

  it("fails the stream on a crash: top-level failure with the command id, the events dropped", async () => {
    const s = open("e8");
    const id = send(s, "e8", ...emit("A"), fail("crash:boom"));
    assert.deepEqual(view(await s.next()), { topLevelFailure: "cloudstate.tck.model.EventSourcedTckModel.Process failed: boom", commandId: id });
    const end = await s.ended;
    assert.equal(end.status.code, 0);
    assert.deepEqual(end.rest, []);
    assert.ok(h.logs.some((l) => l.level === "error" && l.error instanceof Error && l.error.message === "boom"));
  });

  it("treats an event handler that throws on emit as a crash", async () => {
    const s = open("e9");
    const id = send(s, "e9", ...emit("A", "!boom"));
    assert.deepEqual(view(await s.next()), {
      topLevelFailure: "cloudstate.tck.model.EventSourcedTckModel.Process failed: the event handler broke",
      commandId: id,
    });
    assert.equal((await s.ended).status.code, 0);
  });

  it("fails the stream when a journal event cannot be replayed", async () => {
    const s = open("e10", { events: [[1, persisted("!boom")]] });
    const out = view(await s.next());
    assert.equal(out.commandId, 0n);
    assert.match(String(out.topLevelFailure), /cannot replay event 1 of .*"e10": the event handler broke/);
    assert.equal((await s.ended).status.code, 0);
  });

  it("fails the stream for a journal event of no known type, or a snapshot of another type", async () => {
    const unknown = open("e11", { events: [[1, persisted("?")]] }, TWO);
    assert.match(
      String(view(await unknown.next()).topLevelFailure),
      /cannot replay event 1 of .*EventSourcedTwo entity "e11": .*has no event handler for type\.googleapis\.com\/cloudstate\.tck\.model\.Persisted/,
    );
    await unknown.ended;
    const unreadable = open("e11b", { events: [[1, payload(model.ResponseSchema, { message: "?" })]] });
    assert.match(String(view(await unreadable.next()).topLevelFailure), /cannot replay event 1 of .*"e11b": expected a json\.cloudstate\.io\/… value/);
    await unreadable.ended;
    const s = h.client.eventSourced();
    s.send({
      message: {
        case: "init",
        value: { serviceName: MODEL, entityId: "e12", snapshot: { snapshotSequence: 1n, snapshot: payload(model.ResponseSchema, { message: "x" }) } },
      },
    });
    assert.match(
      String(view(await s.next()).topLevelFailure),
      /cannot read the snapshot of .*"e12": expected a type\.googleapis\.com\/cloudstate\.tck\.model\.Persisted payload/,
    );
    await s.ended;
  });

  it("fails the stream for an event after the first command", async () => {
    const s = open("e13");
    send(s, "e13");
    await s.next();
    s.send({ message: { case: "event", value: { sequence: 1n, payload: persisted("late") } } });
    assert.match(String(view(await s.next()).topLevelFailure), /received a journal event after its first command/);
    await s.ended;
  });

  it("fails unknown methods and bad payloads as commands, and keeps the stream", async () => {
    const s = open("e14");
    s.send({ message: { case: "command", value: { entityId: "e14", id: 1n, name: "Nope", payload: payload(model.RequestSchema, { id: "e14" }) } } });
    assert.match(
      String(view(await s.next()).failure),
      /Unknown method "Nope" on event sourced entity cloudstate\.tck\.model\.EventSourcedTckModel \(its methods: Process\)/,
    );
    s.send({ message: { case: "command", value: { entityId: "e14", id: 2n, name: "Process", payload: persisted("x") } } });
    assert.match(
      String(view(await s.next()).failure),
      /Invalid request for .*Process: expected a type\.googleapis\.com\/cloudstate\.tck\.model\.Request payload/,
    );
    nextId = 2n;
    const id = send(s, "e14", ...emit("ok"));
    assert.deepEqual(view(await s.next()), { commandId: id, reply: "ok", events: ["ok"] });
    await close(s);
  });

  it("fails the stream when init names an unknown service, or does not come first", async () => {
    const s = open("e15", {}, "a.Missing");
    assert.match(String(view(await s.next()).topLevelFailure), /no event sourced entity is registered for service "a\.Missing"/);
    await s.ended;
    const t = h.client.eventSourced();
    t.send({ message: { case: "command", value: { entityId: "x", id: 1n, name: "Process" } } });
    assert.match(String(view(await t.next()).topLevelFailure), /first message of an event sourced entity stream must be init, got command/);
    await t.ended;
  });

  it("serves a second entity type with no events, and passivation ends the stream cleanly", async () => {
    const s = open("e16", {}, TWO);
    s.send({ message: { case: "command", value: { entityId: "e16", id: 1n, name: "Call", payload: payload(model.RequestSchema, { id: "e16" }) } } });
    assert.deepEqual(view(await s.next()), { commandId: 1n, reply: "" });
    await close(s);
  });
});
