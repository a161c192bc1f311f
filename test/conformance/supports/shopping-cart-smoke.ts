/**
 * The "Shopping cart" smoke area, for every support: drives the canonical event-sourced
 * shopping cart (`com.example.shoppingcart.ShoppingCart`, persistence id `shopping-cart`)
 * through a running proxy, over gRPC and over HTTP/JSON: add items, get the cart, remove an
 * item, a user-function failure (removing a product that is not in the cart), the default
 * `POST /<package.Service>/<Method>` route, and the state surviving a proxy restart (the proxy
 * must run on a durable store, e.g. `--store sqlite:<path>`).
 *
 * Every case runs even when an earlier one failed; a 404 from the HTTP/JSON ingress is a
 * failure like any other (never a skip).
 *
 * Failure expectations (docs/protocol.md#errors): a user-function Failure is gRPC UNKNOWN with
 * exactly the failure's description, and HTTP 500 `text/plain` whose body is exactly that
 * description. The description itself belongs to the support's shopping cart; by default any
 * non-empty text is accepted, and the HTTP body must equal the gRPC description of the same
 * failure (same product id). Pass `removeFailure` to pin the text.
 */
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { shoppingcart } from "@switchboard/protocol/example";

/** Options of {@link runShoppingCartSmoke}. */
export interface ShoppingCartSmokeOptions {
  /** The proxy's front port (gRPC and HTTP/JSON). */
  readonly proxyPort: number;
  /** The proxy's host; default `127.0.0.1`. */
  readonly proxyHost?: string;
  /** Stops the proxy, starts it again on the same store, waits until it is ready, and resolves to its front port. */
  restartProxy(): Promise<number>;
  /** The expected failure text when removing `productId` from a cart that lacks it; default: any non-empty text. */
  readonly removeFailure?: (productId: string) => string;
  /** Per-call timeout; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Prefix of the user ids (entity ids); default a random one, so reruns on one store do not collide. */
  readonly userIdPrefix?: string;
}

/** One smoke case. */
export interface ShoppingCartSmokeCase {
  readonly name: string;
  readonly passed: boolean;
  /** Why it failed. */
  readonly error?: string;
}

/** The outcome: counts, one line per failure (`<case>: <why>`), and every case. */
export interface ShoppingCartSmokeResult {
  readonly passed: number;
  readonly failed: number;
  readonly failures: string[];
  readonly cases: ShoppingCartSmokeCase[];
}

/** The case names, in run order. */
export const SHOPPING_CART_SMOKE_CASES = [
  "gRPC: add items",
  "gRPC: get cart",
  "gRPC: remove item",
  "gRPC: failure",
  "HTTP: add items",
  "HTTP: get cart",
  "HTTP: remove item",
  "HTTP: failure",
  "HTTP: default route",
  "state survives a proxy restart",
] as const;

type CaseName = (typeof SHOPPING_CART_SMOKE_CASES)[number];

interface Item {
  productId: string;
  name: string;
  quantity: number;
}

class SmokeFailure extends Error {}

function fail(message: string): never {
  throw new SmokeFailure(message);
}

