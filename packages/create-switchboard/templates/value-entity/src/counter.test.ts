import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testValueEntity } from "@switchboard/sdk/testing";
import { counter } from "./counter.js";

describe("counter", () => {
  it("increases and reads its value", async () => {
    const t = testValueEntity(counter, { entityId: "c1" });
    assert.equal((await t.call("increase", { counterId: "c1", value: 5n })).stateAction, "update");
    assert.equal((await t.call("getCurrentCounter", { counterId: "c1" })).reply?.value, 5n);
  });

  it("refuses a negative increase and keeps its state", async () => {
    const t = testValueEntity(counter, { entityId: "c1", state: { value: 2n } });
    const r = await t.call("increase", { counterId: "c1", value: -1n });
    assert.equal(r.failure, "Increase takes a positive value, got -1");
    assert.equal(t.state.value, 2n);
  });
});
