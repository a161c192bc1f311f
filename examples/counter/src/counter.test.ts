import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testAction, testValueEntity } from "@switchboard/sdk/testing";
import { counter, counterFanout } from "./counter.js";

describe("CounterService", () => {
  it("starts at zero", async () => {
    const t = testValueEntity(counter, { entityId: "c1" });
    const r = await t.call("getCurrentCounter", { counterId: "c1" });
    assert.equal(r.reply?.value, 0n);
    assert.equal(r.stateAction, undefined);
  });

  it("increases, decreases and reads", async () => {
    const t = testValueEntity(counter, { entityId: "c1" });
    const inc = await t.call("increase", { counterId: "c1", value: 5n });
    assert.equal(inc.stateAction, "update");
    assert.equal(inc.reply?.$typeName, "google.protobuf.Empty");
    await t.call("decrease", { counterId: "c1", value: 2n });
    assert.equal(t.state.value, 3n);
    assert.equal((await t.call("getCurrentCounter", { counterId: "c1" })).reply?.value, 3n);
  });

  it("resets by deleting the state", async () => {
    const t = testValueEntity(counter, { entityId: "c1", state: { value: 42n } });
    const r = await t.call("reset", { counterId: "c1" });
    assert.equal(r.stateAction, "delete");
    assert.equal(t.hasState, false);
    assert.equal(t.state.value, 0n);
  });

  it("refuses negative amounts and keeps the value", async () => {
    const t = testValueEntity(counter, { entityId: "c1", state: { value: 1n } });
    const r = await t.call("increase", { counterId: "c1", value: -3n });
    assert.equal(r.failure, "Increase requires a positive value, got -3");
    assert.equal(r.stateAction, undefined);
    assert.equal(t.state.value, 1n);
    assert.equal((await t.call("decrease", { counterId: "c1", value: -1n })).failure, "Decrease requires a positive value, got -1");
  });
});

describe("CounterFanout", () => {
  it("increases every counter through asynchronous side effects", async () => {
    const r = await testAction(counterFanout).call("increaseMany", { counterIds: ["a", "b"], value: 2n });
    assert.equal(r.reply?.$typeName, "google.protobuf.Empty");
    assert.deepEqual(
      r.sideEffects.map((e) => ({ service: e.service, method: e.method, synchronous: e.synchronous, request: e.request })),
      [
        {
          service: "com.example.counter.CounterService",
          method: "Increase",
          synchronous: false,
          request: { $typeName: "com.example.counter.IncreaseValue", counterId: "a", value: 2n },
        },
        {
          service: "com.example.counter.CounterService",
          method: "Increase",
          synchronous: false,
          request: { $typeName: "com.example.counter.IncreaseValue", counterId: "b", value: 2n },
        },
      ],
    );
  });

  it("fails without counter ids", async () => {
    const r = await testAction(counterFanout).call("increaseMany", { counterIds: [], value: 2n });
    assert.deepEqual(r, { failure: "IncreaseMany needs at least one counter id", sideEffects: [] });
  });
});
