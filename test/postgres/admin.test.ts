/**
 * The admin port over a PostgreSQL store, through real processes: the shopping-cart and
 * counter examples as user functions, the `switchboard` CLI as the proxy on a throw-away
 * PostgreSQL server, the admin API and `switchboard inspect` reading what it stored, and
 * the store's commit metrics.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { type ProxyProcess, SWITCHBOARD_BIN, startProxy } from "../support/proxy-process.js";
import { type ExampleProcess, freePort, startExample } from "../observability/support/example-process.js";
import { type PostgresServer, startPostgres } from "./pg-server.js";

const COUNTER = "com.example.counter.CounterService";
const CART = "com.example.shoppingcart.ShoppingCart";

async function post(port: number, route: string, body: unknown): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.text());
}

describe("the admin port on a PostgreSQL store", () => {
  let server: PostgresServer;
  let cart: ExampleProcess;
  let counter: ExampleProcess;
  let cartProxy: ProxyProcess;
  let counterProxy: ProxyProcess;
  let cartAdmin: string;
  let counterAdmin: string;
  const read = async (admin: string, route: string) => {
    const response = await fetch(`${admin}${route}`);
    return { status: response.status, body: JSON.parse(await response.text()) };
  };

  before(async () => {
    server = await startPostgres();
    [cart, counter] = await Promise.all([startExample("shopping-cart"), startExample("counter")]);
    const [cartPort, counterPort] = [await freePort(), await freePort()];
    cartProxy = await startProxy({ userFunctionPort: cart.port, store: server.url, extraArgs: ["--admin-port", String(cartPort)] });
    counterProxy = await startProxy({ userFunctionPort: counter.port, store: await server.createDatabase(), extraArgs: ["--admin-port", String(counterPort)] });
    cartAdmin = `http://127.0.0.1:${cartPort}`;
    counterAdmin = `http://127.0.0.1:${counterPort}`;
    await post(cartProxy.port, "/cart/ann/items/add", { productId: "p1", name: "Socks", quantity: 2 });
    await post(cartProxy.port, "/cart/ann/items/add", { productId: "p2", name: "Hat", quantity: 1 });
    await post(cartProxy.port, "/cart/bob/items/add", { productId: "p3", name: "Scarf", quantity: 1 });
    for (const id of ["c1", "c2", "d1"]) await post(counterProxy.port, `/counters/${id}/increase`, { value: 4 });
  });
  after(async () => {
    await cartProxy?.stop();
    await counterProxy?.stop();
    await cart?.stop();
    await counter?.stop();
    await server?.stop();
  });

  it("lists event-sourced entities and reads their journal, decoded, with timestamps", async () => {
    assert.deepEqual((await read(cartAdmin, `/v1/entities/${CART}`)).body.entities, ["ann", "bob"]);
    assert.deepEqual((await read(cartAdmin, `/v1/entities/${CART}?prefix=b`)).body.entities, ["bob"]);
    const entity = await read(cartAdmin, `/v1/entities/${CART}/ann`);
    assert.equal(entity.status, 200);
    assert.equal(entity.body.sequenceNumber, 2);
    const events = await read(cartAdmin, `/v1/entities/${CART}/ann/events?from=1&limit=10`);
    assert.equal(events.status, 200);
    assert.deepEqual(
      events.body.events.map((e: { seq: number; event: { value: { item: { productId: string } } } }) => [e.seq, e.event.value.item.productId]),
      [
        [1, "p1"],
        [2, "p2"],
      ],
    );
    for (const event of events.body.events) assert.ok(Number.isFinite(Date.parse(event.writtenAt)), event.writtenAt);
    const inspect = spawnSync(process.execPath, [SWITCHBOARD_BIN, "inspect", CART, "ann", "--events", "--admin-address", cartAdmin.slice("http://".length)], {
      encoding: "utf8",
      env: { ...process.env, ADMIN_TOKEN: "" },
    });
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.deepEqual(
      inspect.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).seq),
      [1, 2],
    );
  });

  it("lists value entities by prefix and page, and shows their state", async () => {
    assert.deepEqual((await read(counterAdmin, `/v1/entities/${COUNTER}?prefix=c`)).body.entities, ["c1", "c2"]);
    const first = (await read(counterAdmin, `/v1/entities/${COUNTER}?limit=2`)).body;
    assert.deepEqual([first.entities, first.next], [["c1", "c2"], "c2"]);
    assert.deepEqual((await read(counterAdmin, `/v1/entities/${COUNTER}?after=c2`)).body.entities, ["d1"]);
    assert.deepEqual((await read(counterAdmin, `/v1/entities/${COUNTER}/d1`)).body.state.value, { value: "4" });
  });

  it("records the PostgreSQL store's group commits on /metrics", async () => {
    const text = await (await fetch(`${counterAdmin}/metrics`)).text();
    const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    assert.equal(sample("switchboard_store_batch_size_sum"), 3);
    assert.ok(sample("switchboard_store_commit_duration_seconds_count") >= 1);
    assert.ok(sample("switchboard_store_commit_duration_seconds_sum") > 0);
  });
});
