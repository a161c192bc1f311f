// The canonical event-sourced shopping cart (com.example.shoppingcart.ShoppingCart,
// protocols/example/shoppingcart/) written against npm `cloudstate@0.0.3`, persistence id
// "shopping-cart". Events: persistence.ItemAdded / ItemRemoved; state and snapshot:
// persistence.Cart (a snapshot every 5 events).
//
// Failures (answered to clients as gRPC UNKNOWN / HTTP 500 with exactly this text):
//   * adding a quantity below 1: "Cannot add negative quantity to item <productId>"
//   * removing a product that is not in the cart: "Item <productId> not in cart"
//
// Start: HOST=127.0.0.1 PORT=8080 node test/conformance/supports/node-support/shopping-cart.js
// (after setup.mjs).
import { loadCloudstate, serve } from "./runtime.mjs";

const { cloudstate, includeDirs } = loadCloudstate("shopping-cart");
const { CloudState, EventSourced } = cloudstate;

const cart = new EventSourced(["shoppingcart/shoppingcart.proto", "shoppingcart/persistence/domain.proto"], "com.example.shoppingcart.ShoppingCart", {
  persistenceId: "shopping-cart",
  snapshotEvery: 5,
  includeDirs,
});

const DOMAIN = "com.example.shoppingcart.persistence";
const ItemAdded = cart.lookupType(`${DOMAIN}.ItemAdded`);
const ItemRemoved = cart.lookupType(`${DOMAIN}.ItemRemoved`);
const Cart = cart.lookupType(`${DOMAIN}.Cart`);
const LineItem = cart.lookupType(`${DOMAIN}.LineItem`);

cart.setInitial(() => Cart.create({ items: [] }));

cart.setBehavior(() => ({
  commandHandlers: {
    AddItem(command, _state, ctx) {
      if (command.quantity < 1) {
        ctx.fail(`Cannot add negative quantity to item ${command.productId}`);
      }
      ctx.emit(ItemAdded.create({ item: LineItem.create({ productId: command.productId, name: command.name, quantity: command.quantity }) }));
      return {};
    },
    RemoveItem(command, state, ctx) {
      if (!state.items.some((item) => item.productId === command.productId)) {
        ctx.fail(`Item ${command.productId} not in cart`);
      }
      ctx.emit(ItemRemoved.create({ productId: command.productId }));
      return {};
    },
    // The API's Cart has the same field numbers as the persisted one.
    GetCart(_command, state) {
      return { items: state.items.map((item) => ({ productId: item.productId, name: item.name, quantity: item.quantity })) };
    },
  },
  eventHandlers: {
    ItemAdded(event, state) {
      const items = state.items.map((item) => LineItem.create({ productId: item.productId, name: item.name, quantity: item.quantity }));
      const existing = items.find((item) => item.productId === event.item.productId);
      if (existing) existing.quantity += event.item.quantity;
      else items.push(LineItem.create({ productId: event.item.productId, name: event.item.name, quantity: event.item.quantity }));
      return Cart.create({ items });
    },
    ItemRemoved(event, state) {
      return Cart.create({ items: state.items.filter((item) => item.productId !== event.productId) });
    },
  },
}));

serve(new CloudState().addEntity(cart));
