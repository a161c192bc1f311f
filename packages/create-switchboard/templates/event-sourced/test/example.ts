/** What the end-to-end test calls: an item added over HTTP/JSON, then the cart read over gRPC. */
import type { TestGrpcClient } from "@switchboard/sdk/testing";
import { ShoppingCart } from "../src/gen/cart_pb.js";

export const EXAMPLE = {
  service: ShoppingCart,
  http: { method: "POST", path: "/carts/u1/items/add", body: { productId: "pen", quantity: 2 }, expected: {} },
  grpc: async (client: TestGrpcClient<typeof ShoppingCart>) =>
    (await client.call("getCart", { userId: "u1" })).items.map((i) => ({ productId: i.productId, quantity: i.quantity })),
  grpcExpected: [{ productId: "pen", quantity: 2 }],
};
