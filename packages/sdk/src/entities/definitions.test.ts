import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { action as actionModel, crdt, eventlogeventing, eventsourced, valueentity } from "@switchboard/protocol/tck";
import { createGCounter } from "../crdt/gcounter.js";
import { crdtEntity } from "./crdt/definition.js";
import { eventSourcedEntity } from "./event-sourced/definition.js";
import { action } from "./action/definition.js";
import { valueEntity } from "./value/definition.js";
import type { ValueEntityHandlers } from "./value/definition.js";

type TwoHandlers = ValueEntityHandlers<typeof valueentity.ValueEntityTwo, typeof valueentity.PersistedSchema>;
const twoHandlers: TwoHandlers = { call: () => ({}) };

describe("valueEntity()", () => {
  it("builds a definition with an initial state from `initial`", () => {
    const def = valueEntity({
      service: valueentity.ValueEntityTwo,
      persistenceId: "two",
      state: valueentity.PersistedSchema,
      initial: () => ({ value: "start" }),
      handlers: twoHandlers,
    });
    assert.equal(def.kind, "value-entity");
    assert.equal(def.initial().value, "start");
    assert.notEqual(def.initial(), def.initial(), "a new initial state each time");
    assert.equal(def.passivationTimeoutMs, undefined);
  });

  it("defaults the initial state to the empty message", () => {
    const def = valueEntity({ service: valueentity.ValueEntityTwo, persistenceId: "two", state: valueentity.PersistedSchema, handlers: twoHandlers });
    assert.equal(def.initial().$typeName, "cloudstate.tck.model.valueentity.Persisted");
    assert.equal(def.initial().value, "");
  });

  it("rejects a missing persistence id or a bad passivation timeout", () => {
    const base = { service: valueentity.ValueEntityTwo, state: valueentity.PersistedSchema, handlers: twoHandlers };
    assert.throws(() => valueEntity({ ...base, persistenceId: "" }), /persistenceId must be a non-empty string/);
    assert.throws(() => valueEntity({ ...base, persistenceId: "p", passivationTimeoutMs: 0 }), /passivationTimeoutMs must be a positive integer/);
    assert.throws(() => valueEntity({ ...base, persistenceId: "p", passivationTimeoutMs: 1.5 }), /passivationTimeoutMs must be a positive integer/);
  });

  it("rejects streamed methods", () => {
    assert.throws(
      () =>
        valueEntity({
          service: crdt.CrdtTckModel,
          persistenceId: "p",
          state: valueentity.PersistedSchema,
          handlers: { process: () => undefined, processStreamed: () => undefined },
        }),
      /ProcessStreamed is server_streaming; value entity methods must be unary/,
    );
  });

  it("rejects methods whose input has no entity key", () => {
    assert.throws(
      () =>
        valueEntity({
          service: actionModel.ActionTwo,
          persistenceId: "p",
          state: valueentity.PersistedSchema,
          handlers: { call: () => undefined },
        }),
      /the input of Call, cloudstate\.tck\.model\.action\.OtherRequest, has no entity key field/,
    );
  });

  it("rejects missing and unknown handlers (for JavaScript callers)", () => {
    const base = { service: valueentity.ValueEntityTwo, persistenceId: "p", state: valueentity.PersistedSchema };
    assert.throws(
      () => valueEntity({ ...base, handlers: {} as TwoHandlers }),
      /no handler for cloudstate\.tck\.model\.valueentity\.ValueEntityTwo\.Call \(key "call"\)/,
    );
    assert.throws(
      () => valueEntity({ ...base, handlers: { ...twoHandlers, cal: () => ({}) } as TwoHandlers }),
      /"cal" is not a method of cloudstate\.tck\.model\.valueentity\.ValueEntityTwo; its methods are: call/,
    );
  });
});

describe("action()", () => {
  it("builds a definition", () => {
    const def = action({ service: actionModel.ActionTwo, handlers: { call: () => ({ message: "hi" }) } });
    assert.equal(def.kind, "action");
    assert.equal(def.service, actionModel.ActionTwo);
  });

  it("rejects missing handlers", () => {
    assert.throws(
      () => action({ service: actionModel.ActionTckModel, handlers: { processUnary: () => undefined } as never }),
      /no handler for cloudstate\.tck\.model\.action\.ActionTckModel\.ProcessStreamedIn \(key "processStreamedIn"\)/,
    );
  });
});

