import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { testEventSourcedEntity } from "@switchboard/sdk/testing";
import { ItemAddedSchema, ItemRemovedSchema } from "./gen/shoppingcart/persistence/domain_pb.js";
import { SNAPSHOT_EVERY, shoppingCart } from "./shopping-cart.js";

const added = (productId: string, name: string, quantity: number) => create(ItemAddedSchema, { item: { productId, name, quantity } });
const items = (t: { state: { items: { productId: string; name: string; quantity: number }[] } }) =>
  t.state.items.map((i) => `${i.productId}:${i.name}:${i.quantity}`);

describe("ShoppingCart", () => {
  it("starts empty", async () => {
    const t = testEventSourcedEntity(shoppingCart, { entityId: "u1" });
    const r = await t.call("getCart", { userId: "u1" });
    assert.deepEqual(r.reply?.items, []);
    assert.deepEqual(r.events, []);
  });

  it("adds items with ItemAdded events, merging quantities of the same product", async () => {
    const t = testEventSourcedEntity(shoppingCart, { entityId: "u1" });
    const r = await t.call("addItem", { userId: "u1", productId: "apple", name: "Apple", quantity: 1 });
    assert.equal(r.reply?.$typeName, "google.protobuf.Empty");
    assert.deepEqual(r.events, [added("apple", "Apple", 1)]);
    await t.call("addItem", { userId: "u1", productId: "pear", name: "Pear", quantity: 2 });
    await t.call("addItem", { userId: "u1", productId: "apple", name: "Apple", quantity: 3 });
    assert.deepEqual(items(t), ["apple:Apple:4", "pear:Pear:2"]);
    const cart = await t.call("getCart", { userId: "u1" });
    assert.deepEqual(
      cart.reply?.items.map((i) => [i.productId, i.name, i.quantity]),
      [
        ["apple", "Apple", 4],
        ["pear", "Pear", 2],
      ],
    );
  });

  it("removes an item with an ItemRemoved event, given the events that added it", async () => {
    const t = testEventSourcedEntity(shoppingCart, { entityId: "u1", events: [added("apple", "Apple", 1), added("pear", "Pear", 2)] });
    const r = await t.call("removeItem", { userId: "u1", productId: "apple" });
    assert.deepEqual(r.events, [create(ItemRemovedSchema, { productId: "apple" })]);
    assert.deepEqual(items(t), ["pear:Pear:2"]);
    assert.equal(t.sequenceNumber, 3n);
  });

  it("refuses a quantity that is not positive, and an item not in the cart, emitting nothing", async () => {
    const t = testEventSourcedEntity(shoppingCart, {
      entityId: "u1",
      snapshot: { items: [{ productId: "apple", name: "Apple", quantity: 1 }] },
      snapshotSequence: 7,
    });
    const negative = await t.call("addItem", { userId: "u1", productId: "pear", name: "Pear", quantity: -1 });
    assert.equal(negative.failure, "Cannot add a quantity of -1 of item pear; it must be positive");
    assert.deepEqual(negative.events, []);
    const missing = await t.call("removeItem", { userId: "u1", productId: "pear" });
    assert.equal(missing.failure, "Cannot remove item pear: it is not in the cart");
    assert.deepEqual(items(t), ["apple:Apple:1"]);
    assert.equal(t.sequenceNumber, 7n);
  });

  it(`snapshots the cart every ${SNAPSHOT_EVERY} events`, async () => {
    const t = testEventSourcedEntity(shoppingCart, { entityId: "u1" });
    for (let i = 1; i < SNAPSHOT_EVERY; i++) {
      const r = await t.call("addItem", { userId: "u1", productId: `p${i}`, name: `P${i}`, quantity: 1 });
      assert.equal(r.snapshot, undefined);
    }
    const r = await t.call("addItem", { userId: "u1", productId: "last", name: "Last", quantity: 1 });
    assert.equal(r.snapshot?.$typeName, "com.example.shoppingcart.persistence.Cart");
    assert.equal(r.snapshot?.items.length, SNAPSHOT_EVERY);
  });
});
