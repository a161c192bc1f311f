import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { action as actionModel, crdt, valueentity } from "@switchboard/protocol/tck";
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

describe("ENTITY_TYPES", () => {
  it("names the Cloudstate protocol services", async () => {
    const { ENTITY_TYPES } = await import("./entity-definition.js");
    const { ActionProtocol, ValueEntity } = await import("@switchboard/protocol");
    assert.equal(ENTITY_TYPES.action, ActionProtocol.typeName);
    assert.equal(ENTITY_TYPES["value-entity"], ValueEntity.typeName);
  });
});
