import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../observability/support/example-process.js";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { runCli } from "./support/cli.js";
import { type OrdersUserFunction, startOrdersUserFunction } from "./support/orders-user-function.js";
import { publishJson, readEvents, request } from "./support/topic-client.js";

const ORDER = "switchboard.test.topics.Order";
const PROCESSOR = "switchboard.test.topics.OrderProcessor";

/** A proxy on its own SQLite file, with the admin port on. */
async function startWithAdmin(uf: OrdersUserFunction, db: string, extraArgs: string[] = []): Promise<{ proxy: ProxyProcess; admin: number }> {
  const admin = await freePort();
  const proxy = await startProxy({
    userFunctionPort: uf.port,
    store: `sqlite:${db}`,
    extraArgs: ["--topic-max-attempts", "3", "--topic-retry-backoff", "20", "--admin-port", String(admin), ...extraArgs],
  });
  return { proxy, admin };
}

function post(port: number, path: string, body: unknown) {
  return request(port, "POST", path, { "content-type": "application/json" }, typeof body === "string" ? body : JSON.stringify(body));
}

const ids = (uf: OrdersUserFunction, method: string) => uf.callsOf(method).map((c) => c.orderId);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("topics: replaying a consumer group", () => {
  let uf: OrdersUserFunction;
  let proxy: ProxyProcess;
  let admin: number;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-replay-"));
    uf = await startOrdersUserFunction();
    ({ proxy, admin } = await startWithAdmin(uf, path.join(dir, "topics.db")));
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("replays a group from an offset (admin API) and from a time (CLI); its running consumer takes the new offset up, other groups are untouched", async () => {
    for (const id of ["o1", "o2"]) assert.equal((await publishJson(proxy.port, "orders", ORDER, { orderId: id, item: "fig", quantity: 1 }, id)).status, 202);
    await eventually(() => ids(uf, "Record").length === 2, 10_000, "audit of o1, o2");
    // Publish times are stored per message; o3 comes after the mark.
    await pause(50);
    const mark = new Date().toISOString();
    await pause(50);
    await publishJson(proxy.port, "orders", ORDER, { orderId: "o3", item: "fig", quantity: 1 }, "o3");
    await eventually(() => ids(uf, "Record").length === 3, 10_000, "audit of o3");

    // The group stores its offset once the batch is done, a moment after the call.
    await eventually(async () => JSON.parse((await request(admin, "GET", "/v1/topics/orders/groups/audit")).body).offset === 3, 10_000, "audit at 3");
    const before = await request(admin, "GET", "/v1/topics/orders/groups/audit");
    assert.equal(before.status, 200, before.body);
    assert.deepEqual(JSON.parse(before.body), { topic: "orders", group: "audit", offset: 3, firstOffset: 1, lastOffset: 3 });

    const replayed = await post(admin, "/v1/topics/orders/groups/audit/offset", { offset: 1 });
    assert.equal(replayed.status, 200, replayed.body);
    assert.deepEqual(JSON.parse(replayed.body), { topic: "orders", group: "audit", offset: 1, previousOffset: 3, firstOffset: 1, lastOffset: 3 });
    await eventually(() => ids(uf, "Record").length === 5, 10_000, "o2 and o3 audited again");
    assert.deepEqual(ids(uf, "Record"), ["o1", "o2", "o3", "o2", "o3"]);

    const cli = await runCli(["topics", "replay", "orders", "--group", "audit", "--from-time", mark, "--admin-address", `127.0.0.1:${admin}`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, "group audit of topic orders: offset 3 -> 2; it consumes from offset 3 on\n");
    await eventually(() => ids(uf, "Record").length === 6, 10_000, "o3 audited again");

    await publishJson(proxy.port, "orders", ORDER, { orderId: "o4", item: "fig", quantity: 1 }, "o4");
    await eventually(() => ids(uf, "Record").includes("o4") && ids(uf, "Process").includes("o4"), 10_000, "o4");
    assert.deepEqual(ids(uf, "Record"), ["o1", "o2", "o3", "o2", "o3", "o3", "o4"]);
    // The processor's group was not replayed.
    assert.deepEqual(ids(uf, "Process"), ["o1", "o2", "o3", "o4"]);
    assert.match(proxy.stderr(), /consumer group offset was set; consuming from it/);
  });

  it("answers unknown topics and groups with 404 and bad values with 400, saying what was wrong", async () => {
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ["unknown topic", "/v1/topics/nope/groups/audit/offset", { offset: 0 }, 404, /no topic "nope": it has no messages and no method consumes it/],
      [
        "unknown group",
        "/v1/topics/orders/groups/audti/offset",
        { offset: 0 },
        404,
        /no consumer group "audti" on topic "orders"; its consumer groups: .*audit/,
      ],
      ["negative offset", "/v1/topics/orders/groups/audit/offset", { offset: -1 }, 400, /"offset" must be a whole number of at least 0, got -1/],
      ["offset as text", "/v1/topics/orders/groups/audit/offset", { offset: "2" }, 400, /"offset" must be a whole number/],
      ["offset past the end", "/v1/topics/orders/groups/audit/offset", { offset: 99 }, 400, /topic "orders" ends at offset 4/],
      ["a time that is none", "/v1/topics/orders/groups/audit/offset", { time: "yesterday" }, 400, /"time" must be an ISO 8601 time/],
      ["neither", "/v1/topics/orders/groups/audit/offset", {}, 400, /give "offset" or "time", not both and not neither/],
      ["both", "/v1/topics/orders/groups/audit/offset", { offset: 1, time: "2026-01-01T00:00:00Z" }, 400, /not both/],
      ["an unknown field", "/v1/topics/orders/groups/audit/offset", { offest: 1 }, 400, /unknown field "offest"/],
      ["not JSON", "/v1/topics/orders/groups/audit/offset", "offset=1", 400, /the body must be JSON/],
    ];
    for (const [what, path, body, status, reason] of cases) {
      const answer = await post(admin, path, body);
      assert.equal(answer.status, status, `${what}: ${answer.body}`);
      assert.match(JSON.parse(answer.body).error, reason, what);
    }
    const get = await request(admin, "GET", "/v1/topics/orders/groups/audit/offset");
    assert.equal(get.status, 405);
    const group = await request(admin, "GET", "/v1/topics/orders/groups/nobody");
    assert.equal(group.status, 404);
    // Nothing of this moved the group: it reaches 4 (o4) and stays there.
    await eventually(async () => JSON.parse((await request(admin, "GET", "/v1/topics/orders/groups/audit")).body).offset === 4, 10_000, "audit at 4");

    const noGroup = await runCli(["topics", "replay", "orders", "--from-offset", "0", "--admin-address", `127.0.0.1:${admin}`]);
    assert.equal(noGroup.code, 2);
    assert.match(noGroup.stderr, /replay needs --group/);
    const badOffset = await runCli(["topics", "replay", "orders", "--group", "audit", "--from-offset", "two", "--admin-address", `127.0.0.1:${admin}`]);
    assert.equal(badOffset.code, 2);
    assert.match(badOffset.stderr, /--from-offset must be a whole number of at least 0, got "two"/);
    const badTime = await runCli(["topics", "replay", "orders", "--group", "audit", "--from-time", "noon", "--admin-address", `127.0.0.1:${admin}`]);
    assert.equal(badTime.code, 2);
    assert.match(badTime.stderr, /--from-time must be an ISO 8601 time/);
    const unknown = await runCli(["topics", "replay", "orders", "--group", "audti", "--from-offset", "0", "--admin-address", `127.0.0.1:${admin}`]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HTTP 404: no consumer group "audti" on topic "orders"/);
  });
});

