/**
 * The admin port through real processes: the counter and shopping-cart examples as
 * user functions, the `switchboard` CLI as the proxy on a real SQLite file, and
 * `switchboard inspect` as a child process.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, SWITCHBOARD_BIN, startProxy } from "../support/proxy-process.js";
import { type ExampleProcess, freePort, startExample } from "./support/example-process.js";

const COUNTER = "com.example.counter.CounterService";
const CART = "com.example.shoppingcart.ShoppingCart";

/**
 * Runs `switchboard inspect` without blocking this process: a blocked event loop would miss
 * the admin server closing an idle keep-alive connection, and the next fetch would fail on it.
 */
function inspect(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SWITCHBOARD_BIN, "inspect", ...args], { env: { ...process.env, ADMIN_TOKEN: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

async function post(port: number, route: string, body: unknown): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.text());
}

describe("the admin port with the counter example on SQLite", () => {
  let dir: string;
  let counter: ExampleProcess;
  let proxy: ProxyProcess;
  let admin: string;
  const get = async (route: string, init?: RequestInit) => {
    const response = await fetch(`${admin}${route}`, init);
    return { status: response.status, type: response.headers.get("content-type") ?? "", text: await response.text() };
  };
  const json = async (route: string, init?: RequestInit) => {
    const answer = await get(route, init);
    return { status: answer.status, body: JSON.parse(answer.text) };
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-admin-"));
    counter = await startExample("counter");
    const adminPort = await freePort();
    proxy = await startProxy({ userFunctionPort: counter.port, store: `sqlite:${path.join(dir, "state.db")}`, extraArgs: ["--admin-port", String(adminPort)] });
    admin = `http://127.0.0.1:${adminPort}`;
    await post(proxy.port, "/counters/c1/increase", { value: 5 });
    await post(proxy.port, "/counters/c2/increase", { value: 1 });
    await post(proxy.port, "/counters/d1/increase", { value: 7 });
  });
  after(async () => {
    await proxy?.stop();
    await counter?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("serves the Prometheus metrics with the switchboard and Node defaults", async () => {
    const metrics = await get("/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    for (const [name, type] of [
      ["switchboard_calls_total", "counter"],
      ["switchboard_call_duration_seconds", "histogram"],
      ["switchboard_entities_active", "gauge"],
      ["switchboard_activations_total", "counter"],
      ["switchboard_passivations_total", "counter"],
      ["switchboard_store_commit_duration_seconds", "histogram"],
      ["switchboard_store_batch_size", "histogram"],
      ["switchboard_user_function_up", "gauge"],
      ["switchboard_heap_releases_total", "counter"],
      ["process_cpu_user_seconds_total", "counter"],
      ["nodejs_eventloop_lag_seconds", "gauge"],
    ]) {
      assert.match(metrics.text, new RegExp(`^# TYPE ${name} ${type}$`, "m"), name);
    }
    assert.match(metrics.text, /^switchboard_user_function_up 1$/m);
    const labels = `service="${COUNTER}",method="Increase",protocol="http"`;
    assert.match(metrics.text, new RegExp(`^switchboard_calls_total\\{${labels},code="OK"\\} 3$`, "m"));
    assert.match(metrics.text, new RegExp(`^switchboard_call_duration_seconds_count\\{${labels}\\} 3$`, "m"));
    assert.match(metrics.text, new RegExp(`^switchboard_activations_total\\{kind="value-entity",service="${COUNTER}"\\} 3$`, "m"));
    assert.match(metrics.text, new RegExp(`^switchboard_entities_active\\{kind="value-entity",service="${COUNTER}"\\} 3$`, "m"));
    const stats = (await json("/v1/stats")).body.methods.find((m: { method: string }) => m.method === "Increase");
    assert.equal(stats.seconds.length, 60);
  });

  it("lists services with their kinds, methods and HTTP routes", async () => {
    const { status, body } = await json("/v1/services");
    assert.equal(status, 200);
    const service = body.services.find((s: { name: string }) => s.name === COUNTER);
    assert.equal(service.kind, "value-entity");
    assert.equal(service.persistenceId, "counter");
    const increase = service.methods.find((m: { name: string }) => m.name === "Increase");
    assert.equal(increase.input, "com.example.counter.IncreaseValue");
    assert.deepEqual(increase.httpRoutes[0], { method: "POST", path: "/counters/{counter_id}/increase", origin: "annotation" });
    assert.equal(body.services.find((s: { name: string }) => s.name === "com.example.counter.CounterFanout").kind, "action");
  });

  it("lists entity ids by prefix, one page at a time", async () => {
    assert.deepEqual((await json(`/v1/entities/${COUNTER}`)).body.entities, ["c1", "c2", "d1"]);
    assert.deepEqual((await json(`/v1/entities/${COUNTER}?prefix=c`)).body.entities, ["c1", "c2"]);
    const first = (await json(`/v1/entities/${COUNTER}?limit=2`)).body;
    assert.deepEqual([first.entities, first.next], [["c1", "c2"], "c2"]);
    const second = (await json(`/v1/entities/${COUNTER}?limit=2&after=c2`)).body;
    assert.deepEqual([second.entities, second.next], [["d1"], null]);
    const bad = await json(`/v1/entities/${COUNTER}?limit=0`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /limit must be a whole number from 1 to 1000, got "0"/);
  });

  it("shows an entity's state decoded to proto3 JSON", async () => {
    const { status, body } = await json(`/v1/entities/${COUNTER}/c1`);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      service: COUNTER,
      entityId: "c1",
      kind: "value-entity",
      state: { type: "com.example.counter.domain.CounterState", value: { value: "5" } },
    });
  });

  it("answers 404 with the nearest names for unknown services, entities and paths", async () => {
    const service = await json("/v1/entities/com.example.counter.CountrService/c1");
    assert.equal(service.status, 404);
    assert.equal(service.body.nearest[0], COUNTER);
    assert.match(service.body.error, /no service "com\.example\.counter\.CountrService"; did you mean com\.example\.counter\.CounterService/);
    const entity = await json(`/v1/entities/${COUNTER}/c3`);
    assert.equal(entity.status, 404);
    assert.match(entity.body.error, /no stored state for entity "c3" of com\.example\.counter\.CounterService; nearest ids: c1, c2/);
    const action = await json("/v1/entities/com.example.counter.CounterFanout");
    assert.equal(action.status, 404);
    assert.match(action.body.error, /is an Action: it keeps no entities/);
    const events = await json(`/v1/entities/${COUNTER}/c1/events`);
    assert.equal(events.status, 404);
    assert.match(events.body.error, /only event-sourced entities have events/);
    assert.equal((await json("/v1/nope")).status, 404);
    const method = await json(`/v1/entities/${COUNTER}/c1/passivate`);
    assert.equal(method.status, 405);
  });

  it("shows undecodable stored bytes as base64 with the reason", async () => {
    const db = new Database(path.join(dir, "state.db"));
    try {
      const insert = db.prepare("INSERT INTO value_entity (persistence_id, entity_id, version, type_url, payload) VALUES ('counter', ?, 1, ?, ?)");
      insert.run("broken", "type.googleapis.com/com.example.counter.domain.CounterState", Buffer.from([0x08, 0xff]));
      insert.run("alien", "type.googleapis.com/com.example.Nope", Buffer.from([0x01, 0x02]));
    } finally {
      db.close();
    }
    const broken = await json(`/v1/entities/${COUNTER}/broken`);
    assert.equal(broken.status, 200);
    assert.equal(broken.body.state.base64, "CP8=");
    assert.match(broken.body.state.error, /the stored bytes are not a valid com\.example\.counter\.domain\.CounterState/);
    const alien = await json(`/v1/entities/${COUNTER}/alien`);
    assert.equal(alien.body.state.base64, "AQI=");
    assert.match(alien.body.state.error, /do not declare the message type "com\.example\.Nope"/);
    // The proxy still serves.
    assert.equal((await json(`/v1/entities/${COUNTER}/c1`)).body.state.value.value, "5");
  });

  it("passivates an active entity", async () => {
    await post(proxy.port, "/counters/c2/increase", { value: 1 });
    const first = await json(`/v1/entities/${COUNTER}/c2/passivate`, { method: "POST" });
    assert.deepEqual(first, { status: 200, body: { service: COUNTER, entityId: "c2", passivated: true } });
    const again = await json(`/v1/entities/${COUNTER}/c2/passivate`, { method: "POST" });
    assert.equal(again.body.passivated, false);
    // The next command activates it again from the store.
    await post(proxy.port, "/counters/c2/increase", { value: 1 });
    assert.equal((await json(`/v1/entities/${COUNTER}/c2`)).body.state.value.value, "3");
  });

  it("switchboard inspect prints state as one-line proto3 JSON when piped, and exits 1 with a reason when not found", async () => {
    const address = admin.slice("http://".length);
    const state = await inspect(COUNTER, "c1", "--admin-address", address);
    assert.equal(state.status, 0, state.stderr);
    assert.equal(state.stdout, '{"value":"5"}\n');
    const ids = await inspect(COUNTER, "--prefix", "c", "--admin-address", address);
    assert.equal(ids.stdout, '["c1","c2"]\n');
    const missing = await inspect(COUNTER, "zz", "--admin-address", address);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^switchboard inspect: no stored state for entity "zz" of com\.example\.counter\.CounterService/);
    const wrong = await inspect("com.example.counter.CounterServce", "c1", "--admin-address", address);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /did you mean com\.example\.counter\.CounterService/);
    const unreachable = await inspect(COUNTER, "c1", "--admin-address", `127.0.0.1:${await freePort()}`);
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /cannot reach the admin port/);
  });
  it("records every group commit of the SQLite store: its duration and its batch size", async () => {
    const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    const before = (await get("/metrics")).text;
    const commitsBefore = sample(before, "switchboard_store_commit_duration_seconds_count");
    const writesBefore = sample(before, "switchboard_store_batch_size_sum");
    // Every increment so far was one write, committed before its answer.
    assert.ok(commitsBefore >= 1, `commits counted: ${commitsBefore}`);
    assert.ok(writesBefore >= 5, `writes counted: ${writesBefore}`);
    // Ten concurrent increments of ten entities: ten more writes, in one or more batches.
    await Promise.all(Array.from({ length: 10 }, (_, i) => post(proxy.port, `/counters/batch-${i}/increase`, { value: 1 })));
    const after = (await get("/metrics")).text;
    assert.equal(sample(after, "switchboard_store_batch_size_sum"), writesBefore + 10);
    const commits = sample(after, "switchboard_store_commit_duration_seconds_count") - commitsBefore;
    assert.ok(commits >= 1 && commits <= 10, `batches for 10 writes: ${commits}`);
    assert.equal(sample(after, "switchboard_store_batch_size_count"), sample(after, "switchboard_store_commit_duration_seconds_count"));
    assert.ok(sample(after, "switchboard_store_commit_duration_seconds_sum") > 0);
  });
});

