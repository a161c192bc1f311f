import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { OrderSchema } from "./gen/switchboard/test/topics/orders_pb.js";
import { runCli } from "./support/cli.js";
import { type OrdersUserFunction, startOrdersUserFunction } from "./support/orders-user-function.js";
import { publishJson, readEvents, request } from "./support/topic-client.js";

const ORDER = "switchboard.test.topics.Order";
const CANCELLATION = "switchboard.test.topics.Cancellation";
const SHIPMENT = "switchboard.test.topics.Shipment";

describe("topics: the embedded broker end to end", () => {
  let uf: OrdersUserFunction;
  let proxy: ProxyProcess;
  let dir: string;
  let db: string;
  const start = () => startProxy({ userFunctionPort: uf.port, store: `sqlite:${db}`, extraArgs: ["--topic-max-attempts", "3", "--topic-retry-backoff", "20"] });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-topics-"));
    db = path.join(dir, "topics.db");
    uf = await startOrdersUserFunction();
    proxy = await start();
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("publish over HTTP → consumed by the action → its reply on the out topic, readable as server-sent events → tallied by an entity", async () => {
    const answer = await publishJson(proxy.port, "orders", ORDER, { orderId: "o1", item: "apple", quantity: 3 }, "evt-1", { "ce-subject": "customer-7" });
    assert.equal(answer.status, 202, answer.body);
    assert.deepEqual(JSON.parse(answer.body), { offset: 1 });

    await eventually(() => uf.callsOf("Process").some((c) => c.orderId === "o1"), 10_000, "Process of o1");
    const event = uf.callsOf("Process").find((c) => c.orderId === "o1")?.cloudEvent;
    assert.equal(event?.id, "evt-1");
    assert.equal(event?.source, "test");
    assert.equal(event?.type, ORDER);
    assert.equal(event?.subject, "customer-7");

    const [shipment] = await readEvents(proxy.port, "shipments", "from=0", 1);
    assert.equal(shipment?.id, 1);
    assert.equal(shipment?.data.type, SHIPMENT);
    assert.equal(shipment?.data.specversion, "1.0");
    assert.equal(shipment?.data.source, "/switchboard.test.topics.OrderProcessor/Process");
    assert.equal(shipment?.data.datacontenttype, "application/json");
    assert.deepEqual(shipment?.data.data, { orderId: "o1", item: "apple", quantity: 3 });
    assert.match(String(shipment?.data.id), /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(String(shipment?.data.time))), "time");

    // The value entity consumes "shipments", keyed by item.
    await eventually(
      async () => {
        const tally = await request(
          proxy.port,
          "POST",
          "/switchboard.test.topics.ItemTally/Get",
          { "content-type": "application/json" },
          JSON.stringify({ item: "apple" }),
        );
        return tally.status === 200 && JSON.parse(tally.body).quantity === 3;
      },
      10_000,
      "tally of apple",
    );

    // The audit group got the same order, independently.
    await eventually(() => uf.callsOf("Record").some((c) => c.orderId === "o1"), 10_000, "Record of o1");
  });

  it("accepts structured mode and protobuf data, and routes each message by its type", async () => {
    const structured = await request(
      proxy.port,
      "POST",
      "/v1/topics/orders",
      { "content-type": "application/cloudevents+json" },
      JSON.stringify({ specversion: "1.0", id: "evt-2", source: "test", type: CANCELLATION, data: { orderId: "o2", reason: "changed mind" } }),
    );
    assert.equal(structured.status, 202, structured.body);
    const bytes = toBinary(OrderSchema, create(OrderSchema, { orderId: "o3", item: "pear", quantity: 1 }));
    const binary = await request(
      proxy.port,
      "POST",
      "/v1/topics/orders",
      { "content-type": "application/protobuf", "ce-specversion": "1.0", "ce-id": "evt-3", "ce-source": "test", "ce-type": ORDER },
      bytes,
    );
    assert.equal(binary.status, 202, binary.body);
    await eventually(() => uf.callsOf("Cancel").some((c) => c.orderId === "o2"), 10_000, "Cancel of o2");
    await eventually(() => uf.callsOf("Process").some((c) => c.orderId === "o3"), 10_000, "Process of o3");
    assert.equal(
      uf.callsOf("Process").some((c) => c.orderId === "o2"),
      false,
    );
    // The audit group has no method for cancellations: skipped (its offset moves past it), logged once.
    await eventually(() => uf.callsOf("Record").some((c) => c.orderId === "o3"), 10_000, "Record of o3");
    await publishJson(proxy.port, "orders", CANCELLATION, { orderId: "o4" }, "evt-4");
    await publishJson(proxy.port, "orders", ORDER, { orderId: "o5", item: "fig", quantity: 1 }, "evt-5");
    await eventually(() => uf.callsOf("Record").some((c) => c.orderId === "o5"), 10_000, "Record of o5");
    assert.deepEqual(
      uf.callsOf("Record").map((c) => c.orderId),
      ["o1", "o3", "o5"],
    );
    const skips = proxy
      .stderr()
      .split("\n")
      .filter((line) => line.includes("skipping such messages") && line.includes(CANCELLATION));
    assert.equal(skips.length, 1, proxy.stderr());

    // The whole topic reads back in order, with protobuf data shown as proto3 JSON.
    const events = await readEvents(proxy.port, "orders", "from=0", 5);
    assert.deepEqual(
      events.map((e) => [e.id, e.data.id, (e.data.data as { orderId: string }).orderId]),
      [
        [1, "evt-1", "o1"],
        [2, "evt-2", "o2"],
        [3, "evt-3", "o3"],
        [4, "evt-4", "o4"],
        [5, "evt-5", "o5"],
      ],
    );
  });

  it("delivers to an entity in offset order per entity key", async () => {
    const before = uf.callsOf("Add").length;
    const items = ["k1", "k2", "k3"];
    for (let i = 0; i < 12; i++) {
      const item = items[i % 3] ?? "k1";
      const answer = await publishJson(proxy.port, "shipments", SHIPMENT, { orderId: `${item}-${i}`, item, quantity: 1 }, `ship-${i}`);
      assert.equal(answer.status, 202, answer.body);
    }
    const mineOnly = () =>
      uf
        .callsOf("Add")
        .slice(before)
        .map((c) => c.orderId)
        .filter((id) => /^k\d-\d+$/.test(id));
    await eventually(() => mineOnly().length >= 12, 10_000, "12 Add calls");
    const seen = mineOnly();
    for (const item of items) {
      const mine = seen.filter((id) => id.startsWith(`${item}-`)).map((id) => Number(id.split("-")[1]));
      assert.deepEqual(
        mine,
        [...mine].sort((a, b) => a - b),
        `order of ${item}: ${seen.join(",")}`,
      );
      assert.equal(mine.length, 4);
    }
    const tally = await request(
      proxy.port,
      "POST",
      "/switchboard.test.topics.ItemTally/Get",
      { "content-type": "application/json" },
      JSON.stringify({ item: "k2" }),
    );
    assert.deepEqual(JSON.parse(tally.body), { item: "k2", quantity: 4, shipments: 4 });
  });

  it("publishes the reply of a client call to an out.topic method", async () => {
    const reply = await request(
      proxy.port,
      "POST",
      "/switchboard.test.topics.OrderProcessor/ShipNow",
      { "content-type": "application/json" },
      JSON.stringify({ orderId: "direct-1", item: "kiwi", quantity: 2 }),
    );
    assert.equal(reply.status, 200, reply.body);
    const isDirect = (e: { data: Record<string, unknown> }) => (e.data.data as { orderId: string }).orderId === "direct-1";
    const shipments = await readEvents(proxy.port, "shipments", "from=0", (events) => events.some(isDirect));
    const direct = shipments.find(isDirect);
    assert.equal(direct?.data.source, "/switchboard.test.topics.OrderProcessor/ShipNow");
    assert.deepEqual(direct?.data.data, { orderId: "direct-1", item: "kiwi", quantity: 2 });
  });

  it("publishes an event-sourced entity's events to a topic through an event-log subscriber with out.topic", async () => {
    const placed = await request(
      proxy.port,
      "POST",
      "/switchboard.test.topics.OrderLedger/Place",
      { "content-type": "application/json" },
      JSON.stringify({ orderId: "led-1", item: "melon" }),
    );
    assert.equal(placed.status, 200, placed.body);
    const [event] = await readEvents(proxy.port, "order-events", "from=0", 1);
    assert.equal(event?.data.type, "switchboard.test.topics.OrderPlaced");
    assert.equal(event?.data.source, "/switchboard.test.topics.LedgerPublisher/Publish");
    assert.deepEqual(event?.data.data, { orderId: "led-1", item: "MELON" });
    assert.equal(uf.callsOf("Publish")[0]?.cloudEvent?.subject, "led-1");
  });

  it("retries a failing message, then dead-letters it with the failure and moves on", async () => {
    const before = uf.callsOf("Process").length;
    assert.equal((await publishJson(proxy.port, "orders", ORDER, { orderId: "bad-1", item: "rock", quantity: 1, fail: true }, "evt-bad")).status, 202);
    assert.equal((await publishJson(proxy.port, "orders", ORDER, { orderId: "after-bad", item: "plum", quantity: 1 }, "evt-after")).status, 202);
    const [dead] = await readEvents(proxy.port, "orders.dead-letter", "from=0", 1);
    assert.equal(dead?.id, 1);
    assert.equal(dead?.data.id, "evt-bad");
    assert.equal(dead?.data.type, ORDER);
    assert.deepEqual(dead?.data.data, { orderId: "bad-1", item: "rock", quantity: 1, fail: true });
    assert.match(String(dead?.data.deadletterreason), /order bad-1 cannot be shipped/);
    assert.equal(dead?.data.deadlettergroup, "switchboard.test.topics.OrderProcessor");
    assert.equal(dead?.data.deadletterattempts, "3");
    await eventually(() => uf.callsOf("Process").some((c) => c.orderId === "after-bad"), 10_000, "the order after the bad one");
    const attempts = uf
      .callsOf("Process")
      .slice(before)
      .filter((c) => c.orderId === "bad-1").length;
    assert.equal(attempts, 3);
    // Processed in order: every attempt at the bad order came before the next order.
    const order = uf.callsOf("Process").map((c) => c.orderId);
    assert.ok(order.lastIndexOf("bad-1") < order.indexOf("after-bad"));
  });

  it("answers bad CloudEvents and bad subscriptions with 400 and the reason", async () => {
    const headers = { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": "x", "ce-source": "test", "ce-type": ORDER };
    const cases: Array<[string, Record<string, string>, string, RegExp]> = [
      ["missing ce-id", { ...headers, "ce-id": "" }, "{}", /missing CloudEvents attribute ce-id/],
      ["wrong specversion", { ...headers, "ce-specversion": "0.3" }, "{}", /only 1\.0 is supported/],
      ["unknown type", { ...headers, "ce-type": "com.example.Nope" }, "{}", /unknown type "com\.example\.Nope"/],
      ["data that does not decode", headers, JSON.stringify({ orderId: 5, nope: true }), /does not decode as switchboard\.test\.topics\.Order/],
      ["not JSON", headers, "{", /not valid JSON/],
      ["protobuf garbage", { ...headers, "content-type": "application/protobuf" }, "\u00ff\u00ff\u00ff", /does not decode/],
      ["an unsupported content type", { ...headers, "content-type": "text/plain" }, "hi", /content type must be/],
    ];
    for (const [what, h, body, reason] of cases) {
      const answer = await request(proxy.port, "POST", "/v1/topics/orders", h, body);
      assert.equal(answer.status, 400, `${what}: ${answer.body}`);
      assert.match(answer.body, reason, what);
    }
    const structured = await request(
      proxy.port,
      "POST",
      "/v1/topics/orders",
      { "content-type": "application/cloudevents+json" },
      JSON.stringify({ specversion: "1.0", id: "s", source: "test", type: ORDER }),
    );
    assert.equal(structured.status, 400);
    assert.match(structured.body, /needs "data"/);
    const noStart = await request(proxy.port, "GET", "/v1/topics/orders");
    assert.equal(noStart.status, 400);
    assert.match(noStart.body, /give \?from=<offset>/);
    const badFrom = await request(proxy.port, "GET", "/v1/topics/orders?from=-1");
    assert.equal(badFrom.status, 400);
    assert.match(badFrom.body, /must be a non-negative whole number/);
    const put = await request(proxy.port, "PUT", "/v1/topics/orders", { "content-type": "application/json" }, "{}");
    assert.equal(put.status, 405);
    assert.equal(put.headers.allow, "GET, POST");
    // Nothing of this reached the topic: its last message is still evt-after.
    const all = await collectAll(proxy.port, "orders");
    assert.equal(all.at(-1)?.data.id, "evt-after");
  });

  it("keeps a group's offset in the store: after a restart it resumes where it stopped, and consumers do not see old messages again", async () => {
    await publishJson(proxy.port, "audit-log", ORDER, { orderId: "a1" }, "a1");
    await publishJson(proxy.port, "audit-log", ORDER, { orderId: "a2" }, "a2");
    const first = await readEvents(proxy.port, "audit-log", "group=reader", 2);
    assert.deepEqual(
      first.map((e) => e.data.id),
      ["a1", "a2"],
    );
    await eventually(() => uf.callsOf("Process").some((c) => c.orderId === "after-bad"), 10_000, "settled");
    const processedBefore = uf.callsOf("Process").length;

    // A stopping proxy ends its open event streams rather than waiting for their clients.
    const open = await openStream(proxy.port, "/v1/topics/audit-log?from=0");
    assert.equal(await proxy.stop(), 0);
    await open.ended;
    assert.match(open.text(), /^id: 2$/m);
    proxy = await start();
    await publishJson(proxy.port, "audit-log", ORDER, { orderId: "a3" }, "a3");
    const resumed = await readEvents(proxy.port, "audit-log", "group=reader", 1);
    assert.deepEqual(
      resumed.map((e) => [e.id, e.data.id]),
      [[3, "a3"]],
    );
    await publishJson(proxy.port, "orders", ORDER, { orderId: "after-restart", item: "lime", quantity: 1 }, "evt-restart");
    await eventually(() => uf.callsOf("Process").some((c) => c.orderId === "after-restart"), 10_000, "Process after restart");
    assert.deepEqual(
      uf
        .callsOf("Process")
        .slice(processedBefore)
        .map((c) => c.orderId),
      ["after-restart"],
    );
  });

  it("switchboard topics publish and tail talk to the topics surface", async () => {
    const address = `127.0.0.1:${proxy.port}`;
    const published = await runCli(["topics", "publish", "cli-topic", "--type", ORDER, '{"orderId":"c1","quantity":2}', "--id", "cli-1", "--address", address]);
    assert.deepEqual([published.code, published.stdout], [0, "published to cli-topic at offset 1\n"], published.stderr);
    const tailed = await runCli(["topics", "tail", "cli-topic", "--from", "0", "--count", "1", "--address", address]);
    assert.equal(tailed.code, 0, tailed.stderr);
    const event = JSON.parse(tailed.stdout.trim()) as Record<string, unknown>;
    assert.deepEqual([event.id, event.type, event.source, event.data], ["cli-1", ORDER, "switchboard-cli", { orderId: "c1", quantity: 2 }]);
    const refused = await runCli(["topics", "publish", "cli-topic", "--type", "com.example.Nope", "{}", "--address", address]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTP 400: unknown type "com\.example\.Nope"/);
    const noType = await runCli(["topics", "publish", "cli-topic", "{}", "--address", address]);
    assert.equal(noType.code, 2);
    assert.match(noType.stderr, /publish needs --type/);
  });

  it("loses no acknowledged message when the proxy is killed with SIGKILL right after the 202s", async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => publishJson(proxy.port, "ledger", ORDER, { orderId: `l${i}`, quantity: i }, `l${i}`)),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      answers.map(() => 202),
    );
    const offsets = answers.map((a) => (JSON.parse(a.body) as { offset: number }).offset).sort((a, b) => a - b);
    assert.deepEqual(
      offsets,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    await proxy.kill();
    proxy = await start();
    const events = await readEvents(proxy.port, "ledger", "from=0", 40);
    assert.deepEqual(
      events.map((e) => e.id),
      offsets,
    );
    assert.deepEqual(events.map((e) => e.data.id).sort(), Array.from({ length: 40 }, (_, i) => `l${i}`).sort());
  });
});

/** Opens an event stream; `ended` resolves when the server ends it. */
function openStream(port: number, path: string): Promise<{ ended: Promise<void>; text(): string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      const ended = new Promise<void>((done) => res.once("close", () => done()));
      resolve({ ended, text: () => text });
    });
    req.on("error", reject);
  });
}

/** Every message of a topic so far (reads until a short pause). */
async function collectAll(port: number, topic: string): Promise<Array<{ id: number; data: Record<string, unknown> }>> {
  const events: Array<{ id: number; data: Record<string, unknown> }> = [];
  for (;;) {
    const next = await readEvents(port, topic, `from=${events.at(-1)?.id ?? 0}`, 1, 1500).catch(() => []);
    if (next.length === 0) return events;
    events.push(...next);
  }
}
