/**
 * Server-streamed calls to CRDT entities through real processes: every change relayed,
 * the stream ended by the user function, client cancellation (StreamCancelled and the
 * cancel state action), the TCK's Vote connection-tracking scenario, side effects.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createTestClient, eventually, type TestClient } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { act, openStream, processCall, sleep, stateOf } from "./support/crdt-client.js";
import { CRDT_SERVICES, type CrdtUserFunction, type RecordedCrdtStream, startCrdtUserFunction } from "./support/crdt-user-function.js";

const incoming = (stream: RecordedCrdtStream | undefined) => (stream?.messages ?? []).map((m) => m.message);
const cancelledIds = (stream: RecordedCrdtStream | undefined) => incoming(stream).flatMap((m) => (m.case === "streamCancelled" ? [m.value.id] : []));

describe("CRDT streamed calls through the proxy", () => {
  let uf: CrdtUserFunction;
  let proxy: ProxyProcess;
  let client: TestClient;
  let n = 0;
  const nextId = (type: string) => `${type}-${++n}`;
  const change = (c: bigint) => act.update({ case: "pncounter", value: { change: c } });
  const ok = async (id: string, actions: Parameters<typeof processCall>[2]) => {
    const result = await processCall(client, id, actions);
    assert.equal(result.code, grpc.status.OK, result.details);
    return stateOf(result.messages[0]);
  };

  before(async () => {
    uf = await startCrdtUserFunction();
    // A short passivation timeout shows that open streamed calls keep their entity alive.
    proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--passivation-timeout", "300"] });
    client = createTestClient(proxy.port);
  });
  after(async () => {
    client.close();
    if (process.env.CRDT_DEBUG) process.stderr.write(proxy.stderr());
    await proxy.stop();
    await uf.close();
  });

  it("relays the reply and then every change, with Command.streamed set", async () => {
    const id = nextId("PNCounter");
    const stream = openStream(client, { id });
    assert.equal(stateOf(await stream.message(0)), 0n);
    await ok(id, [change(5n)]);
    assert.equal(stateOf(await stream.message(1)), 5n);
    await ok(id, [change(-2n)]);
    assert.equal(stateOf(await stream.message(2)), 3n);
    const commands = incoming(uf.streamsOf(id)[0]).flatMap((m) => (m.case === "command" ? [[m.value.id, m.value.name, m.value.streamed]] : []));
    assert.deepEqual(commands, [
      [1n, "ProcessStreamed", true],
      [2n, "Process", false],
      [3n, "Process", false],
    ]);
    stream.cancel();
    await eventually(() => cancelledIds(uf.streamsOf(id)[0]).length === 1, 2000, "StreamCancelled");
  });

  it("ends the client's stream when the user function ends it, without a StreamCancelled", async () => {
    const id = nextId("PNCounter");
    const stream = openStream(client, { id, endState: { value: { case: "pncounter", value: { value: 3n } } } });
    await stream.message(0);
    await ok(id, [change(1n)]);
    await ok(id, [change(2n)]);
    const status = await stream.status;
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(stream.messages.map(stateOf), [0n, 1n, 3n]);
    await ok(id, [change(4n)]);
    await sleep(100);
    assert.equal(stream.messages.length, 3, "nothing after end_stream");
    assert.deepEqual(cancelledIds(uf.streamsOf(id)[0]), []);
  });

  it("sends StreamCancelled on a client cancel and applies the cancel update durably", async () => {
    const id = nextId("PNCounter");
    const stream = openStream(client, { id, cancelUpdate: { update: { case: "pncounter", value: { change: -42n } } } });
    await stream.message(0);
    stream.cancel();
    assert.equal((await stream.status).code, grpc.status.CANCELLED);
    await eventually(() => cancelledIds(uf.streamsOf(id)[0]).length === 1, 2000, "StreamCancelled");
    const cancelled = incoming(uf.streamsOf(id)[0]).find((m) => m.case === "streamCancelled");
    assert.equal(cancelled?.case === "streamCancelled" && cancelled.value.entityId, id);
    assert.equal(cancelled?.case === "streamCancelled" && cancelled.value.id, 1n);
    await eventually(async () => (await ok(id, [])) === -42n, 2000, "cancel update applied");
  });

  it("handles an empty streamed call: nothing for the client, a cancel still goes through", async () => {
    const id = nextId("PNCounter");
    const stream = openStream(client, {
      id,
      empty: true,
      initialUpdate: { update: { case: "pncounter", value: { change: 7n } } },
      cancelUpdate: { update: { case: "pncounter", value: { change: -7n } } },
    });
    await eventually(() => uf.streamsOf(id)[0]?.sent.some((m) => m.message.case === "reply") === true, 2000, "reply");
    assert.equal(await ok(id, []), 7n, "the initial update of the streamed call was applied");
    await sleep(50);
    assert.equal(stream.messages.length, 0);
    stream.cancel();
    await eventually(async () => (await ok(id, [])) === 0n, 2000, "cancel update applied");
    assert.deepEqual(cancelledIds(uf.streamsOf(id)[0]), [1n]);
  });

  it("tracks connections with a Vote, as the TCK proxy test does", async () => {
    const id = nextId("Vote");
    const vote = (selfVote: boolean) => ({ update: { case: "vote" as const, value: { selfVote } } });
    const monitor = openStream(client, { id });
    assert.deepEqual(stateOf(await monitor.message(0)), [false, 0, 1]);
    const connect = openStream(client, { id, empty: true, initialUpdate: vote(true), cancelUpdate: vote(false) });
    assert.deepEqual(stateOf(await monitor.message(1)), [true, 1, 1]);
    const [stream] = uf.streamsOf(id);
    const reply = stream?.sent.find((m) => m.message.case === "reply" && m.message.value.commandId === 2n)?.message;
    assert.equal(reply?.case === "reply" && reply.value.streamed, true);
    assert.equal(reply?.case === "reply" && reply.value.clientAction, undefined);
    connect.cancel();
    assert.deepEqual(stateOf(await monitor.message(2)), [false, 0, 1]);
    assert.equal(connect.messages.length, 0, "the connect client received nothing");
    assert.deepEqual(cancelledIds(stream), [2n]);
    monitor.cancel();
    await eventually(() => cancelledIds(stream).length === 2, 2000, "StreamCancelled(1)");
    assert.deepEqual(cancelledIds(stream), [2n, 1n]);
    await ok(id, [act.delete()]);
    await eventually(() => stream?.ended === true, 2000, "delete closes the stream");
  });

  it("runs the side effects of every streamed message and of the cancel response", async () => {
    const id = nextId("PNCounter");
    const effect = nextId("GSet");
    const stream = openStream(client, { id, effects: [{ id: effect, synchronous: false }] });
    await stream.message(0);
    await ok(id, [change(1n)]);
    await stream.message(1);
    await eventually(() => (uf.streamsOf(effect, CRDT_SERVICES.two)[0]?.messages.length ?? 0) >= 2, 2000, "side effect of the streamed message");
    stream.cancel();
    await eventually(() => (uf.streamsOf(effect, CRDT_SERVICES.two)[0]?.messages.length ?? 0) >= 3, 2000, "side effect of the cancel response");
  });

  it("never passivates an entity while a streamed call is open", async () => {
    const id = nextId("Flag");
    const stream = openStream(client, { id });
    await stream.message(0);
    await sleep(900);
    assert.equal(uf.streamsOf(id)[0]?.ended, false, "still active after three passivation timeouts");
    stream.cancel();
    await eventually(() => uf.streamsOf(id)[0]?.ended === true, 3000, "passivated once the call is over");
    assert.equal(await ok(id, []), false);
    assert.equal(uf.streamsOf(id).length, 2);
  });

  it("ends open streamed calls when their entity is deleted", async () => {
    const id = nextId("GCounter");
    const watcher = openStream(client, { id });
    await watcher.message(0);
    await ok(id, [act.update({ case: "gcounter", value: { increment: 2n } })]);
    await watcher.message(1);
    await ok(id, [act.delete()]);
    const status = await watcher.status;
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(cancelledIds(uf.streamsOf(id)[0]), []);
  });
});