describe("the admin port's access rules", () => {
  let counter: ExampleProcess;
  before(async () => {
    counter = await startExample("counter");
  });
  after(async () => {
    await counter?.stop();
  });

  it("needs the bearer token when one is set (or HTTP Basic with it as password, for browsers)", async () => {
    const adminPort = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-admin-token-"));
    const proxy = await startProxy({
      userFunctionPort: counter.port,
      store: `sqlite:${path.join(dir, "state.db")}`,
      extraArgs: ["--admin-port", String(adminPort)],
      env: { ADMIN_TOKEN: "s3cret" },
    });
    try {
      const url = `http://127.0.0.1:${adminPort}/v1/services`;
      const bare = await fetch(url);
      assert.equal(bare.status, 401);
      assert.equal(bare.headers.get("www-authenticate"), 'Basic realm="switchboard admin"');
      assert.equal((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status, 401);
      assert.equal((await fetch(`http://127.0.0.1:${adminPort}/metrics`)).status, 401);
      assert.equal((await fetch(url, { headers: { authorization: "Bearer s3cret" } })).status, 200);
      assert.equal((await fetch(url, { headers: { authorization: `Basic ${Buffer.from("admin:s3cret").toString("base64")}` } })).status, 200);
      const denied = await inspect(COUNTER, "--admin-address", `127.0.0.1:${adminPort}`);
      assert.equal(denied.status, 1);
      assert.match(denied.stderr, /needs Authorization: Bearer <token>/);
      const allowed = await inspect(COUNTER, "--admin-address", `127.0.0.1:${adminPort}`, "--admin-token", "s3cret");
      assert.equal(allowed.status, 0, allowed.stderr);
      assert.equal(allowed.stdout, "[]\n");
    } finally {
      await proxy.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lists and shows entities of the memory store (it inspects itself)", async () => {
    const adminPort = await freePort();
    const proxy = await startProxy({ userFunctionPort: counter.port, store: "memory", extraArgs: ["--admin-port", String(adminPort)] });
    try {
      await post(proxy.port, "/counters/m2/increase", { value: 2 });
      await post(proxy.port, "/counters/m1/increase", { value: 1 });
      const list = await fetch(`http://127.0.0.1:${adminPort}/v1/entities/${COUNTER}`);
      assert.equal(list.status, 200);
      assert.deepEqual(JSON.parse(await list.text()).entities, ["m1", "m2"]);
      const state = await inspect(COUNTER, "m2", "--admin-address", `127.0.0.1:${adminPort}`);
      assert.equal(state.stdout, '{"value":"2"}\n', state.stderr);
    } finally {
      await proxy.stop();
    }
  });

  it("refuses a non-loopback admin address without a token, with a one-line reason", async () => {
    for (const setting of [{ extraArgs: ["--admin-bind", "0.0.0.0"] }, { env: { ADMIN_BIND: "0.0.0.0" } }]) {
      const run = spawnSync(process.execPath, [SWITCHBOARD_BIN, "start", "--store", "memory", "--admin-port", "1", ...(setting.extraArgs ?? [])], {
        encoding: "utf8",
        env: { ...process.env, ADMIN_TOKEN: "", ...setting.env },
        timeout: 10_000,
      });
      assert.equal(run.status, 2);
      assert.match(run.stderr, /^switchboard: refusing to serve the admin port on 0\.0\.0\.0 without a token: set --admin-token \(or ADMIN_TOKEN\)/);
      assert.equal(run.stderr.split("\n")[0]?.length, run.stderr.indexOf("\n"));
      assert.equal(run.stdout, "");
    }
  });

  it("is off with --admin-port 0 (the flag wins over ADMIN_PORT)", async () => {
    const adminPort = await freePort();
    const proxy = await startProxy({ userFunctionPort: counter.port, extraArgs: ["--admin-port", "0"], env: { ADMIN_PORT: String(adminPort) } });
    try {
      await assert.rejects(fetch(`http://127.0.0.1:${adminPort}/metrics`));
      assert.doesNotMatch(proxy.stderr(), /admin port bound/);
    } finally {
      await proxy.stop();
    }
    const onByEnv = await startProxy({ userFunctionPort: counter.port, env: { ADMIN_PORT: String(adminPort) } });
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).status === 200, 5000, "admin port from ADMIN_PORT");
    } finally {
      await onByEnv.stop();
    }
  });
});

