import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { type ValueEntityStreamIn, type ValueEntityStreamOut, ValueEntityStreamOutSchema } from "@switchboard/protocol";
import { singleNodeReplicas } from "../../cluster/single-node.js";
import type { EntityServiceModel, MethodModel } from "../../descriptors/service-model.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import { createFakeClock } from "../../internal/clock.js";
import { createLogger, type Logger, silentLogger } from "../../observability/logger.js";
import { createMemoryStore } from "../../store/memory/memory-store.js";
import type { Store } from "../../store/types.js";
import type { EntityRuntime } from "../shared/types.js";
import { valueEntityKind } from "../value/index.js";
import { type ActiveEntities, createActiveEntities } from "./active-entities.js";
import { type ScriptedStream, scriptedClient } from "./scripted-client.fixture.js";

const service = { name: "test.Cart", kind: "value-entity", persistenceId: "carts", passivationTimeoutMs: undefined } as unknown as EntityServiceModel;
const method = { name: "Add", service } as unknown as MethodModel;
const payload = create(AnySchema, { typeUrl: "type.googleapis.com/test.Add" });
type Stream = ScriptedStream<ValueEntityStreamIn, ValueEntityStreamOut>;

function setup(options: { store?: Store; activeEntities?: ActiveEntities; logger?: Logger; stopping?: AbortSignal } = {}) {
  const clock = createFakeClock();
  const streams: Stream[] = [];
  const reported: string[] = [];
  const runtime = (valueEntityKind.createRuntime as NonNullable<typeof valueEntityKind.createRuntime>)({
    service,
    client: scriptedClient(streams),
    store: options.store ?? createMemoryStore(),
    logger: options.logger ?? silentLogger,
    clock,
    passivationTimeoutMs: 30_000,
    relayTimeoutMs: 60_000,
    activeEntities: options.activeEntities ?? createActiveEntities(),
    replicas: singleNodeReplicas(),
    effects: { runDetached: async () => {} },
    reportError: (m) => reported.push(m),
    ...(options.stopping === undefined ? {} : { stopping: options.stopping }),
  });
  return { clock, streams, reported, runtime };
}

const reply = (commandId: bigint, update?: string): ValueEntityStreamOut =>
  create(ValueEntityStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId,
        ...(update === undefined
          ? {}
          : { stateAction: { action: { case: "update", value: { value: { typeUrl: "type.googleapis.com/S", value: Buffer.from(update) } } } } }),
      },
    },
  });

