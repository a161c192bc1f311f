/**
 * End-to-end check of a published language support against Switchboard, outside the TCK
 * runner: runs the support's setup, starts its user functions with HOST/PORT, starts the
 * proxy on a SQLite store, and drives
 *   * the event-sourced TCK model, directly on the user function (discovery, snapshots on
 *     init, replay, failures) and through the proxy (gRPC and HTTP/JSON, restart recovery);
 *   * the shopping cart smoke area (../shopping-cart-smoke.ts).
 *
 *   npx tsx test/conformance/supports/node-support/check.ts            # node-support
 *   npx tsx test/conformance/supports/python-support/check.ts          # python-support
 *
 * Prints one line per check and `N passed, N failed`; exits 1 on a failure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  EntityDiscovery,
  type EntitySpec,
  type EventSourcedStreamOut,
  EventSourcedStreamInSchema,
  EventSourcedStreamOutSchema,
  type EventSourcedStreamIn,
  ProxyInfoSchema,
} from "@switchboard/protocol";
import { eventsourced } from "@switchboard/protocol/tck";
import Database from "better-sqlite3";
import { startProxy, type ProxyProcess } from "../../../support/proxy-process.js";
import { runShoppingCartSmoke } from "../shopping-cart-smoke.js";
import type { LanguageSupportHook, SupportCommand } from "../support.js";

type Results = { name: string; ok: boolean; error?: string }[];

/** Checks of this file a support is known to fail: check name → reason. */
export type KnownCheckFailures = Readonly<Record<string, string>>;
let known: KnownCheckFailures = {};

/** Runs one check. With `knownFailure`, a failure is expected (not counted) and a pass is an error. */
async function check(results: Results, name: string, body: () => Promise<void>): Promise<void> {
  const knownFailure = known[name];
  try {
    await body();
    if (knownFailure === undefined) {
      results.push({ name, ok: true });
      console.log(`  ok   ${name}`);
    } else {
      results.push({ name, ok: false, error: `passed, but is listed as a known failure (${knownFailure})` });
      console.log(`  FAIL ${name}: unexpected pass (known failure: ${knownFailure})`);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (knownFailure !== undefined) {
      console.log(`  known ${name}: ${message} (${knownFailure})`);
      return;
    }
    results.push({ name, ok: false, error: message });
    console.log(`  FAIL ${name}: ${message}`);
  }
}

function assertEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  const e = JSON.stringify(expected, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, "close");
  return port;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the user function exited (${child.exitCode ?? child.signalCode}) before listening:\n${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the user function did not listen on ${port} within ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A started user function. */
export interface UserFunction {
  readonly port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `command` with HOST=127.0.0.1 and a free PORT, and waits until the port accepts connections. */
export async function startUserFunction(command: SupportCommand): Promise<UserFunction> {
  const port = await freePort();
  const child = spawn(command.cmd, [...command.args], {
    env: { ...process.env, ...command.env, HOST: "127.0.0.1", PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = once(child, "exit");
  await waitForPort(port, child, () => out);
  return {
    port,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
      const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function codec<D extends DescMessage>(schema: D) {
  return {
    serialize: (value: MessageInitShape<D>) => Buffer.from(toBinary(schema, create(schema, value))),
    deserialize: (bytes: Buffer) => fromBinary(schema, bytes),
  };
}

function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  request: MessageInitShape<I>,
  timeoutMs = 5000,
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      codec(input).serialize,
      codec(output).deserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (error, response) => {
        if (error) reject(Object.assign(new Error(`${path}: ${grpc.status[error.code]}: ${error.details}`), { code: error.code, details: error.details }));
        else if (response) resolve(response);
        else reject(new Error(`${path}: no response`));
      },
    );
  });
}

/** Calls EntityDiscovery.discover on the user function directly. */
export async function discover(port: number): Promise<EntitySpec> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const m = EntityDiscovery.method.discover;
    return await unary(
      client,
      `/${EntityDiscovery.typeName}/${m.name}`,
      m.input,
      m.output,
      create(ProxyInfoSchema, {
        protocolMajorVersion: 0,
        protocolMinorVersion: 2,
        proxyName: "support-check",
        proxyVersion: "0",
        supportedEntityTypes: ["cloudstate.eventsourced.EventSourced"],
      }),
    );
  } finally {
    client.close();
  }
}

/** One EventSourced stream opened straight to the user function. */
function esStream(port: number) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const inCodec = codec(EventSourcedStreamInSchema);
  const outCodec = codec(EventSourcedStreamOutSchema);
  const call = client.makeBidiStreamRequest("/cloudstate.eventsourced.EventSourced/handle", inCodec.serialize, outCodec.deserialize, new grpc.Metadata(), {});
  const received: EventSourcedStreamOut[] = [];
  const waiters: ((m: EventSourcedStreamOut | Error) => void)[] = [];
  call.on("data", (m: EventSourcedStreamOut) => {
    const w = waiters.shift();
    if (w) w(m);
    else received.push(m);
  });
  call.on("error", () => {});
  call.on("status", (s: grpc.StatusObject) => {
    for (const w of waiters.splice(0)) w(new Error(`stream ended: ${grpc.status[s.code]} ${s.details}`));
  });
  return {
    send(message: MessageInitShape<typeof EventSourcedStreamInSchema>) {
      call.write(message);
    },
    next(timeoutMs = 3000): Promise<EventSourcedStreamOut> {
      const ready = received.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message from the user function within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((m) => {
          clearTimeout(timer);
          if (m instanceof Error) reject(m);
          else resolve(m);
        });
      });
    },
    close() {
      call.end();
      client.close();
    },
  };
}

