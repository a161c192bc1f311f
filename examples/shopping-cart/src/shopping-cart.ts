/**
 * The shopping cart example's entity: `com.example.shoppingcart.ShoppingCart`, the canonical
 * Cloudstate shopping cart, as an event-sourced entity. One cart per user id; adding and
 * removing items emits `ItemAdded` and `ItemRemoved` events, and the cart is their fold.
 */
import { eventSourcedEntity } from "@switchboard/sdk";
import type { LineItem } from "./gen/shoppingcart/persistence/domain_pb.js";
import { CartSchema, ItemAddedSchema, ItemRemovedSchema } from "./gen/shoppingcart/persistence/domain_pb.js";
import { ShoppingCart } from "./gen/shoppingcart/shoppingcart_pb.js";

/** How many events go between two snapshots. */
export const SNAPSHOT_EVERY = 20;

/** One cart per `user_id`, journaled by the proxy under the persistence id `shopping-cart`. */
export const shoppingCart = eventSourcedEntity({
  service: ShoppingCart,
  persistenceId: "shopping-cart",
  state: CartSchema,
  snapshotEvery: SNAPSHOT_EVERY,
  eventTypes: [ItemAddedSchema, ItemRemovedSchema],
  events: {
    ItemAdded(cart, { item }) {
      if (item === undefined) return;
      const existing = cart.items.find((i) => i.productId === item.productId);
      if (existing === undefined) {
        cart.items.push(item);
      } else {
        existing.quantity += item.quantity;
      }
    },
    ItemRemoved(cart, { productId }) {
      cart.items = cart.items.filter((i) => i.productId !== productId);
    },
  },
  handlers: {
    addItem(req, ctx) {
      if (req.quantity <= 0) ctx.fail(`Cannot add a quantity of ${req.quantity} of item ${req.productId}; it must be positive`);
      ctx.emit(ItemAddedSchema, { item: { productId: req.productId, name: req.name, quantity: req.quantity } });
      return {};
    },
    removeItem(req, ctx) {
      if (!ctx.state.items.some((i) => i.productId === req.productId)) {
        ctx.fail(`Cannot remove item ${req.productId}: it is not in the cart`);
      }
      ctx.emit(ItemRemovedSchema, { productId: req.productId });
      return {};
    },
    getCart(_req, ctx) {
      return { items: ctx.state.items.map(toApiItem) };
    },
  },
});

/** A persisted line item in the API's shape. */
function toApiItem(item: LineItem) {
  return { productId: item.productId, name: item.name, quantity: item.quantity };
}
