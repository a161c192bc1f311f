/**
 * The orders example: `com.example.orders.OrderEntity`, an event-sourced entity fed by the
 * "orders" topic, and `com.example.orders.Shipping`, an action fed by the entity's events
 * whose replies are published to the "shipments" topic.
 */
import { action, eventSourcedEntity } from "@switchboard/sdk";
import { type LineItem, OrderEntity, OrderPlacedSchema, OrderStateSchema, Shipping } from "./gen/orders_pb.js";

/**
 * One entity per `order_id`, journaled under the persistence id `orders`. `Place` comes from
 * the "orders" topic, so it may see an order more than once: only the first emits
 * `OrderPlaced`, which makes the shipments exactly one per order although delivery is at
 * least once. An order without items fails; the proxy retries it and then dead-letters it
 * to "orders.dead-letter".
 */
export const orderEntity = eventSourcedEntity({
  service: OrderEntity,
  persistenceId: "orders",
  state: OrderStateSchema,
  eventTypes: [OrderPlacedSchema],
  events: {
    OrderPlaced(state, event) {
      state.orderId = event.orderId;
      state.customer = event.customer;
      state.items = event.items;
      state.placed = true;
    },
  },
  handlers: {
    place(order, ctx) {
      if (order.items.length === 0) ctx.fail(`order ${order.orderId} has no items`);
      const bad = order.items.find((item) => item.quantity <= 0);
      if (bad !== undefined) ctx.fail(`order ${order.orderId}: ${bad.product} has quantity ${bad.quantity}; it must be positive`);
      if (!ctx.state.placed) ctx.emit(OrderPlacedSchema, { orderId: order.orderId, customer: order.customer, items: order.items });
      return {};
    },
    get(_request, ctx) {
      return ctx.state;
    },
  },
});

/** Turns every `OrderPlaced` event into a shipment (published by the proxy to "shipments"). */
export const shipping = action({
  service: Shipping,
  handlers: {
    ship(placed) {
      return { orderId: placed.orderId, customer: placed.customer, items: placed.items, totalQuantity: totalQuantity(placed.items) };
    },
  },
});

/** The number of pieces to pack. */
export function totalQuantity(items: readonly LineItem[]): number {
  return items.reduce((sum, item) => sum + item.quantity, 0);
}