const MODEL = "cloudstate.tck.model.EventSourcedTckModel";
const TWO = "cloudstate.tck.model.EventSourcedTwo";
const CONFIGURED = "cloudstate.tck.model.EventSourcedConfigured";
type Action = MessageInitShape<typeof eventsourced.RequestActionSchema>;
const emit = (value: string): Action => ({ action: { case: "emit", value: { value } } });
const forward = (id: string): Action => ({ action: { case: "forward", value: { id } } });
const effect = (id: string, synchronous = false): Action => ({ action: { case: "effect", value: { id, synchronous } } });
const failWith = (message: string): Action => ({ action: { case: "fail", value: { message } } });
const persisted = (value: string) => anyPack(eventsourced.PersistedSchema, create(eventsourced.PersistedSchema, { value }));
const command = (id: bigint, entityId: string, actions: Action[], name = "Process"): EventSourcedStreamIn =>
  create(EventSourcedStreamInSchema, {
    message: {
      case: "command",
      value: { entityId, id, name, payload: anyPack(eventsourced.RequestSchema, create(eventsourced.RequestSchema, { id: entityId, actions })) },
    },
  });

function replyOf(out: EventSourcedStreamOut) {
  if (out.message.case !== "reply") throw new Error(`expected a reply, got ${out.message.case ?? "nothing"}`);
  return out.message.value;
}

const responseText = (out: EventSourcedStreamOut) => {
  const reply = replyOf(out);
  const action = reply.clientAction?.action;
  if (action?.case !== "reply" || !action.value.payload) throw new Error(`expected a client reply, got ${action?.case ?? "none"}`);
  return anyUnpack(action.value.payload, eventsourced.ResponseSchema)?.message;
};
const eventValues = (out: EventSourcedStreamOut) => replyOf(out).events.map((e) => anyUnpack(e, eventsourced.PersistedSchema)?.value);
const snapshotValue = (out: EventSourcedStreamOut) => {
  const s = replyOf(out).snapshot;
  return s ? anyUnpack(s, eventsourced.PersistedSchema)?.value : undefined;
};