/** Waits until `check` holds, yielding to the event loop meanwhile. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(check(), "condition not reached");
}

const command = (entityId: string, extra: Partial<Parameters<EntityRuntime["handle"]>[0]> = {}) => ({ method, entityId, payload, ...extra });

describe("entity session (fake clock)", () => {
  it("passivates an idle entity when the clock passes the passivation timeout, not before", async () => {
    const { clock, streams, runtime } = setup();
    const answer = runtime.handle(command("e1"));
    await until(() => streams[0]?.received.length === 2);
    streams[0]?.reply(reply(1n));
    await answer;
    clock.advance(29_999);
    assert.equal(runtime.activeCount, 1);
    assert.equal(streams[0]?.ended, false);
    clock.advance(1);
    await until(() => streams[0]?.ended === true);
    assert.equal(runtime.activeCount, 0);
  });

  it("stops the entity at the relay timeout: the command fails with DEADLINE_EXCEEDED and the stream is cancelled", async () => {
    const { clock, streams, runtime } = setup();
    const answer = runtime.handle(command("e1"));
    await until(() => streams[0]?.received.length === 2);
    clock.advance(59_999);
    assert.equal(streams[0]?.cancelled, false);
    clock.advance(1);
    await assert.rejects(answer, (e: unknown) => e instanceof SwitchboardError && e.code === Code.DeadlineExceeded && /within 60000 ms/.test(e.rawMessage));
    assert.equal(streams[0]?.cancelled, true);
  });

  it("a client deadline shorter than the relay timeout frees the entity at that deadline; the command queued behind it runs on a fresh activation", async () => {
    const { clock, streams, runtime } = setup();
    const answer = runtime.handle(command("e1", { deadline: Date.now() + 2_000 }));
    const queued = runtime.handle(command("e1"));
    await until(() => streams[0]?.received.length === 2);
    clock.advance(2_000);
    await assert.rejects(answer, (e: unknown) => e instanceof SwitchboardError && e.code === Code.DeadlineExceeded);
    assert.equal(streams[0]?.cancelled, true);
    await until(() => streams[1]?.received.length === 2);
    assert.equal(streams[1]?.received[0]?.message.case, "init");
    assert.equal(streams[1]?.received[1]?.message.case === "command" && streams[1].received[1].message.value.id, 1n);
    streams[1]?.reply(reply(1n));
    await queued;
  });

  it("drops a command whose deadline passed while it waited, before it reaches the user function", async () => {
    const { streams, runtime } = setup();
    const first = runtime.handle(command("e1"));
    const expired = runtime.handle(command("e1", { deadline: Date.now() + 5 }));
    await until(() => streams[0]?.received.length === 2);
    await new Promise((r) => setTimeout(r, 10));
    streams[0]?.reply(reply(1n));
    await first;
    await assert.rejects(expired, (e: unknown) => e instanceof SwitchboardError && e.code === Code.DeadlineExceeded);
    assert.equal(streams[0]?.received.length, 2, "the expired command was never sent");
  });

  it("passivates the least recently used idle entity when over the active-entity cap", async () => {
    const activeEntities = createActiveEntities(2);
    const { streams, runtime } = setup({ activeEntities });
    for (const [i, id] of ["a", "b"].entries()) {
      const answer = runtime.handle(command(id));
      await until(() => streams[i]?.received.length === 2);
      streams[i]?.reply(reply(1n));
      await answer;
    }
    // Touch "a" again so "b" is the least recently used.
    const again = runtime.handle(command("a"));
    await until(() => streams[0]?.received.length === 3);
    streams[0]?.reply(reply(2n));
    await again;
    const third = runtime.handle(command("c"));
    await until(() => streams[2]?.received.length === 2);
    await until(() => streams[1]?.ended === true);
    assert.equal(streams[0]?.ended, false, "the recently used entity stays active");
    streams[2]?.reply(reply(1n));
    await third;
    assert.equal(runtime.activeCount, 2);
    assert.equal(activeEntities.count, 2);
  });

  it("answers a command whose write started by that write's outcome, even when the stream ends meanwhile", async () => {
    const inner = createMemoryStore();
    let release: () => void = () => {};
    const store: Store = {
      ...inner,
      getValue: (p, e) => inner.getValue(p, e),
      writeValue: (write) => new Promise<void>((resolve, reject) => (release = () => void inner.writeValue(write).then(resolve, reject))),
    };
    const { streams, runtime } = setup({ store });
    const answer = runtime.handle(command("e1"));
    await until(() => streams[0]?.received.length === 2);
    streams[0]?.reply(reply(1n, "x"));
    await new Promise((r) => setImmediate(r));
    streams[0]?.finish(new SwitchboardError("connection lost", Code.Unavailable));
    await new Promise((r) => setImmediate(r));
    release();
    const outcome = await answer;
    assert.equal(outcome.clientAction, undefined);
    assert.deepEqual(Buffer.from((await inner.getValue("carts", "e1"))?.value ?? []).toString(), "x");
  });

  it("warns when the user function ends an entity's stream, but not once the proxy is stopping (one Ctrl-C stops both)", async () => {
    for (const stopping of [false, true]) {
      const lines: string[] = [];
      const logger = createLogger({ level: "debug", write: (line) => lines.push(line) });
      const stop = new AbortController();
      const { streams, runtime } = setup({ logger, stopping: stop.signal });
      const answer = runtime.handle(command("e1"));
      await until(() => streams[0]?.received.length === 2);
      streams[0]?.reply(reply(1n));
      await answer;
      if (stopping) stop.abort();
      streams[0]?.finish(new SwitchboardError("the stream ended without a status (reset code 8)", Code.Unavailable));
      await until(() => runtime.activeCount === 0);
      const warned = lines.some((line) => / WARN .*entity stream ended unexpectedly/.test(line));
      const told = lines.some((line) => / INFO .*entity stream ended while the proxy stops/.test(line));
      assert.deepEqual({ warned, told }, stopping ? { warned: false, told: true } : { warned: true, told: false }, lines.join(""));
    }
  });
});
