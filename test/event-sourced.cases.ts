import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { EventSourcedStreamIn } from "@switchboard/protocol";
import { eventsourced } from "@switchboard/protocol/tck";
import { createTestClient, eventually, type TestClient } from "./support/grpc-client.js";
import { ES_TRIGGERS } from "./support/model-event-sourced.js";
import { type ModelUserFunction, startModelUserFunction } from "./support/model-user-function.js";
import { type ProxyProcess, startProxy } from "./support/proxy-process.js";

const PROCESS = "/cloudstate.tck.model.EventSourcedTckModel/Process";
const { RequestSchema, ResponseSchema, PersistedSchema } = eventsourced;
type Action = NonNullable<MessageInitShape<typeof eventsourced.RequestActionSchema>["action"]>;
const emit = (value: string): Action => ({ case: "emit", value: { value } });
const fail = (message: string): Action => ({ case: "fail", value: { message } });

function describeMessage(m: EventSourcedStreamIn): string {
  const msg = m.message;
  if (msg.case === "init") return `init(${msg.value.entityId}${msg.value.snapshot ? `, snapshot ${msg.value.snapshot.snapshotSequence}` : ""})`;
  if (msg.case === "event") return `event(${msg.value.sequence})`;
  if (msg.case === "command") return `command(${msg.value.id})`;
  return "?";
}

/** Where the proxy under test keeps its state. */
export interface StoreUnderTest {
  readonly name: string;
  /** A fresh `--store` value. */
  make(): Promise<string>;
  /** Whether state survives a proxy restart (not for `memory`). */
  readonly durable: boolean;
  cleanup(): Promise<void>;
}

