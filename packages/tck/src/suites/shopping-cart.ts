/**
 * Shopping cart smoke tests (this port's own area, not in the upstream catalogue): the
 * canonical Cloudstate event sourced shopping cart, `com.example.shoppingcart.ShoppingCart`,
 * over gRPC and HTTP/JSON, including a proxy restart. They only assume what every
 * implementation of the sample shares (its service contract), so they run against
 * go-support's cart as well as carts written for node-support and python-support.
 */
import { create } from "@bufbuild/protobuf";
import type { EventSourcedStreamIn } from "@switchboard/protocol";
import { shoppingcart as cart } from "@switchboard/protocol/example";
import { check, checkEqual } from "../assertion-error.js";
import { expectMessage } from "../compare.js";
import { expectCallFailure } from "../grpc-client.js";
import { entityIds, smokeTest, type TckContext, type TckSuite } from "../suite.js";

const SERVICE = cart.ShoppingCart.typeName;
/** A line item as plain fields. */
interface LineItem {
  productId: string;
  name: string;
  quantity: number;
}

const ids = entityIds("cart");

/**
 * Expects the entity stream a call opened for cart `id`. Only `init` is checked: events and
 * snapshots differ between implementations of the sample.
 */
async function expectCartStream(context: TckContext, id: string, skipRedeliveries = false): Promise<void> {
  if (skipRedeliveries) {
    // After a proxy restart, event-log eventing may deliver earlier events again
    // (at-least-once): calls to a subscriber action are allowed before the cart's stream.
    for (;;) {
      try {
        const connection = await context.interceptor.expectConnection("event-sourced");
        return checkInit(await connection.expectIncomingMessage(), id);
      } catch (error) {
        if (!(error instanceof Error) || !/got an action handleUnary call \(cloudstate\.tck\.model\.eventlogeventing\./.test(error.message)) throw error;
      }
    }
  }
  const connection = await context.interceptor.expectConnection("event-sourced");
  checkInit(await connection.expectIncomingMessage(), id);
}

/** Checks that a cart stream starts with `init(ShoppingCart, id)`. */
function checkInit(init: EventSourcedStreamIn, id: string): void {
  check(init.message.case === "init", () => `expected init, got ${init.message.case ?? "an empty message"}`);
  checkEqual(init.message.value.serviceName, SERVICE, "init service name");
  checkEqual(init.message.value.entityId, id, "init entity id");
}

async function addItem(context: TckContext, userId: string, item: LineItem): Promise<void> {
  await context.client.unary(cart.ShoppingCart.method.addItem, { userId, ...item });
}

async function expectCart(context: TckContext, userId: string, items: LineItem[]): Promise<void> {
  const got = await context.client.unary(cart.ShoppingCart.method.getCart, { userId });
  expectMessage(cart.CartSchema, got, create(cart.CartSchema, { items }), "cart");
}

/** The Shopping cart smoke area (5 cases of this port). */
export const shoppingCartSuite: TckSuite = {
  area: "Shopping cart",
  tests: [
    smokeTest("add and get items (gRPC)", async (context) => {
      const id = ids.next();
      await addItem(context, id, { productId: "apple", name: "Apple", quantity: 1 });
      await expectCartStream(context, id);
      await addItem(context, id, { productId: "pear", name: "Pear", quantity: 2 });
      await addItem(context, id, { productId: "apple", name: "Apple", quantity: 3 });
      await expectCart(context, id, [
        { productId: "apple", name: "Apple", quantity: 4 },
        { productId: "pear", name: "Pear", quantity: 2 },
      ]);
    }),

    smokeTest("remove an item (gRPC)", async (context) => {
      const id = ids.next();
      await addItem(context, id, { productId: "apple", name: "Apple", quantity: 1 });
      await expectCartStream(context, id);
      await addItem(context, id, { productId: "pear", name: "Pear", quantity: 2 });
      await context.client.unary(cart.ShoppingCart.method.removeItem, { userId: id, productId: "apple" });
      await expectCart(context, id, [{ productId: "pear", name: "Pear", quantity: 2 }]);
    }),

    smokeTest("HTTP/JSON API", async (context) => {
      const { http } = context;
      const id = ids.next();
      checkEqual(await http.request(`cart/${id}/items/add`, `{"productId": "apple", "name": "Apple", "quantity": 2}`), "{}", "HTTP response body of AddItem");
      await expectCartStream(context, id);
      const got = await http.sendMethod("GET", `carts/${id}`);
      checkEqual(got.status, 200, `GET /carts/${id} status`);
      checkEqual(got.body, `{"items":[{"productId":"apple","name":"Apple","quantity":2}]}`, `GET /carts/${id} body`);
      const items = await http.sendMethod("GET", `carts/${id}/items`);
      checkEqual(items.status, 200, `GET /carts/${id}/items status`);
      checkEqual(items.body, `[{"productId":"apple","name":"Apple","quantity":2}]`, `GET /carts/${id}/items body (response_body: items)`);
      const removed = await http.sendMethod("POST", `cart/${id}/items/apple/remove`);
      checkEqual(removed.status, 200, "remove status");
      checkEqual((await http.sendMethod("GET", `carts/${id}`)).body, `{"items":[]}`, `GET /carts/${id} body after the removal`);
    }),

    smokeTest("failure (gRPC and HTTP)", async (context) => {
      const id = ids.next();
      await addItem(context, id, { productId: "apple", name: "Apple", quantity: 1 });
      await expectCartStream(context, id);
      const failed = await expectCallFailure(
        context.client.unary(cart.ShoppingCart.method.addItem, { userId: id, productId: "pear", name: "Pear", quantity: -1 }),
        "adding a negative quantity",
      );
      check(failed.details !== "", "the failure must carry the user function's description");
      const body = await context.http.requestToError(`cart/${id}/items/add`, `{"productId": "pear", "name": "Pear", "quantity": -1}`);
      checkEqual(body, failed.details, "HTTP 500 body (the same description as over gRPC)");
      await expectCart(context, id, [{ productId: "apple", name: "Apple", quantity: 1 }]);
    }),

    smokeTest("state survives a proxy restart", async (context) => {
      const id = ids.next();
      await addItem(context, id, { productId: "apple", name: "Apple", quantity: 5 });
      await expectCartStream(context, id);
      await context.restartProxy();
      await expectCart(context, id, [{ productId: "apple", name: "Apple", quantity: 5 }]);
      await expectCartStream(context, id, true);
    }),
  ],
};