class CallFailed extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${grpc.status[code] ?? code}: ${details}`);
  }
}

function grpcClient(host: string, port: number, timeoutMs: number) {
  const client = new grpc.Client(`${host}:${port}`, grpc.credentials.createInsecure());
  const unary = <I extends DescMessage, O extends DescMessage>(
    method: { name: string; input: I; output: O },
    request: MessageInitShape<I>,
  ): Promise<MessageShape<O>> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        `/${shoppingcart.ShoppingCart.typeName}/${method.name}`,
        (value: MessageInitShape<I>) => Buffer.from(toBinary(method.input, create(method.input, value))),
        (bytes: Buffer) => fromBinary(method.output, bytes),
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          if (error) reject(new CallFailed(error.code, error.details));
          else if (response === undefined) reject(new CallFailed(grpc.status.INTERNAL, "no response"));
          else resolve(response);
        },
      );
    });
  const m = shoppingcart.ShoppingCart.method;
  return {
    addItem: (item: Item & { userId: string }) => unary(m.addItem, item),
    removeItem: (userId: string, productId: string) => unary(m.removeItem, { userId, productId }),
    getCart: async (userId: string): Promise<Item[]> =>
      (await unary(m.getCart, { userId })).items.map(({ productId, name, quantity }) => ({ productId, name, quantity })),
    close: () => client.close(),
  };
}

interface HttpResult {
  status: number;
  contentType: string;
  body: string;
}

function httpCall(host: string, port: number, method: "GET" | "POST", path: string, body: string | undefined, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const request = http.request(
      {
        host,
        port,
        method,
        path,
        agent: false,
        timeout: timeoutMs,
        headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": String(payload.length) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            contentType: (response.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "",
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no HTTP response to ${method} ${path} within ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end(payload);
  });
}

const show = (result: HttpResult) =>
  `${result.status} ${result.contentType || "(no content type)"} ${JSON.stringify(result.body.length > 300 ? `${result.body.slice(0, 300)}…` : result.body)}`;

function expectJson(what: string, result: HttpResult): unknown {
  if (result.status !== 200) fail(`${what}: expected 200 application/json, got ${show(result)}`);
  if (result.contentType !== "application/json") fail(`${what}: expected content type application/json, got ${show(result)}`);
  try {
    return JSON.parse(result.body);
  } catch {
    return fail(`${what}: the body is not JSON: ${show(result)}`);
  }
}

/** Items from a JSON cart (`{"items": [...]}`) or items array, with proto3 JSON defaults filled in. */
function jsonItems(what: string, value: unknown): Item[] {
  const list = Array.isArray(value) ? value : typeof value === "object" && value !== null ? ((value as { items?: unknown }).items ?? []) : undefined;
  if (!Array.isArray(list)) fail(`${what}: expected a cart, got ${JSON.stringify(value)}`);
  return list.map((entry: unknown) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    return { productId: String(e.productId ?? e.product_id ?? ""), name: String(e.name ?? ""), quantity: Number(e.quantity ?? 0) };
  });
}

const canonical = (items: readonly Item[]) => JSON.stringify([...items].sort((a, b) => a.productId.localeCompare(b.productId)));

function expectItems(what: string, actual: readonly Item[], expected: readonly Item[]): void {
  if (canonical(actual) !== canonical(expected)) fail(`${what}: expected items ${canonical(expected)}, got ${canonical(actual)}`);
}

/** Runs the smoke cases against the proxy on `proxyPort`; never throws for a failed case. */
export async function runShoppingCartSmoke(options: ShoppingCartSmokeOptions): Promise<ShoppingCartSmokeResult> {
  const host = options.proxyHost ?? "127.0.0.1";
  const timeoutMs = options.timeoutMs ?? 5000;
  const prefix = options.userIdPrefix ?? `smoke-${randomBytes(4).toString("hex")}`;
  const grpcUser = `${prefix}-grpc`;
  const httpUser = `${prefix}-http`;
  const missing = "not-in-cart";
  let port = options.proxyPort;
  let client = grpcClient(host, port, timeoutMs);
  const cases: ShoppingCartSmokeCase[] = [];
  let grpcFailureText: string | undefined;

  const run = async (name: CaseName, body: () => Promise<void>) => {
    try {
      await body();
      cases.push({ name, passed: true });
    } catch (error) {
      const why =
        error instanceof SmokeFailure
          ? error.message
          : error instanceof CallFailed
            ? `unexpected gRPC status ${error.message}`
            : error instanceof Error
              ? error.message
              : String(error);
      cases.push({ name, passed: false, error: why });
    }
  };
  const get = (path: string) => httpCall(host, port, "GET", path, undefined, timeoutMs);
  const post = (path: string, body: unknown) => httpCall(host, port, "POST", path, body === undefined ? undefined : JSON.stringify(body), timeoutMs);
  const checkFailureText = (what: string, text: string) => {
    if (text === "") fail(`${what}: empty failure description`);
    const expected = options.removeFailure?.(missing);
    if (expected !== undefined && text !== expected) fail(`${what}: expected the description ${JSON.stringify(expected)}, got ${JSON.stringify(text)}`);
  };

  const grpcItems: Item[] = [
    { productId: "apple", name: "Apple", quantity: 2 },
    { productId: "pear", name: "Pear", quantity: 1 },
  ];
  try {
    await run("gRPC: add items", async () => {
      await client.addItem({ userId: grpcUser, productId: "apple", name: "Apple", quantity: 1 });
      await client.addItem({ userId: grpcUser, productId: "pear", name: "Pear", quantity: 1 });
      await client.addItem({ userId: grpcUser, productId: "apple", name: "Apple", quantity: 1 });
      await client.addItem({ userId: grpcUser, productId: "plum", name: "Plum", quantity: 3 });
    });
    await run("gRPC: get cart", async () => {
      expectItems("GetCart", await client.getCart(grpcUser), [...grpcItems, { productId: "plum", name: "Plum", quantity: 3 }]);
    });
    await run("gRPC: remove item", async () => {
      await client.removeItem(grpcUser, "plum");
      expectItems("GetCart after RemoveItem", await client.getCart(grpcUser), grpcItems);
    });
    await run("gRPC: failure", async () => {
      try {
        await client.removeItem(grpcUser, missing);
      } catch (error) {
        if (!(error instanceof CallFailed)) throw error;
        if (error.code !== grpc.status.UNKNOWN) fail(`RemoveItem of a product not in the cart: expected UNKNOWN, got ${error.message}`);
        checkFailureText("RemoveItem of a product not in the cart", error.details);
        grpcFailureText = error.details;
        expectItems("GetCart after the failure", await client.getCart(grpcUser), grpcItems);
        return;
      }
      fail("RemoveItem of a product not in the cart succeeded");
    });

    const httpItems: Item[] = [
      { productId: "fig", name: "Fig", quantity: 5 },
      { productId: "kiwi", name: "Kiwi", quantity: 1 },
    ];
    await run("HTTP: add items", async () => {
      for (const item of [...httpItems, { productId: "lime", name: "Lime", quantity: 2 }]) {
        const what = `POST /cart/${httpUser}/items/add`;
        const body = expectJson(
          what,
          await post(`/cart/${encodeURIComponent(httpUser)}/items/add`, { productId: item.productId, name: item.name, quantity: item.quantity }),
        );
        if (JSON.stringify(body) !== "{}") fail(`${what}: expected {}, got ${JSON.stringify(body)}`);
      }
    });
    await run("HTTP: get cart", async () => {
      const all = [...httpItems, { productId: "lime", name: "Lime", quantity: 2 }];
      expectItems(
        `GET /carts/${httpUser}`,
        jsonItems("GET /carts/{user_id}", expectJson(`GET /carts/${httpUser}`, await get(`/carts/${encodeURIComponent(httpUser)}`))),
        all,
      );
      const itemsOnly = expectJson(`GET /carts/${httpUser}/items`, await get(`/carts/${encodeURIComponent(httpUser)}/items`));
      if (!Array.isArray(itemsOnly)) fail(`GET /carts/${httpUser}/items (response_body: "items"): expected a JSON array, got ${JSON.stringify(itemsOnly)}`);
      expectItems(`GET /carts/${httpUser}/items`, jsonItems("items", itemsOnly), all);
    });
    await run("HTTP: remove item", async () => {
      const what = `POST /cart/${httpUser}/items/lime/remove`;
      const body = expectJson(what, await post(`/cart/${encodeURIComponent(httpUser)}/items/lime/remove`, undefined));
      if (JSON.stringify(body) !== "{}") fail(`${what}: expected {}, got ${JSON.stringify(body)}`);
      expectItems(
        "GET after remove",
        jsonItems("GET /carts/{user_id}", expectJson(`GET /carts/${httpUser}`, await get(`/carts/${encodeURIComponent(httpUser)}`))),
        httpItems,
      );
    });
    await run("HTTP: failure", async () => {
      const what = `POST /cart/${httpUser}/items/${missing}/remove`;
      const result = await post(`/cart/${encodeURIComponent(httpUser)}/items/${missing}/remove`, undefined);
      if (result.status !== 500) fail(`${what}: expected 500 text/plain with the failure description, got ${show(result)}`);
      if (result.contentType !== "text/plain") fail(`${what}: expected content type text/plain, got ${show(result)}`);
      checkFailureText(what, result.body);
      if (grpcFailureText !== undefined && result.body !== grpcFailureText)
        fail(`${what}: the body ${JSON.stringify(result.body)} differs from the gRPC description ${JSON.stringify(grpcFailureText)} of the same failure`);
      expectItems(
        "GET after the failure",
        jsonItems("GET /carts/{user_id}", expectJson(`GET /carts/${httpUser}`, await get(`/carts/${encodeURIComponent(httpUser)}`))),
        httpItems,
      );
    });
    await run("HTTP: default route", async () => {
      const path = `/${shoppingcart.ShoppingCart.typeName}/GetCart`;
      expectItems(`POST ${path}`, jsonItems(`POST ${path}`, expectJson(`POST ${path}`, await post(path, { userId: httpUser }))), httpItems);
    });

    await run("state survives a proxy restart", async () => {
      client.close();
      port = await options.restartProxy();
      client = grpcClient(host, port, timeoutMs);
      // The first call may race the new discovery (UNAVAILABLE): retry for a few seconds.
      const deadline = Date.now() + 10_000;
      let afterRestart: Item[] | undefined;
      while (afterRestart === undefined) {
        try {
          afterRestart = await client.getCart(grpcUser);
        } catch (error) {
          if (!(error instanceof CallFailed) || error.code !== grpc.status.UNAVAILABLE || Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expectItems("gRPC GetCart after the restart", afterRestart, grpcItems);
      expectItems("gRPC GetCart of the HTTP user after the restart", await client.getCart(httpUser), httpItems);
      // The entity goes on from its recovered state.
      await client.addItem({ userId: grpcUser, productId: "pear", name: "Pear", quantity: 4 });
      expectItems("gRPC GetCart after adding post-restart", await client.getCart(grpcUser), [
        grpcItems[0] as Item,
        { productId: "pear", name: "Pear", quantity: 5 },
      ]);
    });
  } finally {
    client.close();
  }

  const failures = cases.filter((c) => !c.passed).map((c) => `${c.name}: ${c.error ?? "failed"}`);
  return { passed: cases.length - failures.length, failed: failures.length, failures, cases };
}