/** The event-sourced end-to-end cases, run against one store. */
export function eventSourcedCases(storeUnderTest: StoreUnderTest): void {
  describe(`event-sourced entities through the proxy (${storeUnderTest.name} store)`, () => {
    let uf: ModelUserFunction;
    let proxy: ProxyProcess;
    let client: TestClient;
    let store: string;
    let n = 0;
    const nextId = () => `entity-${++n}`;
    const call = (id: string, actions: Action[]) =>
      client.unary(PROCESS, RequestSchema, ResponseSchema, { id, actions: actions.map((action) => ({ action })) });
    const streamsOf = (id: string, service = "EventSourcedTckModel") =>
      uf.esStreams.filter(
        (s) =>
          s.messages[0]?.message.case === "init" && s.messages[0].message.value.entityId === id && s.messages[0].message.value.serviceName.endsWith(service),
      );
    const startProxyHere = async () => {
      proxy = await startProxy({ userFunctionPort: uf.port, store });
      client = createTestClient(proxy.port);
    };

    before(async () => {
      store = await storeUnderTest.make();
      uf = await startModelUserFunction();
      await startProxyHere();
    });
    after(async () => {
      client.close();
      await proxy.stop();
      await uf.close();
      await storeUnderTest.cleanup();
    });

    it("activates with init (no snapshot), numbers commands, persists events and snapshots", async () => {
      const id = nextId();
      assert.equal((await call(id, [])).messages[0]?.message, "");
      assert.equal((await call(id, [emit("A")])).messages[0]?.message, "A");
      assert.equal((await call(id, [emit("B"), emit("C")])).messages[0]?.message, "ABC");
      assert.equal((await call(id, [emit("D"), emit("E")])).messages[0]?.message, "ABCDE");
      const [stream] = streamsOf(id);
      assert.deepEqual(stream?.messages.map(describeMessage), [`init(${id})`, "command(1)", "command(2)", "command(3)", "command(4)"]);
    });

    // Only durable stores outlive the proxy; the memory store is not asked to.
    if (storeUnderTest.durable)
      it("replays the latest snapshot and later events after a kill -9 and restart of the proxy", async () => {
        const id = nextId();
        await call(id, [emit("A"), emit("B"), emit("C"), emit("D"), emit("E")]); // snapshot at 5
        await call(id, [emit("F"), emit("G")]);
        await proxy.kill(); // kill -9: acknowledged events must be on disk
        client.close();
        await startProxyHere();
        assert.equal((await call(id, [])).messages[0]?.message, "ABCDEFG");
        const streams = streamsOf(id);
        assert.equal(streams.length, 2);
        assert.deepEqual(streams[1]?.messages.map(describeMessage), [`init(${id}, snapshot 5)`, "event(6)", "event(7)", "command(1)"]);
        const init = streams[1]?.messages[0]?.message;
        if (init?.case === "init" && init.value.snapshot?.snapshot) {
          assert.equal(init.value.snapshot.snapshot.typeUrl, `type.googleapis.com/${PersistedSchema.typeName}`);
        }
      });

    it("forwards to EventSourcedTwo on its own stream and runs side effects as later commands", async () => {
      const id = nextId();
      const forwarded = await call(id, [emit("A"), { case: "forward", value: { id } }]);
      assert.equal(forwarded.code, grpc.status.OK);
      assert.equal(forwarded.messages[0]?.message, "");
      await call(id, [{ case: "effect", value: { id, synchronous: false } }]);
      await eventually(() => (streamsOf(id, "EventSourcedTwo")[0]?.messages.length ?? 0) >= 3, 3000, "side effect on EventSourcedTwo");
      assert.deepEqual(streamsOf(id, "EventSourcedTwo")[0]?.messages.map(describeMessage), [`init(${id})`, "command(1)", "command(2)"]);
      assert.equal((await call(id, [])).messages[0]?.message, "A");
    });

    it("on a failure with restart, stores nothing from it and replays into a new stream before the next command", async () => {
      const id = nextId();
      await call(id, [emit("1"), emit("2"), emit("3")]);
      const failed = await call(id, [emit("4"), fail("another failure")]);
      assert.equal(failed.code, grpc.status.UNKNOWN);
      assert.equal(failed.details, "another failure");
      assert.equal((await call(id, [emit("5")])).messages[0]?.message, "1235");
      const streams = streamsOf(id);
      assert.equal(streams.length, 2);
      await eventually(() => streams[0]?.ended === true, 2000, "old stream closed");
      assert.deepEqual(streams[1]?.messages.map(describeMessage), [`init(${id})`, "event(1)", "event(2)", "event(3)", "command(1)"]);
    });

    it("without restart the stream continues and the failed command's events are not kept", async () => {
      uf.restartOnFailure = false;
      try {
        const id = nextId();
        await call(id, [emit("x")]);
        const failed = await call(id, [emit("z"), fail("emit then fail")]);
        assert.equal(failed.details, "emit then fail");
        assert.equal((await call(id, [emit("y")])).messages[0]?.message, "xy");
        assert.equal(streamsOf(id).length, 1);
      } finally {
        uf.restartOnFailure = true;
      }
    });

    it("commands queued during a restart are delivered to the new stream in order", async () => {
      const id = nextId();
      await call(id, [emit("a")]);
      const results = await Promise.all([call(id, [emit("b"), fail("nope")]), call(id, [emit("c")]), call(id, [emit("d")])]);
      assert.equal(results[0].code, grpc.status.UNKNOWN);
      assert.deepEqual(
        results.slice(1).map((r) => r.messages[0]?.message),
        ["ac", "acd"],
      );
    });

    it("passivates the configured entity within 2 s", async () => {
      const id = nextId();
      await client.unary("/cloudstate.tck.model.EventSourcedConfigured/Call", RequestSchema, ResponseSchema, { id });
      const stream = streamsOf(id, "EventSourcedConfigured")[0];
      assert.ok(stream);
      await eventually(() => stream.ended, 2000, "passivation");
    });

    for (const [name, trigger, reported] of [
      ["a snapshot without events", ES_TRIGGERS.snapshotWithoutEvents, /snapshot without events/],
      ["an event with an empty type", ES_TRIGGERS.emptyEventType, /empty type URL/],
    ] as const) {
      it(`treats ${name} as a protocol violation: only that entity stops and nothing stored is lost`, async () => {
        const id = nextId();
        const other = nextId();
        await call(id, [emit("k")]);
        await call(other, [emit("o")]);
        const bad = await call(id, [fail(trigger)]);
        assert.equal(bad.code, grpc.status.UNKNOWN);
        assert.equal(bad.details, "Unexpected entity failure");
        await eventually(() => uf.reportedErrors.some((e) => reported.test(e)), 2000, "reportError");
        assert.equal((await call(id, [])).messages[0]?.message, "k");
        assert.equal(streamsOf(other).length, 1, "the other entity kept its stream");
        assert.equal((await call(other, [])).messages[0]?.message, "o");
      });
    }

    it("fails pending calls on a top-level failure and reactivates from the journal", async () => {
      const id = nextId();
      await call(id, [emit("p")]);
      const bad = await call(id, [fail(ES_TRIGGERS.topLevelFailure)]);
      assert.equal(bad.details, "Unexpected entity failure");
      assert.equal((await call(id, [])).messages[0]?.message, "p");
    });
  });
}
