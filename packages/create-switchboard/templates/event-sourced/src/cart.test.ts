import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testEventSourcedEntity } from "@switchboard/sdk/testing";
import { cart } from "./cart.js";

describe("cart", () => {
  it("emits ItemAdded and folds it into the cart", async () => {
    const t = testEventSourcedEntity(cart, { entityId: "u1" });
    const r = await t.call("addItem", { userId: "u1", productId: "pen", quantity: 2 });
    assert.deepEqual(
      r.events.map((e) => e.$typeName),
      ["example.cart.ItemAdded"],
    );
    await t.call("addItem", { userId: "u1", productId: "pen", quantity: 1 });
    const items = (await t.call("getCart", { userId: "u1" })).reply?.items.map((i) => [i.productId, i.quantity]);
    assert.deepEqual(items, [["pen", 3]]);
  });

  it("refuses a quantity that is not positive, emitting nothing", async () => {
    const t = testEventSourcedEntity(cart, { entityId: "u1" });
    const r = await t.call("addItem", { userId: "u1", productId: "pen", quantity: 0 });
    assert.equal(r.failure, "Cannot add 0 of pen: the quantity must be positive");
    assert.deepEqual(r.events, []);
  });
});