/** The event-sourced TCK model driven directly on the user function ("model" side). */
export async function checkEsModelDirect(results: Results, port: number, tag: string): Promise<void> {
  let n = 0;
  const id = () => `entity-${tag}-direct-${++n}`;
  await check(results, "model: discovery (persistence ids)", async () => {
    const spec = await discover(port);
    const byName = new Map(spec.entities.map((e) => [e.serviceName, e]));
    assertEqual(byName.get(MODEL)?.persistenceId, "event-sourced-tck-model", "TckModel persistence id");
    assertEqual(byName.get(MODEL)?.entityType, "cloudstate.eventsourced.EventSourced", "TckModel entity type");
    if (!byName.has(TWO)) throw new Error("EventSourcedTwo not declared");
    if (byName.has(CONFIGURED)) {
      assertEqual(byName.get(CONFIGURED)?.persistenceId, "event-sourced-configured", "Configured persistence id");
    }
  });
  await check(results, "model: configured entity passivation strategy", async () => {
    const spec = await discover(port);
    const configured = spec.entities.find((e) => e.serviceName === CONFIGURED);
    if (!configured) throw new Error("EventSourcedConfigured not declared");
    const strategy = configured.passivationStrategy?.strategy;
    if (strategy?.case !== "timeout" || strategy.value.timeout !== 100n) throw new Error(`no 100 ms passivation timeout (got ${strategy?.case ?? "none"})`);
  });
  await check(results, "model: emitted events and snapshots every 5", async () => {
    const entity = id();
    const s = esStream(port);
    try {
      s.send({ message: { case: "init", value: { serviceName: MODEL, entityId: entity } } });
      s.send(command(1n, entity, []));
      assertEqual(responseText(await s.next()), "", "initial state");
      s.send(command(2n, entity, [emit("A")]));
      let r = await s.next();
      assertEqual([responseText(r), eventValues(r), snapshotValue(r)], ["A", ["A"], undefined], "emit A");
      s.send(command(3n, entity, [emit("B"), emit("C"), emit("D")]));
      r = await s.next();
      assertEqual([responseText(r), eventValues(r), snapshotValue(r)], ["ABCD", ["B", "C", "D"], undefined], "emit B,C,D");
      s.send(command(4n, entity, [emit("E"), emit("F")]));
      r = await s.next();
      assertEqual([responseText(r), eventValues(r), snapshotValue(r)], ["ABCDEF", ["E", "F"], "ABCDEF"], "emit E,F (crosses 5)");
      s.send(command(5n, entity, [emit("G"), emit("H"), emit("I"), emit("J")]));
      r = await s.next();
      assertEqual([responseText(r), snapshotValue(r)], ["ABCDEFGHIJ", "ABCDEFGHIJ"], "emit G..J (reaches 10)");
    } finally {
      s.close();
    }
  });
  await check(results, "model: initial snapshot and events", async () => {
    const entity = id();
    const s = esStream(port);
    try {
      s.send({ message: { case: "init", value: { serviceName: MODEL, entityId: entity, snapshot: { snapshotSequence: 5n, snapshot: persisted("ABCDE") } } } });
      s.send({ message: { case: "event", value: { sequence: 6n, payload: persisted("F") } } });
      s.send({ message: { case: "event", value: { sequence: 7n, payload: persisted("G") } } });
      s.send(command(1n, entity, []));
      assertEqual(responseText(await s.next()), "ABCDEFG", "state after snapshot 5 + events 6, 7");
      // Sequence continues from 7: the 3rd event from here is number 10, which snapshots.
      s.send(command(2n, entity, [emit("H"), emit("I"), emit("J")]));
      const r = await s.next();
      assertEqual(snapshotValue(r), "ABCDEFGHIJ", "snapshot at sequence 10 after recovery");
    } finally {
      s.close();
    }
  });
  await check(results, "model: forward, side effects", async () => {
    const entity = id();
    const s = esStream(port);
    try {
      s.send({ message: { case: "init", value: { serviceName: MODEL, entityId: entity } } });
      s.send(command(1n, entity, [emit("A"), forward(entity)]));
      let reply = replyOf(await s.next());
      const fwd = reply.clientAction?.action;
      if (fwd?.case !== "forward") throw new Error(`expected a forward, got ${fwd?.case ?? "none"}`);
      assertEqual(
        [fwd.value.serviceName, fwd.value.commandName, fwd.value.payload?.typeUrl],
        [TWO, "Call", "type.googleapis.com/cloudstate.tck.model.Request"],
        "forward target",
      );
      assertEqual(fwd.value.payload ? anyUnpack(fwd.value.payload, eventsourced.RequestSchema)?.id : undefined, entity, "forwarded Request.id");
      assertEqual(reply.events.length, 1, "events carried by the forward reply");
      s.send(command(2n, entity, [effect("x"), effect("y", true), effect("z")]));
      reply = replyOf(await s.next());
      assertEqual(
        reply.sideEffects.map((e) => [
          e.serviceName,
          e.commandName,
          e.synchronous,
          e.payload ? anyUnpack(e.payload, eventsourced.RequestSchema)?.id : undefined,
        ]),
        [
          [TWO, "Call", false, "x"],
          [TWO, "Call", true, "y"],
          [TWO, "Call", false, "z"],
        ],
        "side effects",
      );
    } finally {
      s.close();
    }
  });
  let failureDescription: string | undefined;
  await check(results, "model: failures keep no events, no effects, and the stream", async () => {
    const entity = id();
    const s = esStream(port);
    try {
      s.send({ message: { case: "init", value: { serviceName: MODEL, entityId: entity } } });
      s.send(command(1n, entity, [emit("A"), emit("B"), emit("C")]));
      await s.next();
      s.send(command(2n, entity, [emit("4"), emit("5"), effect("e"), failWith("failure 1")]));
      const reply = replyOf(await s.next());
      const action = reply.clientAction?.action;
      if (action?.case !== "failure") throw new Error(`expected a failure, got ${action?.case ?? "none"}`);
      failureDescription = action.value.description;
      assertEqual(
        [action.value.commandId, action.value.restart, reply.events.length, reply.sideEffects.length],
        [2n, false, 0, 0],
        "failure reply (command id, restart, events, side effects)",
      );
      s.send(command(3n, entity, [emit("D")]));
      assertEqual(responseText(await s.next()), "ABCD", "state after the failure (restart not requested)");
    } finally {
      s.close();
    }
  });
  await check(results, "model: failure description", async () => {
    assertEqual(failureDescription, "failure 1", "Failure.description");
  });
}

