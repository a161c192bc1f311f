import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { testAction, testEventSourcedEntity } from "@switchboard/sdk/testing";
import { OrderPlacedSchema } from "./gen/orders_pb.js";
import { orderEntity, shipping } from "./orders.js";

const order = { orderId: "o1", customer: "ada", items: [{ product: "apple", quantity: 3 }] };

describe("OrderEntity", () => {
  it("places an order once, however often it is delivered", async () => {
    const t = testEventSourcedEntity(orderEntity, { entityId: "o1" });
    const first = await t.call("place", order);
    assert.deepEqual(first.events, [create(OrderPlacedSchema, order)]);
    const again = await t.call("place", order);
    assert.deepEqual(again.events, []);
    const state = await t.call("get", { orderId: "o1" });
    assert.equal(state.reply?.placed, true);
    assert.equal(state.reply?.customer, "ada");
  });

  it("fails an order without items or with a quantity that is not positive", async () => {
    const t = testEventSourcedEntity(orderEntity, { entityId: "o2" });
    const empty = await t.call("place", { orderId: "o2", customer: "bob", items: [] });
    assert.match(String(empty.failure), /order o2 has no items/);
    const zero = await t.call("place", { orderId: "o2", customer: "bob", items: [{ product: "pear", quantity: 0 }] });
    assert.match(String(zero.failure), /pear has quantity 0; it must be positive/);
    assert.deepEqual(zero.events, []);
  });
});

describe("Shipping", () => {
  it("ships every placed order with its total quantity", async () => {
    const r = await testAction(shipping).call("ship", {
      orderId: "o1",
      customer: "ada",
      items: [
        { product: "apple", quantity: 3 },
        { product: "fig", quantity: 2 },
      ],
    });
    assert.equal(r.reply?.orderId, "o1");
    assert.equal(r.reply?.totalQuantity, 5);
  });
});
