/**
 * Replaying a consumer group when topics live in NATS JetStream: the admin port's offset
 * endpoint over a real `nats-server -js`, by offset and by time (a search over the
 * stream's stored message times).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/grpc-client.js";
import type { ProxyProcess } from "../support/proxy-process.js";
import { startNatsTopics } from "./support/nats-topics.js";
import type { OrdersUserFunction } from "./support/orders-user-function.js";
import { publishJson, request } from "./support/topic-client.js";

const ORDER = "switchboard.test.topics.Order";

describe("topics on NATS JetStream: replaying a consumer group", () => {
  let uf: OrdersUserFunction;
  let proxy: ProxyProcess;
  let admin: number;
  let close: (() => Promise<void>) | undefined;

  before(async () => {
    ({ uf, proxy, admin, close } = await startNatsTopics());
  });
  after(() => close?.());

  it("sets the audit group back by offset and by time; its running consumer goes on from there", async () => {
    const records = () => uf.callsOf("Record").map((c) => c.orderId);
    for (const id of ["m1", "m2"]) assert.equal((await publishJson(proxy.port, "orders", ORDER, { orderId: id, item: "fig", quantity: 1 }, id)).status, 202);
    await eventually(() => records().length === 2, 15_000, "audit of m1, m2");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const mark = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await publishJson(proxy.port, "orders", ORDER, { orderId: "m3", item: "fig", quantity: 1 }, "m3");
    await eventually(() => records().length === 3, 15_000, "audit of m3");

    const post = (body: unknown) =>
      request(admin, "POST", "/v1/topics/orders/groups/audit/offset", { "content-type": "application/json" }, JSON.stringify(body));
    const byTime = await post({ time: mark });
    assert.equal(byTime.status, 200, byTime.body);
    assert.equal(JSON.parse(byTime.body).offset, 2);
    await eventually(() => records().length === 4, 15_000, "m3 audited again");
    const fromStart = await post({ offset: 0 });
    assert.equal(fromStart.status, 200, fromStart.body);
    await eventually(() => records().length === 7, 15_000, "all audited again");
    assert.deepEqual(records(), ["m1", "m2", "m3", "m3", "m1", "m2", "m3"]);
    const early = await post({ time: "2000-01-01T00:00:00Z" });
    assert.equal(JSON.parse(early.body).offset, 0);
  });
});