function httpPost(port: number, path: string, body: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, method: "POST", agent: false, headers: { "content-type": "application/json" }, timeout: 5000 },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body: text }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`POST ${path}: timeout`)));
    req.end(body);
  });
}

/** The event-sourced TCK model through the proxy (client view, plus recovery after a proxy restart). */
export async function checkEsModelThroughProxy(
  results: Results,
  proxy: () => number,
  restart: () => Promise<number>,
  tag: string,
  dbPath: string,
): Promise<void> {
  let n = 0;
  const id = () => `entity-${tag}-proxy-${++n}`;
  let client = new grpc.Client(`127.0.0.1:${proxy()}`, grpc.credentials.createInsecure());
  const process_ = async (entity: string, actions: Action[]) => {
    const m = eventsourced.EventSourcedTckModel.method.process;
    return (await unary(client, `/${MODEL}/Process`, m.input, m.output, { id: entity, actions })).message;
  };
  const expectFailure = async (entity: string, actions: Action[], text: string | undefined) => {
    try {
      await process_(entity, actions);
    } catch (error) {
      const e = error as { code?: number; details?: string };
      assertEqual([e.code, text === undefined ? undefined : e.details], [grpc.status.UNKNOWN, text], "gRPC failure (code, description)");
      return;
    }
    throw new Error("the failing command succeeded");
  };
  const stateful = id();
  try {
    await check(results, "proxy: state changes", async () => {
      assertEqual(await process_(stateful, []), "", "1");
      assertEqual(await process_(stateful, [emit("A")]), "A", "2");
      assertEqual(await process_(stateful, [emit("B"), emit("C"), emit("D"), emit("E")]), "ABCDE", "3");
      assertEqual(await process_(stateful, []), "ABCDE", "4");
      assertEqual(await process_(stateful, [emit("F"), emit("G"), emit("H"), emit("I"), emit("J"), emit("K")]), "ABCDEFGHIJK", "5");
      assertEqual(await process_(stateful, []), "ABCDEFGHIJK", "6");
    });
    await check(results, "proxy: snapshots and journal stored as sent", async () => {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        const key = `event-sourced-tck-model|${stateful}`;
        const snapshot = db.prepare("SELECT seq_nr, type_url, payload FROM snapshot WHERE persistence_id = ?").get(key) as
          | { seq_nr: number; type_url: string; payload: Buffer }
          | undefined;
        if (!snapshot) throw new Error(`no snapshot row for ${key}`);
        const value = fromBinary(eventsourced.PersistedSchema, snapshot.payload).value;
        assertEqual([snapshot.seq_nr, snapshot.type_url, value], [11, "type.googleapis.com/cloudstate.tck.model.Persisted", "ABCDEFGHIJK"], "latest snapshot");
        const events = db.prepare("SELECT seq_nr, payload, tag FROM event_journal WHERE persistence_id = ? ORDER BY seq_nr").all(key) as {
          seq_nr: number;
          payload: Buffer;
          tag: string;
        }[];
        assertEqual(
          events.map((e) => [e.seq_nr, fromBinary(eventsourced.PersistedSchema, e.payload).value, e.tag]),
          [..."ABCDEFGHIJK"].map((c, i) => [i + 1, c, "event-sourced-tck-model"]),
          "journal",
        );
      } finally {
        db.close();
      }
    });
    await check(results, "proxy: forwards and side effects", async () => {
      const entity = id();
      assertEqual(await process_(entity, [emit("A"), forward(entity)]), "", "forward answers with Two's reply");
      assertEqual(await process_(entity, [effect(entity), effect(entity, true)]), "A", "reply with side effects");
      const two = eventsourced.EventSourcedTwo.method.call;
      assertEqual((await unary(client, `/${TWO}/Call`, two.input, two.output, { id: entity })).message, "", "EventSourcedTwo.Call");
    });
    await check(results, "proxy: failures (UNKNOWN, the entity goes on without the failed events)", async () => {
      const entity = id();
      await expectFailure(entity, [failWith("expected failure")], undefined);
      assertEqual(await process_(entity, [emit("1"), emit("2"), emit("3")]), "123", "after the failure");
      await expectFailure(entity, [emit("4"), failWith("another failure")], undefined);
      assertEqual(await process_(entity, [emit("5")]), "1235", "failed command's events are gone");
    });
    await check(results, "proxy: failure description over gRPC", async () => {
      await expectFailure(id(), [failWith("expected failure")], "expected failure");
    });
    await check(results, "proxy: HTTP API", async () => {
      const entity = id();
      const ok = async (path: string, body: string, expected: string) => {
        const r = await httpPost(proxy(), path, body);
        assertEqual([r.status, r.type.split(";")[0], r.body], [200, "application/json", expected], `POST ${path} ${body}`);
      };
      await ok(`/tck/model/eventsourced/${entity}`, "{}", '{"message":""}');
      await ok(`/${TWO}/Call`, JSON.stringify({ id: entity }), '{"message":""}');
      await ok(`/tck/model/eventsourced/${entity}`, JSON.stringify({ actions: [{ emit: { value: "x" } }] }), '{"message":"x"}');
      const failed = await httpPost(proxy(), `/tck/model/eventsourced/${entity}`, JSON.stringify({ actions: [{ fail: { message: "expected failure" } }] }));
      assertEqual([failed.status, failed.type.split(";")[0]], [500, "text/plain"], "HTTP failure");
      await ok(`/tck/model/eventsourced/${entity}`, JSON.stringify({ actions: [{ emit: { value: "y" } }] }), '{"message":"xy"}');
    });
    await check(results, "proxy: failure description over HTTP", async () => {
      const failed = await httpPost(proxy(), `/tck/model/eventsourced/${id()}`, JSON.stringify({ actions: [{ fail: { message: "expected failure" } }] }));
      assertEqual([failed.status, failed.body], [500, "expected failure"], "HTTP failure");
    });
    await check(results, "proxy: EventSourcedConfigured.Call", async () => {
      const m = eventsourced.EventSourcedConfigured.method.call;
      assertEqual((await unary(client, `/${CONFIGURED}/Call`, m.input, m.output, { id: id() })).message, "", "Configured.Call");
    });
    await check(results, "proxy: state recovered after a proxy restart (snapshot + events)", async () => {
      client.close();
      await restart();
      client = new grpc.Client(`127.0.0.1:${proxy()}`, grpc.credentials.createInsecure());
      assertEqual(await process_(stateful, []), "ABCDEFGHIJK", "after restart");
      assertEqual(await process_(stateful, [emit("L"), emit("M"), emit("N"), emit("O")]), "ABCDEFGHIJKLMNO", "continues after restart");
    });
  } finally {
    client.close();
  }
}