describe("topics: retention on the embedded broker", () => {
  let uf: OrdersUserFunction;
  let proxy: ProxyProcess;
  let admin: number;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-retention-"));
    uf = await startOrdersUserFunction();
    // About four orders fit in 600 bytes (payload plus CloudEvents attributes).
    ({ proxy, admin } = await startWithAdmin(uf, path.join(dir, "topics.db"), ["--topic-retention-bytes", "600", "--topic-retention-check", "100"]));
  });
  after(async () => {
    uf.release();
    await proxy.stop();
    await uf.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("trims a topic in the background; a group behind the retained start resumes there (logged and counted); a trimmed offset answers 410", async () => {
    // The processor's group holds on its first order while the topic grows past retention.
    await publishJson(proxy.port, "orders", ORDER, { orderId: "held", item: "fig", quantity: 1, hold: true }, "held");
    await eventually(() => ids(uf, "Process").includes("held"), 10_000, "the held order is in flight");
    for (let i = 0; i < 12; i++) await publishJson(proxy.port, "orders", ORDER, { orderId: `r${i}`, item: "fig", quantity: 1 }, `r${i}`);

    await eventually(async () => ((await readEvents(proxy.port, "orders", "from=0", 1))[0]?.id ?? 0) > 3, 10_000, "retention trimmed orders");
    // (Retention may still be trimming; whatever it keeps is a suffix of the topic.)
    const retained = await readEvents(proxy.port, "orders", "from=0", (events) => events.at(-1)?.id === 13);
    const firstOffset = retained[0]?.id ?? 0;
    assert.deepEqual(
      retained.map((e) => e.id),
      Array.from({ length: 14 - firstOffset }, (_, i) => firstOffset + i),
      "the retained messages are a gap-free suffix",
    );

    // Reading from a removed offset is refused with where the topic starts now.
    const gone = await request(proxy.port, "GET", "/v1/topics/orders?from=1");
    assert.equal(gone.status, 410, gone.body);
    assert.match(gone.body, /messages of topic "orders" up to offset \d+ were removed by retention; the first retained offset is \d+/);
    const replay = await post(admin, "/v1/topics/orders/groups/audit/offset", { offset: 1 });
    assert.equal(replay.status, 410, replay.body);
    assert.match(JSON.parse(replay.body).error, /were removed by retention/);

    // The held group goes on at the first retained offset; retention won for the orders between.
    uf.release();
    await eventually(() => ids(uf, "Process").includes("r11"), 10_000, "the processor reached the newest order");
    const processed = ids(uf, "Process");
    assert.equal(processed[0], "held");
    const skippedIds = Array.from({ length: 12 }, (_, i) => `r${i}`).filter((id) => !processed.includes(id));
    assert.ok(skippedIds.length > 0, `some orders were skipped: ${processed.join(",")}`);
    // What it did process is a suffix of the orders, in order.
    const rest = processed.slice(1).filter((id) => id.startsWith("r"));
    assert.deepEqual(rest, Array.from({ length: 12 }, (_, i) => `r${i}`).slice(12 - rest.length));
    assert.match(proxy.stderr(), /retention removed messages this group had not consumed/);

    const metrics = (await request(admin, "GET", "/metrics")).body;
    const skipped = new RegExp(`switchboard_topic_messages_skipped_total\\{topic="orders",group="${PROCESSOR}"\\} (\\d+)`).exec(metrics);
    assert.equal(Number(skipped?.[1]), skippedIds.length, metrics);
    const trimmed = /switchboard_topic_messages_trimmed_total\{topic="orders"\} (\d+)/.exec(metrics);
    assert.ok(Number(trimmed?.[1]) >= firstOffset - 1, metrics);
  });
});

