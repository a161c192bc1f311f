/**
 * The CRDT runtime in process, against a scripted user function and a memory store:
 * the timing rules (answers after durable writes), store failures, and the corners of
 * cancellation that are awkward to provoke through real processes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { type CrdtStreamIn, type CrdtStreamOut, CrdtStreamOutSchema } from "@switchboard/protocol";
import type { EntityServiceModel, MethodModel } from "../../descriptors/service-model.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import { silentLogger } from "../../observability/logger.js";
import { createMemoryStore } from "../../store/memory/memory-store.js";
import type { Store } from "../../store/types.js";
import type { ClientStream, StreamHandlers, UserFunctionClient } from "../../user-function/client.js";
import type { EntityCommand, EntityOutcome, EntityRuntime } from "../shared/types.js";
import { singleNodeReplicas } from "../../cluster/single-node.js";
import { systemClock } from "../../internal/clock.js";
import { createActiveEntities } from "../session/active-entities.js";
import type { EffectRunner, EntityRuntimeContext } from "../shared/types.js";
import { crdtKind } from "./index.js";

function createCrdtEntityRuntime(
  context: Omit<EntityRuntimeContext, "clock" | "activeEntities" | "replicas" | "effects">,
  effects?: EffectRunner,
): EntityRuntime {
  const create = crdtKind.createRuntime;
  if (create === undefined) throw new Error("CRDT runtime not built");
  return create({
    ...context,
    clock: systemClock,
    activeEntities: createActiveEntities(),
    replicas: singleNodeReplicas(),
    effects: effects ?? { runDetached: async () => {} },
  });
}

type Out = NonNullable<MessageInitShape<typeof CrdtStreamOutSchema>["message"]>;

/** One entity stream as the scripted user function sees it. */
class Peer {
  readonly received: CrdtStreamIn[] = [];
  ended = false;
  cancelled = false;
  waiters: (() => void)[] = [];
  constructor(private readonly handlers: StreamHandlers<CrdtStreamOut>) {}
  send(message: Out): void {
    const out = create(CrdtStreamOutSchema, { message });
    queueMicrotask(() => this.handlers.onMessage(out));
  }
  close(): void {
    queueMicrotask(() => this.handlers.onEnd(undefined));
  }
  push(message: CrdtStreamIn): void {
    this.received.push(message);
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves once `count` messages arrived. */
  async receivedCount(count: number): Promise<void> {
    while (this.received.length < count) await new Promise<void>((r) => this.waiters.push(r));
  }
  cases(): string[] {
    return this.received.map((m) => m.message.case ?? "empty");
  }
}

function fakeClient(peers: Peer[]): UserFunctionClient {
  return {
    target: "fake",
    unary: () => Promise.reject(new Error("not used")),
    stream(_method, handlers) {
      const peer = new Peer(handlers as unknown as StreamHandlers<CrdtStreamOut>);
      peers.push(peer);
      const stream: ClientStream<CrdtStreamIn> = {
        send: (m) => peer.push(m),
        sendEncoded: () => {
          throw new Error("the CRDT runtime sends no pre-encoded messages");
        },
        end: () => {
          peer.ended = true;
          peer.close();
        },
        cancel: () => {
          peer.cancelled = true;
          queueMicrotask(() => handlers.onEnd(new SwitchboardError("call cancelled", Code.Canceled)));
        },
      };
      return stream as unknown as ClientStream<never>;
    },
    onChannelEvent: () => () => {},
    close() {},
  };
}

const service = {
  name: "test.Counter",
  kind: "crdt",
  entityType: "cloudstate.crdt.Crdt",
  persistenceId: "counters",
  passivationTimeoutMs: undefined,
} as unknown as EntityServiceModel;
const method = (name: string) => ({ name, service }) as unknown as MethodModel;
const payload = create(AnySchema, { typeUrl: "type.googleapis.com/test.Request" });
const pncounter = (change: bigint) => ({ action: { case: "update" as const, value: { delta: { case: "pncounter" as const, value: { change } } } } });

function setup(store: Store = createMemoryStore(), reported: string[] = []) {
  const peers: Peer[] = [];
  const runtime: EntityRuntime = createCrdtEntityRuntime({
    service,
    client: fakeClient(peers),
    store,
    logger: silentLogger,
    passivationTimeoutMs: 60_000,
    relayTimeoutMs: 5_000,
    reportError: (m) => reported.push(m),
  });
  return { peers, runtime, store, reported };
}

/** A store whose CRDT writes wait until released (or fail). */
function gatedStore() {
  const inner = createMemoryStore();
  const gates: { release(): void; fail(e: unknown): void }[] = [];
  const store: Store = {
    ...inner,
    putCrdt: (p, e, bytes) =>
      new Promise((resolve, reject) => {
        gates.push({ release: () => void inner.putCrdt(p, e, bytes).then(resolve, reject), fail: reject });
      }),
  };
  return { store, gates, inner };
}

/** The runtime's streamed call as an iterator (CRDT runtimes always have handleStreamed). */
function streamedCall(runtime: EntityRuntime, command: EntityCommand): AsyncIterable<EntityOutcome> {
  const handle = runtime.handleStreamed;
  if (handle === undefined) throw new Error("no handleStreamed");
  return handle.call(runtime, command);
}

const settled = async <T>(promise: Promise<T>) => {
  let state = "pending";
  promise.then(
    () => (state = "resolved"),
    () => (state = "rejected"),
  );
  await new Promise((r) => setImmediate(r));
  return state;
};

describe("CRDT runtime (in process)", () => {
  it("answers a command only once its change is durable, and relays later streamed messages after it", async () => {
    const { store, gates } = gatedStore();
    const { peers, runtime } = setup(store);
    const watch = streamedCall(runtime, { method: method("Watch"), entityId: "e1", payload })[Symbol.asyncIterator]();
    const first = watch.next();
    const peer = peers[0] as Peer;
    await peer.receivedCount(2);
    peer.send({ case: "reply", value: { commandId: 1n, streamed: true, clientAction: { action: { case: "reply", value: {} } } } });
    assert.equal((await first).done, false);
    const reply = runtime.handle({ method: method("Add"), entityId: "e1", payload });
    await peer.receivedCount(3);
    peer.send({ case: "reply", value: { commandId: 2n, clientAction: { action: { case: "reply", value: {} } }, stateAction: pncounter(5n) } });
    peer.send({ case: "streamedMessage", value: { commandId: 1n, clientAction: { action: { case: "reply", value: {} } } } });
    const streamed = watch.next();
    assert.equal(await settled(reply), "pending", "not before the write is durable");
    assert.equal(await settled(streamed), "pending", "a streamed message waits for the changes before it");
    gates[0]?.release();
    await reply;
    assert.equal((await streamed).done, false);
    await watch.return?.();
    await runtime.close();
  });

  it("fails the callers of a change the store could not write, and starts again from the store", async () => {
    const { store, gates } = gatedStore();
    const { peers, runtime } = setup(store);
    const first = runtime.handle({ method: method("Add"), entityId: "e1", payload });
    const peer = peers[0] as Peer;
    await peer.receivedCount(2);
    peer.send({ case: "reply", value: { commandId: 1n, stateAction: pncounter(5n) } });
    await new Promise((r) => setImmediate(r));
    gates[0]?.fail(new SwitchboardError("database is down", Code.Unavailable));
    await assert.rejects(first, (e: unknown) => e instanceof SwitchboardError && e.code === Code.Unavailable && /database is down/.test(e.rawMessage));
    assert.equal(peer.cancelled, true, "the entity stopped");
    assert.equal(runtime.activeCount, 0);
    const again = runtime.handle({ method: method("Get"), entityId: "e1", payload });
    const next = peers[1] as Peer;
    await next.receivedCount(2);
    const init = next.received[0]?.message;
    assert.equal(init?.case === "init" && init.value.delta, undefined, "nothing was stored");
    next.send({ case: "reply", value: { commandId: 1n } });
    await again;
    await runtime.close();
  });

  it("fails callers with DATA_LOSS when the stored state cannot be read back", async () => {
    const store = createMemoryStore();
    await store.putCrdt("counters", "e1", new Uint8Array([1, 2, 3]));
    const { runtime, peers } = setup(store);
    await assert.rejects(
      runtime.handle({ method: method("Get"), entityId: "e1", payload }),
      (e: unknown) => e instanceof SwitchboardError && e.code === Code.DataLoss,
    );
    assert.equal(peers[0]?.cancelled, true);
    assert.deepEqual(peers[0]?.cases(), [], "no init for an unreadable state");
  });

  it("sends StreamCancelled only once a call cancelled in flight is accepted, and drops its client action", async () => {
    const { peers, runtime } = setup();
    const abort = new AbortController();
    const iterator = streamedCall(runtime, { method: method("Watch"), entityId: "e1", payload, signal: abort.signal })[Symbol.asyncIterator]();
    const first = iterator.next();
    const peer = peers[0] as Peer;
    await peer.receivedCount(2);
    abort.abort();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(peer.cases(), ["init", "command"], "nothing to cancel before the user function accepted the stream");
    peer.send({
      case: "reply",
      value: { commandId: 1n, streamed: true, clientAction: { action: { case: "reply", value: {} } }, sideEffects: [{ serviceName: "a.B", commandName: "C" }] },
    });
    const outcome = (await first).value as EntityOutcome;
    assert.equal(outcome.clientAction, undefined, "the client is gone");
    assert.equal(outcome.sideEffects.length, 1, "side effects still run");
    await peer.receivedCount(3);
    assert.deepEqual(peer.cases(), ["init", "command", "streamCancelled"]);
    const last = iterator.next();
    peer.send({
      case: "streamCancelledResponse",
      value: { commandId: 1n, sideEffects: [{ serviceName: "a.B", commandName: "D" }], stateAction: pncounter(-1n) },
    });
    assert.equal(((await last).value as EntityOutcome).sideEffects[0]?.commandName, "D", "the cancel response's side effects reach the router");
    assert.equal((await iterator.next()).done, true);
    await runtime.close();
  });

  it("cancels a streamed call whose consumer stops, and hands later side effects to the runner", async () => {
    const store = createMemoryStore();
    const ran: string[] = [];
    const peers: Peer[] = [];
    const runtime = createCrdtEntityRuntime(
      {
        service,
        client: fakeClient(peers),
        store,
        logger: silentLogger,
        passivationTimeoutMs: 60_000,
        relayTimeoutMs: 5_000,
        reportError() {},
      },
      { runDetached: async (effects) => void ran.push(...effects.map((e) => e.commandName)) },
    );
    const stream = streamedCall(runtime, { method: method("Watch"), entityId: "e1", payload });
    const peer = (async () => {
      while (peers[0] === undefined) await new Promise((r) => setImmediate(r));
      const p = peers[0];
      await p.receivedCount(2);
      p.send({ case: "reply", value: { commandId: 1n, streamed: true, clientAction: { action: { case: "reply", value: {} } } } });
      return p;
    })();
    for await (const _ of stream) break;
    const p = await peer;
    await p.receivedCount(3);
    assert.equal(p.received[2]?.message.case, "streamCancelled");
    p.send({ case: "streamCancelledResponse", value: { commandId: 1n, sideEffects: [{ serviceName: "a.B", commandName: "Bye" }] } });
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(ran, ["Bye"]);
    await runtime.close();
  });

  it("treats a reply to an unknown command and an empty message as protocol violations", async () => {
    const reported: string[] = [];
    const { peers, runtime } = setup(createMemoryStore(), reported);
    const pending = runtime.handle({ method: method("Add"), entityId: "e1", payload });
    const peer = peers[0] as Peer;
    await peer.receivedCount(2);
    peer.send({ case: "reply", value: { commandId: 7n } });
    await assert.rejects(pending, (e: unknown) => e instanceof SwitchboardError && e.rawMessage === "Entity terminated");
    assert.match(reported[0] ?? "", /replied to command 7, which is not in flight/);

    const again = runtime.handle({ method: method("Add"), entityId: "e2", payload });
    const second = peers[1] as Peer;
    await second.receivedCount(2);
    second.send({ case: undefined } as unknown as Out);
    await assert.rejects(again, /Entity terminated/);
    assert.match(reported[1] ?? "", /sent an empty message/);
    await runtime.close();
  });

  it("applies a cancel response for a call it never cancelled, and reports it", async () => {
    const reported: string[] = [];
    const { peers, runtime, store } = setup(createMemoryStore(), reported);
    const first = runtime.handle({ method: method("Add"), entityId: "e1", payload });
    const peer = peers[0] as Peer;
    await peer.receivedCount(2);
    peer.send({ case: "streamCancelledResponse", value: { commandId: 9n, stateAction: pncounter(3n) } });
    peer.send({ case: "reply", value: { commandId: 1n } });
    await first;
    assert.match(reported[0] ?? "", /cancellation of command 9, which was not cancelled/);
    assert.ok((await store.getCrdt("counters", "e1")) !== undefined, "the change was stored");
    await runtime.close();
  });

  it("ends open streamed calls and the stream on close", async () => {
    const { peers, runtime } = setup();
    const iterator = streamedCall(runtime, { method: method("Watch"), entityId: "e1", payload })[Symbol.asyncIterator]();
    const first = iterator.next();
    const peer = peers[0] as Peer;
    await peer.receivedCount(2);
    peer.send({ case: "reply", value: { commandId: 1n, streamed: true } });
    await first;
    const end = iterator.next();
    await runtime.close();
    assert.equal((await end).done, true);
    assert.equal(peer.ended, true);
    assert.equal(runtime.activeCount, 0);
  });
});