/** Runs the whole check for one support; resolves to the number of failures. */
export async function checkSupport(support: LanguageSupportHook, knownCheckFailures: KnownCheckFailures = {}): Promise<number> {
  known = knownCheckFailures;
  const results: Results = [];
  const tag = Math.random().toString(16).slice(2, 8);
  const dir = mkdtempSync(join(tmpdir(), `${support.name}-check-`));
  console.log(`# ${support.displayName}`);
  let t = Date.now();
  await support.setup();
  console.log(`setup: ${Date.now() - t} ms`);
  const ufs: UserFunction[] = [];
  const proxies: ProxyProcess[] = [];
  const startAProxy = async (ufPort: number, db: string) => {
    const p = await startProxy({ userFunctionPort: ufPort, store: `sqlite:${join(dir, db)}` });
    proxies.push(p);
    return p;
  };
  try {
    if (support.tckModelCommand) {
      console.log("## event-sourced TCK model");
      t = Date.now();
      const uf = await startUserFunction(support.tckModelCommand);
      ufs.push(uf);
      console.log(`user function listening after ${Date.now() - t} ms`);
      await checkEsModelDirect(results, uf.port, tag);
      let proxy = await startAProxy(uf.port, "tck.db");
      await checkEsModelThroughProxy(
        results,
        () => proxy.port,
        async () => {
          await proxy.stop();
          proxy = await startAProxy(uf.port, "tck.db");
          return proxy.port;
        },
        tag,
        join(dir, "tck.db"),
      );
      if (results.some((r) => !r.ok))
        console.log(
          `--- proxy stderr (last 40 lines)\n${proxy.stderr().split("\n").slice(-40).join("\n")}\n--- user function output (last 40 lines)\n${uf.output().split("\n").slice(-40).join("\n")}`,
        );
      await proxy.stop();
    }
    console.log("## shopping cart smoke");
    const cartUf = await startUserFunction(support.shoppingCartCommand);
    ufs.push(cartUf);
    let cartProxy = await startAProxy(cartUf.port, "cart.db");
    const smoke = await runShoppingCartSmoke({
      proxyPort: cartProxy.port,
      restartProxy: async () => {
        await cartProxy.stop();
        cartProxy = await startAProxy(cartUf.port, "cart.db");
        return cartProxy.port;
      },
    });
    for (const c of smoke.cases) {
      await check(results, `smoke: ${c.name}`, async () => {
        if (!c.passed) throw new Error(c.error ?? "failed");
      });
    }
    if (smoke.failed > 0)
      console.log(
        `--- proxy stderr (last 30 lines)\n${cartProxy.stderr().split("\n").slice(-30).join("\n")}\n--- user function output (last 30 lines)\n${cartUf.output().split("\n").slice(-30).join("\n")}`,
      );
  } finally {
    for (const p of proxies) await p.stop();
    for (const uf of ufs) await uf.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { nodeSupport } = await import("./index.js");
  const known = { "model: configured entity passivation strategy": "cloudstate 0.0.3 sends no passivation strategy" };
  process.exitCode = (await checkSupport(nodeSupport, known)) > 0 ? 1 : 0;
}
