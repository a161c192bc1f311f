/**
 * Topics on NATS JetStream (`--eventing nats://…`), through real processes: a real
 * `nats-server -js`, the proxy CLI and the topic tests' user function.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, SWITCHBOARD_BIN, startProxy } from "../support/proxy-process.js";
import { OrderSchema } from "./gen/switchboard/test/topics/orders_pb.js";
import { freePort, type NatsServer, startNatsServer } from "./support/nats-server.js";
import { startNatsTopics } from "./support/nats-topics.js";
import { type OrdersUserFunction, startOrdersUserFunction } from "./support/orders-user-function.js";
import { publishJson, readEvents, request } from "./support/topic-client.js";

const ORDER = "switchboard.test.topics.Order";
const SHIPMENT = "switchboard.test.topics.Shipment";
const PROCESSOR = "switchboard.test.topics.OrderProcessor";

describe("topics on NATS JetStream end to end", () => {
  let nats: NatsServer;
  let uf: OrdersUserFunction;
  let proxy: ProxyProcess;
  let dir: string;
  const start = () =>
    startProxy({
      userFunctionPort: uf.port,
      store: `sqlite:${path.join(dir, "entities.db")}`,
      extraArgs: ["--eventing", nats.url, "--topic-max-attempts", "3", "--topic-retry-backoff", "20"],
    });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-nats-topics-"));
    nats = await startNatsServer();
    uf = await startOrdersUserFunction();
    proxy = await start();
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
    await nats.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps topics in JetStream: publish over HTTP → action → out topic → entity, offsets are stream sequences, groups are durable consumers", async () => {
    const first = await publishJson(proxy.port, "orders", ORDER, { orderId: "n1", item: "apple", quantity: 2 }, "evt-n1", { "ce-subject": "c-1" });
    assert.equal(first.status, 202, first.body);
    assert.deepEqual(JSON.parse(first.body), { offset: 1 });
    const structured = await request(
      proxy.port,
      "POST",
      "/v1/topics/orders",
      { "content-type": "application/cloudevents+json" },
      JSON.stringify({
        specversion: "1.0",
        id: "evt-n2",
        source: "test",
        type: ORDER,
        note: "two\nlines, 100% ünïcode",
        data: { orderId: "n2", item: "apple", quantity: 5 },
      }),
    );
    assert.equal(structured.status, 202, structured.body);
    assert.deepEqual(JSON.parse(structured.body), { offset: 2 });
    const bad = await publishJson(proxy.port, "orders", "com.example.Nope", {}, "evt-nope");
    assert.equal(bad.status, 400);

    await eventually(() => uf.callsOf("Process").filter((c) => c.orderId.startsWith("n")).length >= 2, 15_000, "Process of n1, n2");
    const seen = uf.callsOf("Process").find((c) => c.orderId === "n1")?.cloudEvent;
    assert.deepEqual([seen?.id, seen?.type, seen?.subject], ["evt-n1", ORDER, "c-1"]);

    const shipments = await readEvents(proxy.port, "shipments", "from=0", 2);
    assert.deepEqual(
      shipments.map((e) => [e.id, e.data.type, (e.data.data as { orderId: string }).orderId]),
      [
        [1, SHIPMENT, "n1"],
        [2, SHIPMENT, "n2"],
      ],
    );
    const orders = await readEvents(proxy.port, "orders", "from=1", 1);
    assert.equal(orders[0]?.id, 2);
    assert.equal(orders[0]?.data.note, "two\nlines, 100% ünïcode", "attributes survive the NATS headers");
    const bytes = toBinary(OrderSchema, create(OrderSchema, { orderId: "n3", item: "fig", quantity: 1 }));
    const binary = await request(
      proxy.port,
      "POST",
      "/v1/topics/orders",
      { "content-type": "application/protobuf", "ce-specversion": "1.0", "ce-id": "evt-n3", "ce-source": "test", "ce-type": ORDER },
      bytes,
    );
    assert.deepEqual([binary.status, JSON.parse(binary.body)], [202, { offset: 3 }]);
    await eventually(
      async () => {
        const tally = await request(proxy.port, "POST", "/switchboard.test.topics.ItemTally/Get", { "content-type": "application/json" }, '{"item":"apple"}');
        return tally.status === 200 && JSON.parse(tally.body).quantity === 7;
      },
      15_000,
      "tally of apple from the shipments topic",
    );
    await eventually(() => uf.callsOf("Record").filter((c) => c.orderId.startsWith("n")).length === 3, 15_000, "the audit group's copies");

    // JetStream holds it all: one stream per topic, a durable consumer per group whose ack floor is the group's offset.
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const streams: string[] = [];
      for await (const info of jsm.streams.list()) streams.push(info.config.name);
      assert.ok(
        streams.some((name) => /^SB_orders_[0-9a-f]{10}$/.test(name)),
        streams.join(","),
      );
      assert.ok(
        streams.some((name) => /^SB_shipments_[0-9a-f]{10}$/.test(name)),
        streams.join(","),
      );
      const ordersStream = streams.find((name) => name.startsWith("SB_orders_")) ?? "";
      await eventually(
        async () => {
          const consumers: Array<[string, number]> = [];
          for await (const info of jsm.consumers.list(ordersStream)) consumers.push([info.name, info.ack_floor.stream_seq]);
          return consumers.some(([name, floor]) => name.startsWith(PROCESSOR.replaceAll(".", "_")) && floor === 3);
        },
        15_000,
        "the processor group's durable consumer acked offset 3",
      );
    } finally {
      await nc.close();
    }

    // A reader's group resumes from its durable consumer.
    const page = await readEvents(proxy.port, "orders", "group=reader", 3);
    assert.deepEqual(
      page.map((e) => e.id),
      [1, 2, 3],
    );
    await publishJson(proxy.port, "orders", ORDER, { orderId: "n4", item: "fig", quantity: 1 }, "evt-n4");
    const resumed = await readEvents(proxy.port, "orders", "group=reader", 1);
    assert.deepEqual(
      resumed.map((e) => [e.id, e.data.id]),
      [[4, "evt-n4"]],
    );
  });

  it("retries a failing message, dead-letters it to <topic>.dead-letter on NATS, and keeps the order of each key", async () => {
    const before = uf.callsOf("Process").length;
    const publishes: Array<[string, boolean, string]> = [];
    for (let i = 0; i < 15; i++) publishes.push([`k${i % 3}-${i}`, i === 4, `key-${i % 3}`]);
    for (const [orderId, fail, subject] of publishes) {
      const answer = await publishJson(proxy.port, "orders", ORDER, { orderId, item: "plum", quantity: 1, fail }, `evt-${orderId}`, { "ce-subject": subject });
      assert.equal(answer.status, 202, answer.body);
    }
    const mine = () =>
      uf
        .callsOf("Process")
        .slice(before)
        .map((c) => c.orderId);
    await eventually(() => new Set(mine()).size === 15, 20_000, "all 15 orders processed");
    const [dead] = await readEvents(proxy.port, "orders.dead-letter", "from=0", 1);
    assert.equal(dead?.data.id, "evt-k1-4");
    assert.match(String(dead?.data.deadletterreason), /order k1-4 cannot be shipped/);
    assert.equal(dead?.data.deadletterattempts, "3");
    assert.equal(dead?.data.deadlettergroup, PROCESSOR);
    const calls = mine();
    assert.equal(calls.filter((id) => id === "k1-4").length, 3);
    for (const key of ["k0", "k1", "k2"]) {
      const sequence = calls.filter((id) => id.startsWith(`${key}-`)).map((id) => Number(id.split("-")[1]));
      const firsts = sequence.filter((n, i) => sequence.indexOf(n) === i);
      assert.deepEqual(
        firsts,
        [...firsts].sort((a, b) => a - b),
        `order of ${key}: ${sequence.join(",")}`,
      );
    }
  });

  it("loses nothing when the proxy is killed with SIGKILL in the middle of a stream (at least once; duplicates counted)", async (t) => {
    const total = 300;
    const before = uf.callsOf("Process").length;
    const ids = Array.from({ length: total }, (_, i) => `kill-${i}`);
    // Publishing runs while the consumer works; the proxy dies partway.
    const publishing = (async () => {
      for (let i = 0; i < total; i += 20) {
        const answers = await Promise.all(
          ids
            .slice(i, i + 20)
            .map((id, j) =>
              publishJson(proxy.port, "orders", ORDER, { orderId: id, item: "kiwi", quantity: 1 }, `evt-${id}`, { "ce-subject": `s${(i + j) % 8}` }),
            ),
        );
        for (const answer of answers) assert.equal(answer.status, 202, answer.body);
      }
    })();
    await publishing;
    await eventually(() => uf.callsOf("Process").length - before >= 40, 20_000, "40 deliveries before the kill");
    await proxy.kill();
    const beforeRestart = uf.callsOf("Process").length - before;
    proxy = await start();
    const processed = () =>
      new Set(
        uf
          .callsOf("Process")
          .slice(before)
          .map((c) => c.orderId),
      );
    await eventually(() => ids.every((id) => processed().has(id)), 60_000, "every order processed after the restart");
    const deliveries = uf.callsOf("Process").slice(before).length;
    const duplicates = deliveries - total;
    t.diagnostic(`${total} orders, ${deliveries} deliveries (${duplicates} duplicates), ${beforeRestart} before the kill`);
    assert.ok(beforeRestart < total, `the kill came before the end of the stream (${beforeRestart} of ${total})`);
    // Nothing lost on the out topic either: every order's shipment is there (duplicates allowed).
    const shipped = await readEvents(
      proxy.port,
      "shipments",
      "from=0",
      (events) => {
        const got = new Set(events.map((e) => (e.data.data as { orderId: string }).orderId));
        return ids.every((id) => got.has(id));
      },
      30_000,
    );
    assert.ok(shipped.length >= total + 2);
  });

  it("is not ready while the NATS server is down, and carries on with its stored messages when it is back", async () => {
    const ready = async () => (await request(proxy.port, "GET", "/ready").catch(() => ({ status: 0 }))).status;
    assert.equal(await ready(), 200);
    await nats.kill();
    await eventually(async () => (await ready()) === 503, 15_000, "/ready 503 with the NATS server gone");
    const meanwhile = await publishJson(proxy.port, "orders", ORDER, { orderId: "down-1" }, "evt-down-1").catch(() => ({ status: 0, body: "" }));
    assert.notEqual(meanwhile.status, 202, "no 202 without the broker");
    await nats.restart();
    await eventually(async () => (await ready()) === 200, 30_000, "/ready 200 again");
    const after = await publishJson(proxy.port, "orders", ORDER, { orderId: "back-1", item: "lime", quantity: 1 }, "evt-back-1");
    assert.equal(after.status, 202, after.body);
    await eventually(() => uf.callsOf("Process").some((c) => c.orderId === "back-1"), 20_000, "Process after the server came back");
    // The messages published before the outage are still in the stream.
    const early = await readEvents(proxy.port, "orders", "from=0", 1);
    assert.equal(early[0]?.data.id, "evt-n1");
  });
});

describe("topics on NATS JetStream: replaying a group, retention by the stream's limits", () => {
  let uf: OrdersUserFunction;
  let proxy: ProxyProcess;
  let admin: number;
  let close: (() => Promise<void>) | undefined;
  const audited = () => uf.callsOf("Record").map((c) => c.orderId);

  before(async () => {
    ({ uf, proxy, admin, close } = await startNatsTopics(["--topic-retention-bytes", "4000"]));
  });
  after(() => close?.());

  it("replays a group by making its durable consumer anew from the offset; other groups are untouched", async () => {
    for (const id of ["o1", "o2", "o3"])
      assert.equal((await publishJson(proxy.port, "orders", ORDER, { orderId: id, item: "fig", quantity: 1 }, id)).status, 202);
    await eventually(
      async () => JSON.parse((await request(admin, "GET", "/v1/topics/orders/groups/audit")).body).offset === 3,
      15_000,
      "the audit group at offset 3",
    );
    const replayed = await request(admin, "POST", "/v1/topics/orders/groups/audit/offset", { "content-type": "application/json" }, '{"offset":1}');
    assert.equal(replayed.status, 200, replayed.body);
    await eventually(() => audited().length === 5, 15_000, "o2 and o3 audited again");
    assert.deepEqual(audited(), ["o1", "o2", "o3", "o2", "o3"]);
    await publishJson(proxy.port, "orders", ORDER, { orderId: "o4", item: "fig", quantity: 1 }, "o4");
    await eventually(() => audited().includes("o4") && uf.callsOf("Process").some((c) => c.orderId === "o4"), 15_000, "o4 in both groups");
    assert.deepEqual(
      uf.callsOf("Process").map((c) => c.orderId),
      ["o1", "o2", "o3", "o4"],
    );
    await eventually(
      async () => JSON.parse((await request(admin, "GET", "/v1/topics/orders/groups/audit")).body).offset === 4,
      15_000,
      "the audit group at offset 4 again",
    );
  });

  it("keeps a stream within --topic-retention-bytes: old messages go, a removed offset answers 410", async () => {
    for (let i = 0; i < 40; i++) {
      const answer = await publishJson(proxy.port, "kept", ORDER, { orderId: `kept-${i}`, item: "x".repeat(100), quantity: i }, `kept-${i}`);
      assert.equal(answer.status, 202, answer.body);
    }
    const retained = await readEvents(proxy.port, "kept", "from=0", (events) => events.at(-1)?.id === 40);
    const first = retained[0]?.id ?? 0;
    assert.ok(first > 1, `the oldest messages were removed (first retained: ${first})`);
    assert.deepEqual(
      retained.map((e) => e.id),
      Array.from({ length: 41 - first }, (_, i) => first + i),
    );
    const gone = await request(proxy.port, "GET", "/v1/topics/kept?from=1");
    assert.equal(gone.status, 410, gone.body);
  });
});

describe("switchboard start --eventing: bad values and unreachable servers", () => {
  /** Runs `switchboard start` to its exit; resolves to its code and stderr. */
  async function startAndExit(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(
      process.execPath,
      [SWITCHBOARD_BIN, "start", "--bind", "127.0.0.1", "--http-port", "0", "--admin-port", "0", "--store", "memory", "--user-function-port", "1", ...args],
      { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const [code] = (await once(child, "exit")) as [number | null];
    clearTimeout(timer);
    return { code, stderr };
  }
  const lastLine = (stderr: string) => stderr.trim().split("\n").at(-1) ?? "";

  it("exits 1 with the reason for a URL that is not nats://host:port", async () => {
    for (const [value, reason] of [
      ["http://127.0.0.1:4222", /the scheme http is not supported/],
      ["nats://", /not a URL|no host/],
      ["nats://127.0.0.1:4222/topics", /a path, query or fragment/],
      ["just-a-name", /not a URL/],
    ] as const) {
      const run = await startAndExit(["--eventing", value]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(lastLine(run.stderr), /^switchboard: --eventing must be nats:\/\/host:port, got /);
      assert.match(lastLine(run.stderr), reason);
    }
    const fromEnv = await startAndExit([], { EVENTING_URL: "kafka://broker:9092" });
    assert.equal(fromEnv.code, 1);
    assert.match(lastLine(fromEnv.stderr), /scheme kafka is not supported/);
  });

  it("exits 1 naming the server when nothing listens there, or when it has no JetStream", async () => {
    const port = await freePort();
    const refused = await startAndExit(["--eventing", `nats://127.0.0.1:${port}`]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(lastLine(refused.stderr), new RegExp(`^switchboard: cannot reach the NATS server at nats://127\\.0\\.0\\.1:${port}: `));
    const plain = await startNatsServer({ jetstream: false });
    try {
      const noJetStream = await startAndExit(["--eventing", plain.url]);
      assert.equal(noJetStream.code, 1, noJetStream.stderr);
      assert.match(lastLine(noJetStream.stderr), /has no JetStream \(start it with -js\)/);
    } finally {
      await plain.close();
    }
  });
});
