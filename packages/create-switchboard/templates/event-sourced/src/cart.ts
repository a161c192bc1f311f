/** The shopping cart: an event-sourced entity whose state is the fold of its ItemAdded events. */
import { eventSourcedEntity } from "@switchboard/sdk";
import { CartSchema, ItemAddedSchema, ShoppingCart } from "./gen/cart_pb.js";

export const cart = eventSourcedEntity({
  service: ShoppingCart,
  persistenceId: "cart",
  state: CartSchema,
  snapshotEvery: 50,
  eventTypes: [ItemAddedSchema],
  events: {
    ItemAdded(state, { item }) {
      if (item === undefined) return;
      const line = state.items.find((i) => i.productId === item.productId);
      if (line === undefined) state.items.push(item);
      else line.quantity += item.quantity;
    },
  },
  handlers: {
    addItem(req, ctx) {
      if (req.quantity <= 0) ctx.fail(`Cannot add ${req.quantity} of ${req.productId}: the quantity must be positive`);
      ctx.emit(ItemAddedSchema, { item: { productId: req.productId, quantity: req.quantity } });
      return {};
    },
    getCart(_req, ctx) {
      return { items: ctx.state.items };
    },
  },
});