describe("the admin port with the shopping-cart example (event sourced)", () => {
  let cart: ExampleProcess;
  let proxy: ProxyProcess;
  let dir: string;
  let adminPort: number;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-admin-cart-"));
    cart = await startExample("shopping-cart");
    adminPort = await freePort();
    proxy = await startProxy({ userFunctionPort: cart.port, store: `sqlite:${path.join(dir, "state.db")}`, extraArgs: ["--admin-port", String(adminPort)] });
    await post(proxy.port, "/cart/ann/items/add", { productId: "p1", name: "Socks", quantity: 2 });
    await post(proxy.port, "/cart/ann/items/add", { productId: "p2", name: "Hat", quantity: 1 });
  });
  after(async () => {
    await proxy?.stop();
    await cart?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("shows the sequence number and the journal, decoded, with timestamps", async () => {
    const read = async (route: string) => JSON.parse(await (await fetch(`http://127.0.0.1:${adminPort}${route}`)).text());
    const list = await read(`/v1/entities/${CART}`);
    assert.deepEqual(list.entities, ["ann"]);
    const entity = await read(`/v1/entities/${CART}/ann`);
    assert.equal(entity.kind, "event-sourced");
    assert.equal(entity.sequenceNumber, 2);
    const started = Date.now();
    const events = await read(`/v1/entities/${CART}/ann/events?from=2&limit=5`);
    assert.equal(events.events.length, 1);
    const [second] = events.events;
    assert.equal(second.seq, 2);
    assert.deepEqual(second.event, { type: "com.example.shoppingcart.persistence.ItemAdded", value: { item: { productId: "p2", name: "Hat", quantity: 1 } } });
    assert.ok(Math.abs(Date.parse(second.writtenAt) - started) < 60_000, second.writtenAt);
    const lines = await inspect(CART, "ann", "--events", "--admin-address", `127.0.0.1:${adminPort}`);
    assert.equal(lines.status, 0, lines.stderr);
    const parsed = lines.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      parsed.map((e) => [e.seq, e.type, e.event.item.productId]),
      [
        [1, "com.example.shoppingcart.persistence.ItemAdded", "p1"],
        [2, "com.example.shoppingcart.persistence.ItemAdded", "p2"],
      ],
    );
    const state = await inspect(CART, "ann", "--admin-address", `127.0.0.1:${adminPort}`);
    assert.equal(JSON.parse(state.stdout).sequenceNumber, 2);
  });
});