describe("eventSourcedEntity()", () => {
  const base = { service: eventsourced.EventSourcedTwo, persistenceId: "two", state: eventsourced.PersistedSchema, handlers: { call: () => ({}) } };

  it("builds a definition: snapshots every 100 events by default, event handlers by type name", () => {
    const def = eventSourcedEntity({ ...base, eventTypes: [eventsourced.PersistedSchema], events: { Persisted: () => {} } });
    assert.equal(def.kind, "event-sourced");
    assert.equal(def.snapshotEvery, 100);
    assert.deepEqual([...def.eventHandlers.keys()], ["cloudstate.tck.model.Persisted"]);
    assert.equal(eventSourcedEntity(base).eventTypes.length, 0);
  });

  it("rejects a bad snapshotEvery, persistence id or passivation timeout", () => {
    assert.throws(() => eventSourcedEntity({ ...base, snapshotEvery: -1 }), /snapshotEvery must be a non-negative integer/);
    assert.throws(() => eventSourcedEntity({ ...base, persistenceId: "" }), /persistenceId must be a non-empty string/);
    assert.throws(() => eventSourcedEntity({ ...base, passivationTimeoutMs: 0 }), /passivationTimeoutMs must be a positive integer/);
  });

  it("rejects a missing event handler, a handler of no declared type, and two types with one short name", () => {
    assert.throws(
      () => eventSourcedEntity({ ...base, eventTypes: [eventsourced.PersistedSchema], events: {} as never }),
      /no event handler for cloudstate\.tck\.model\.Persisted \(key "Persisted" in events\)/,
    );
    assert.throws(
      () => eventSourcedEntity({ ...base, events: { Persisted: () => {} } as never }),
      /events has a handler "Persisted" for no type in eventTypes/,
    );
    assert.throws(
      () =>
        eventSourcedEntity({ ...base, eventTypes: [eventsourced.ResponseSchema, eventlogeventing.ResponseSchema], events: { Response: () => {} } as never }),
      /event types cloudstate\.tck\.model\.Response and cloudstate\.tck\.model\.eventlogeventing\.Response have the same short name/,
    );
  });

  it("rejects streamed methods and methods without an entity key", () => {
    assert.throws(
      () => eventSourcedEntity({ ...base, service: crdt.CrdtTckModel, handlers: { process: () => undefined, processStreamed: () => undefined } }),
      /ProcessStreamed is server_streaming; event-sourced entity methods must be unary/,
    );
    assert.throws(() => eventSourcedEntity({ ...base, service: actionModel.ActionTwo, handlers: { call: () => undefined } }), /has no entity key field/);
  });
});

describe("crdtEntity()", () => {
  it("builds a definition from a type name or a factory; the persistence id defaults to the service name", () => {
    const def = crdtEntity({ service: crdt.CrdtTwo, crdt: "PNCounter", handlers: { call: () => ({}) } });
    assert.equal(def.kind, "crdt");
    assert.equal(def.persistenceId, "cloudstate.tck.model.crdt.CrdtTwo");
    assert.equal(def.createCrdt("x").kind, "PNCounter");
    const made = crdtEntity({ service: crdt.CrdtTwo, crdt: () => createGCounter(), persistenceId: "counters", handlers: { call: () => ({}) } });
    assert.equal(made.persistenceId, "counters");
    assert.equal(made.createCrdt("x").kind, "GCounter");
  });

  it("allows server-streaming methods, and rejects a bad crdt option", () => {
    assert.doesNotThrow(() =>
      crdtEntity({ service: crdt.CrdtTckModel, crdt: "Vote", handlers: { process: () => undefined, processStreamed: () => undefined } }),
    );
    assert.throws(
      () => crdtEntity({ service: crdt.CrdtTwo, crdt: "Counter" as "Flag", handlers: { call: () => ({}) } }),
      /crdt must be one of GCounter, PNCounter/,
    );
    const notACrdt = crdtEntity({ service: crdt.CrdtTwo, crdt: () => ({}) as ReturnType<typeof createGCounter>, handlers: { call: () => ({}) } });
    assert.throws(() => notACrdt.createCrdt("x"), /is not a CRDT/);
  });

  it("rejects client-streaming methods", () => {
    assert.throws(
      () => crdtEntity({ service: actionModel.ActionTckModel, crdt: "Flag", handlers: {} as never }),
      /ProcessStreamedIn is client_streaming; CRDT entity methods must be unary or server_streaming/,
    );
  });
});

describe("ENTITY_TYPES", () => {
  it("names the Cloudstate protocol services", async () => {
    const { ENTITY_TYPES } = await import("./entity-definition.js");
    const { ActionProtocol, Crdt, EventSourced, ValueEntity } = await import("@switchboard/protocol");
    assert.equal(ENTITY_TYPES.action, ActionProtocol.typeName);
    assert.equal(ENTITY_TYPES["value-entity"], ValueEntity.typeName);
    assert.equal(ENTITY_TYPES["event-sourced"], EventSourced.typeName);
    assert.equal(ENTITY_TYPES.crdt, Crdt.typeName);
  });
});
