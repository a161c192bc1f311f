/**
 * examples/orders end to end through real processes: the built example user function, the
 * proxy on a SQLite file, orders published over HTTP as CloudEvents, shipments read back
 * as server-sent events.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ExampleProcess, startExample } from "../observability/support/example-process.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { publishJson, readEvents, request } from "./support/topic-client.js";

const ORDER = "com.example.orders.Order";
const SHIPMENT = "com.example.orders.Shipment";

describe("examples/orders: orders in, an event-sourced entity in between, shipments out", () => {
  let example: ExampleProcess;
  let proxy: ProxyProcess;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-orders-example-"));
    example = await startExample("orders");
    proxy = await startProxy({
      userFunctionPort: example.port,
      store: `sqlite:${path.join(dir, "orders.db")}`,
      extraArgs: ["--topic-max-attempts", "2", "--topic-retry-backoff", "20"],
    });
  });
  after(async () => {
    await proxy.stop();
    await example.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("ships each order once although one is published twice; a bad order is dead-lettered", async () => {
    const orders = [
      { orderId: "o1", customer: "ada", items: [{ product: "apple", quantity: 3 }] },
      {
        orderId: "o2",
        customer: "bob",
        items: [
          { product: "pear", quantity: 1 },
          { product: "fig", quantity: 2 },
        ],
      },
      { orderId: "o3", customer: "cy", items: [] },
      { orderId: "o1", customer: "ada", items: [{ product: "apple", quantity: 3 }] },
      { orderId: "o4", customer: "dee", items: [{ product: "kiwi", quantity: 5 }] },
    ];
    for (const [i, order] of orders.entries()) {
      const answer = await publishJson(proxy.port, "orders", ORDER, order, `shop-${i}`, { "ce-subject": order.orderId });
      assert.equal(answer.status, 202, answer.body);
    }
    const [dead] = await readEvents(proxy.port, "orders.dead-letter", "from=0", 1);
    assert.equal(dead?.data.id, "shop-2");
    assert.match(String(dead?.data.deadletterreason), /order o3 has no items/);

    // o5 goes in a later batch than every order above, so its OrderPlaced is journaled after
    // any they caused, and its shipment comes after theirs: once it is there, all are.
    await publishJson(proxy.port, "orders", ORDER, { orderId: "o5", customer: "eve", items: [{ product: "lime", quantity: 1 }] }, "shop-5");
    const shipments = await readEvents(proxy.port, "shipments", "from=0", (events) =>
      events.some((e) => (e.data.data as { orderId: string }).orderId === "o5"),
    );
    assert.ok(shipments.every((e) => e.data.type === SHIPMENT && e.data.source === "/com.example.orders.Shipping/Ship"));
    // Orders of different ids are taken concurrently, so their shipments may come in any order; each comes once.
    const byOrder = shipments.map((e) => e.data.data as { orderId: string }).sort((a, b) => a.orderId.localeCompare(b.orderId));
    assert.deepEqual(byOrder, [
      { orderId: "o1", customer: "ada", items: [{ product: "apple", quantity: 3 }], totalQuantity: 3 },
      {
        orderId: "o2",
        customer: "bob",
        items: [
          { product: "pear", quantity: 1 },
          { product: "fig", quantity: 2 },
        ],
        totalQuantity: 3,
      },
      { orderId: "o4", customer: "dee", items: [{ product: "kiwi", quantity: 5 }], totalQuantity: 5 },
      { orderId: "o5", customer: "eve", items: [{ product: "lime", quantity: 1 }], totalQuantity: 1 },
    ]);

    const o1 = await request(proxy.port, "GET", "/orders/o1");
    assert.equal(o1.status, 200, o1.body);
    assert.deepEqual(JSON.parse(o1.body), { orderId: "o1", customer: "ada", items: [{ product: "apple", quantity: 3 }], placed: true });
    const o3 = await request(proxy.port, "GET", "/orders/o3");
    assert.equal(JSON.parse(o3.body).placed, false, "the bad order left no state");
  });
});