describe("topics: at least once across a kill -9 of the proxy in the middle of a consumed stream", () => {
  let uf: OrdersUserFunction;
  let proxy: ProxyProcess;
  let dir: string;
  let db: string;
  const start = () => startProxy({ userFunctionPort: uf.port, store: `sqlite:${db}`, extraArgs: ["--topic-max-attempts", "3", "--topic-retry-backoff", "20"] });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-kill-consumer-"));
    db = path.join(dir, "topics.db");
    uf = await startOrdersUserFunction();
    proxy = await start();
  });
  after(async () => {
    uf.release();
    await proxy.stop();
    await uf.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("delivers every order and publishes every shipment after the restart, counting the duplicates", async (t) => {
    const orders = Array.from({ length: 30 }, (_, i) => `k${i}`);
    for (const [i, id] of orders.entries()) {
      const answer = await publishJson(proxy.port, "orders", ORDER, { orderId: id, item: "fig", quantity: 1, hold: i === 12 }, id);
      assert.equal(answer.status, 202, answer.body);
    }
    // Killed while the 13th order is being delivered (the consumer's batch is open).
    await eventually(() => ids(uf, "Process").includes("k12"), 10_000, "k12 in flight");
    await proxy.kill();
    uf.release();
    proxy = await start();

    await eventually(() => orders.every((id) => ids(uf, "Process").includes(id)), 20_000, "every order processed");
    const shipments = await readEvents(proxy.port, "shipments", "from=0", (events) =>
      orders.every((id) => events.some((e) => (e.data.data as { orderId: string }).orderId === id)),
    );
    const processed = ids(uf, "Process");
    const duplicates = processed.length - new Set(processed).size;
    const shipped = shipments.map((e) => (e.data.data as { orderId: string }).orderId);
    const duplicateShipments = shipped.length - new Set(shipped).size;
    t.diagnostic(`30 orders: ${processed.length} deliveries (${duplicates} duplicates), ${shipped.length} shipments (${duplicateShipments} duplicates)`);
    // The order in flight at the kill was delivered again: at least once, never lost.
    assert.ok(processed.filter((id) => id === "k12").length >= 2, processed.join(","));
    assert.ok(duplicates >= 1);
    // Each delivery run goes in offset order: after the restart, from the first order not stored as done.
    const restart = processed.lastIndexOf("k12");
    const resumedAt = processed.slice(0, restart).lastIndexOf("k12") + 1;
    const afterRestart = processed.slice(resumedAt);
    const firstAgain = Number(afterRestart[0]?.slice(1));
    assert.deepEqual(afterRestart, orders.slice(firstAgain), processed.join(","));
  });
});
