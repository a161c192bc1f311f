/**
 * CRDT entities through real processes: the proxy CLI in front of a raw-protocol CRDT
 * user function (the TCK CRDT model). State changes of every type, init, forwards and
 * side effects, concurrent commands, delete, failures and protocol violations.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { CrdtClock } from "@switchboard/protocol";
import { crdt as tck } from "@switchboard/protocol/tck";
import { createTestClient, eventually, type TestClient } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { act, CONFIGURED_CALL, processCall, stateOf, TWO_CALL } from "./support/crdt-client.js";
import {
  CRDT_SERVICES,
  CRDT_TRIGGERS,
  type CrdtUserFunction,
  packString,
  type RecordedCrdtStream,
  startCrdtUserFunction,
} from "./support/crdt-user-function.js";

const commandsOf = (stream: RecordedCrdtStream | undefined) => (stream?.messages ?? []).flatMap((m) => (m.message.case === "command" ? [m.message.value] : []));
const repliesOf = (stream: RecordedCrdtStream | undefined) => (stream?.sent ?? []).flatMap((m) => (m.message.case === "reply" ? [m.message.value] : []));

describe("CRDT entities through the proxy", () => {
  let uf: CrdtUserFunction;
  let proxy: ProxyProcess;
  let client: TestClient;
  let n = 0;
  const nextId = (type: string) => `${type}-${++n}`;
  const call = (id: string, actions: Parameters<typeof processCall>[2]) => processCall(client, id, actions);
  const ok = async (id: string, actions: Parameters<typeof processCall>[2]) => {
    const result = await call(id, actions);
    assert.equal(result.code, grpc.status.OK, result.details);
    return stateOf(result.messages[0]);
  };

  before(async () => {
    uf = await startCrdtUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
    client = createTestClient(proxy.port);
  });
  after(async () => {
    client.close();
    if (process.env.CRDT_DEBUG) process.stderr.write(proxy.stderr());
    await proxy.stop();
    await uf.close();
  });

  it("advertises the CRDT entity type and discovers the model once", () => {
    assert.equal(uf.discoverCalls.length, 1);
    assert.ok(uf.discoverCalls[0]?.supportedEntityTypes.includes("cloudstate.crdt.Crdt"));
    assert.match(proxy.readyLine, /cloudstate\.tck\.model\.crdt\.CrdtTckModel/);
  });

  it("starts every type empty, with an init that carries no delta", async () => {
    const empty: Record<string, unknown> = {
      GCounter: 0n,
      PNCounter: 0n,
      GSet: [],
      ORSet: [],
      LWWRegister: "",
      Flag: false,
      ORMap: {},
      Vote: [false, 0, 1],
    };
    for (const [type, value] of Object.entries(empty)) {
      const id = nextId(type);
      assert.deepEqual(await ok(id, []), value, type);
      const [stream, ...others] = uf.streamsOf(id);
      assert.equal(others.length, 0);
      const init = stream?.messages[0]?.message;
      assert.equal(init?.case, "init");
      if (init?.case === "init") {
        assert.equal(init.value.serviceName, CRDT_SERVICES.model);
        assert.equal(init.value.entityId, id);
        assert.equal(init.value.delta, undefined, `${type}: no state, no delta`);
      }
      const [command] = commandsOf(stream);
      assert.equal(command?.id, 1n);
      assert.equal(command?.name, "Process");
      assert.equal(command?.streamed, false);
      assert.equal(command?.metadata, undefined, "CRDT commands carry no metadata");
      assert.equal(command?.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.crdt.Request");
    }
  });

  it("changes the state of every type, numbering commands 1, 2, 3 on one stream and sending no delta back", async () => {
    const g = nextId("GCounter");
    assert.equal(
      await ok(g, [
        act.update({ case: "gcounter", value: { increment: 1n } }),
        act.update({ case: "gcounter", value: { increment: 2n } }),
        act.update({ case: "gcounter", value: { increment: 3n } }),
      ]),
      6n,
    );
    assert.equal(await ok(g, [act.update({ case: "gcounter", value: { increment: 4n } })]), 10n);

    const p = nextId("PNCounter");
    const change = (c: bigint) => act.update({ case: "pncounter", value: { change: c } });
    assert.equal(await ok(p, [change(1n), change(-2n), change(3n)]), 2n);
    assert.equal(await ok(p, [change(4n), change(-5n), change(6n)]), 7n);
    // TCK "state changes": one coalesced delta per command.
    const deltas = repliesOf(uf.streamsOf(p)[0]).map((r) =>
      r.stateAction?.action.case === "update" && r.stateAction.action.value.delta.case === "pncounter"
        ? r.stateAction.action.value.delta.value.change
        : undefined,
    );
    assert.deepEqual(deltas, [2n, 5n]);

    const gs = nextId("GSet");
    const gadd = (e: string) => act.update({ case: "gset", value: { add: e } });
    assert.deepEqual(await ok(gs, [gadd("b"), gadd("a"), gadd("b")]), ["a", "b"]);
    assert.deepEqual(await ok(gs, [gadd("c")]), ["a", "b", "c"]);

    const os = nextId("ORSet");
    const orset = (action: tck.ORSetUpdate["action"]) => act.update({ case: "orset", value: { action } });
    assert.deepEqual(await ok(os, [orset({ case: "add", value: "a" }), orset({ case: "add", value: "b" }), orset({ case: "add", value: "c" })]), [
      "a",
      "b",
      "c",
    ]);
    assert.deepEqual(await ok(os, [orset({ case: "remove", value: "b" })]), ["a", "c"]);
    assert.deepEqual(await ok(os, [orset({ case: "clear", value: true })]), []);
    assert.deepEqual(await ok(os, [orset({ case: "add", value: "d" })]), ["d"]);

    const r = nextId("LWWRegister");
    const set = (value: string, clockType = tck.LWWRegisterClockType.DEFAULT, customClockValue = 0n) =>
      act.update({ case: "lwwregister", value: { value, clock: { clockType, customClockValue } } });
    assert.equal(await ok(r, [set("one")]), "one");
    assert.equal(await ok(r, [set("two", tck.LWWRegisterClockType.REVERSE)]), "two");
    assert.equal(await ok(r, [set("three", tck.LWWRegisterClockType.CUSTOM, 123n)]), "three");
    assert.equal(await ok(r, [set("four", tck.LWWRegisterClockType.CUSTOM_AUTO_INCREMENT, 456n)]), "four");
    assert.equal(await ok(r, [set("five", tck.LWWRegisterClockType.CUSTOM, 7n)]), "five");
    const clocks = repliesOf(uf.streamsOf(r)[0]).map((x) =>
      x.stateAction?.action.case === "update" && x.stateAction.action.value.delta.case === "lwwregister"
        ? x.stateAction.action.value.delta.value.clock
        : undefined,
    );
    assert.deepEqual(clocks, [CrdtClock.DEFAULT, CrdtClock.REVERSE, CrdtClock.CUSTOM, CrdtClock.CUSTOM_AUTO_INCREMENT, CrdtClock.CUSTOM]);

    const f = nextId("Flag");
    assert.equal(await ok(f, [act.update({ case: "flag", value: {} })]), true);
    assert.equal(await ok(f, [act.update({ case: "flag", value: {} })]), true);

    const m = nextId("ORMap");
    const ormap = (action: tck.ORMapUpdate["action"]) => act.update({ case: "ormap", value: { action } });
    const entry = (key: string, update: Parameters<typeof act.update>[0]) =>
      ormap({ case: "update", value: { key, update: { update } } as tck.ORMapEntryUpdate });
    assert.deepEqual(await ok(m, [ormap({ case: "add", value: "PNCounter-a" }), entry("PNCounter-a", { case: "pncounter", value: { change: 5n } })]), {
      "PNCounter-a": 5n,
    });
    assert.deepEqual(
      await ok(m, [
        entry("ORSet-s", { case: "orset", value: { action: { case: "add", value: "x" } } }),
        entry("ORMap-m", {
          case: "ormap",
          value: {
            action: {
              case: "update",
              value: { key: "GCounter-g", update: { update: { case: "gcounter", value: { increment: 2n } } } } as tck.ORMapEntryUpdate,
            },
          },
        }),
        entry("Vote-v", { case: "vote", value: { selfVote: true } }),
        entry("LWWRegister-r", { case: "lwwregister", value: { value: "hello" } }),
      ]),
      { "LWWRegister-r": "hello", "ORMap-m": { "GCounter-g": 2n }, "ORSet-s": ["x"], "PNCounter-a": 5n, "Vote-v": [true, 1, 1] },
    );
    assert.deepEqual(await ok(m, [ormap({ case: "remove", value: "PNCounter-a" }), entry("PNCounter-a", { case: "pncounter", value: { change: -1n } })]), {
      "LWWRegister-r": "hello",
      "ORMap-m": { "GCounter-g": 2n },
      "ORSet-s": ["x"],
      "PNCounter-a": -1n,
      "Vote-v": [true, 1, 1],
    });
    assert.deepEqual(await ok(m, [ormap({ case: "clear", value: true }), ormap({ case: "add", value: "Flag-f" })]), { "Flag-f": false });

    const v = nextId("Vote");
    assert.deepEqual(await ok(v, [act.update({ case: "vote", value: { selfVote: true } })]), [true, 1, 1]);
    assert.deepEqual(await ok(v, [act.update({ case: "vote", value: { selfVote: false } })]), [false, 0, 1]);

    for (const id of [g, p, gs, os, r, f, m, v]) {
      const streams = uf.streamsOf(id);
      assert.equal(streams.length, 1, `${id}: one stream`);
      const ids = commandsOf(streams[0]).map((c) => c.id);
      assert.deepEqual(
        ids,
        ids.map((_, i) => BigInt(i + 1)),
      );
      assert.equal(streams[0]?.messages.filter((x) => x.message.case === "delta").length, 0, `${id}: the proxy never echoes deltas`);
    }
  });

  it("accepts every write consistency", async () => {
    const id = nextId("PNCounter");
    for (const level of [tck.UpdateWriteConsistency.LOCAL, tck.UpdateWriteConsistency.MAJORITY, tck.UpdateWriteConsistency.ALL]) {
      await ok(id, [act.update({ case: "pncounter", value: { change: 1n } }, level)]);
    }
    assert.equal(await ok(id, []), 3n);
    await eventually(() => /writeConsistency=MAJORITY/.test(proxy.stderr()) && /writeConsistency=ALL/.test(proxy.stderr()), 2000, "write consistency logged");
  });

  it("runs commands to one entity concurrently and matches replies by command id", async () => {
    const id = nextId("PNCounter");
    await ok(id, []);
    const change = (c: bigint) => act.update({ case: "pncounter", value: { change: c } });
    const finished: string[] = [];
    const slow = call(id, [change(1n), act.fail(`${CRDT_TRIGGERS.slow}400`)]).then((r) => {
      finished.push("slow");
      return r;
    });
    await eventually(() => commandsOf(uf.streamsOf(id)[0]).length === 2, 2000, "slow command sent");
    const fast = call(id, [change(2n)]).then((r) => {
      finished.push("fast");
      return r;
    });
    const [s, f] = await Promise.all([slow, fast]);
    assert.deepEqual(finished, ["fast", "slow"], "the later command was answered first");
    assert.equal(stateOf(s.messages[0]), 1n);
    assert.equal(stateOf(f.messages[0]), 3n);
    // Many callers at once on one hot entity.
    const results = await Promise.all(Array.from({ length: 40 }, () => call(id, [change(1n)])));
    assert.ok(results.every((r) => r.code === grpc.status.OK));
    assert.equal(await ok(id, []), 43n);
    assert.equal(uf.streamsOf(id).length, 1);
  });

  it("forwards to CrdtTwo, which gets its own stream, and runs side effects (GSet)", async () => {
    const id = nextId("GSet");
    const forwarded = await call(id, [act.update({ case: "gset", value: { add: "kept" } }), act.forward(id)]);
    assert.equal(forwarded.code, grpc.status.OK, forwarded.details);
    assert.deepEqual(stateOf(forwarded.messages[0]), undefined, "the client gets CrdtTwo's (empty) reply");
    const [two] = uf.streamsOf(id, CRDT_SERVICES.two);
    const twoInit = two?.messages[0]?.message;
    assert.equal(twoInit?.case === "init" && twoInit.value.serviceName, CRDT_SERVICES.two);
    assert.deepEqual(
      commandsOf(two).map((c) => [c.id, c.name]),
      [[1n, "Call"]],
    );
    assert.deepEqual(await ok(id, []), ["kept"], "a forward keeps the state change");

    await ok(id, [act.effect(id)]);
    await eventually(() => commandsOf(uf.streamsOf(id, CRDT_SERVICES.two)[0]).length === 2, 2000, "asynchronous side effect");
    assert.equal(commandsOf(uf.streamsOf(id, CRDT_SERVICES.two)[0])[1]?.id, 2n);

    const other = nextId("GSet");
    await ok(id, [act.effect(other, true), act.update({ case: "gset", value: { add: "more" } })]);
    assert.equal(commandsOf(uf.streamsOf(other, CRDT_SERVICES.two)[0]).length, 1, "a synchronous side effect ran before the reply");
    const both = await ok(id, [act.effect(nextId("GSet")), act.effect(nextId("GSet"), true), act.forward(nextId("GSet"))]);
    assert.equal(both, undefined);

    // Deleting on each service closes that service's stream.
    await ok(id, [act.delete()]);
    const deletedTwo = await processCall(client, id, [act.delete()], TWO_CALL);
    assert.equal(deletedTwo.code, grpc.status.OK);
    await eventually(() => uf.streamsOf(id)[0]?.ended === true && uf.streamsOf(id, CRDT_SERVICES.two)[0]?.ended === true, 2000, "both streams closed");
  });

  it("deletes the state and closes the stream; the next command starts the entity again, empty", async () => {
    const id = nextId("PNCounter");
    assert.equal(await ok(id, [act.update({ case: "pncounter", value: { change: 7n } })]), 7n);
    const deleted = await call(id, [act.delete()]);
    assert.equal(deleted.code, grpc.status.OK);
    assert.equal(stateOf(deleted.messages[0]), 7n, "the reply still shows the state the command saw");
    await eventually(() => uf.streamsOf(id)[0]?.ended === true, 2000, "the proxy closed the stream");
    assert.equal(await ok(id, []), 0n);
    const [, second] = uf.streamsOf(id);
    const init = second?.messages[0]?.message;
    assert.equal(init?.case === "init" && init.value.delta, undefined, "no state after delete");
    assert.equal(commandsOf(second)[0]?.id, 1n, "command ids start again at 1");
  });

  it("returns a user-function failure as UNKNOWN with its text, and the stream keeps working (GCounter)", async () => {
    const id = nextId("GCounter");
    await ok(id, [act.update({ case: "gcounter", value: { increment: 1n } })]);
    const failed = await call(id, [act.update({ case: "gcounter", value: { increment: 5n } }), act.fail("expected failure")]);
    assert.equal(failed.code, grpc.status.UNKNOWN);
    assert.equal(failed.details, "expected failure");
    assert.equal(await ok(id, []), 1n);
    await ok(id, [act.delete()]);
    await eventually(() => uf.streamsOf(id)[0]?.ended === true, 2000, "delete closes the stream");
    assert.equal(uf.streamsOf(id).length, 1);
  });

  it("fails only the command a top-level failure names, and ignores one for command 0", async () => {
    const id = nextId("PNCounter");
    await ok(id, [act.update({ case: "pncounter", value: { change: 3n } })]);
    const failed = await call(id, [act.fail(CRDT_TRIGGERS.topLevelFailure)]);
    assert.equal(failed.code, grpc.status.UNKNOWN);
    assert.equal(failed.details, "Unexpected entity failure");
    const ignored = await call(id, [act.fail(CRDT_TRIGGERS.failureWithoutCommand)]);
    assert.equal(ignored.code, grpc.status.OK);
    assert.equal(stateOf(ignored.messages[0]), 3n);
    assert.equal(uf.streamsOf(id).length, 1, "the entity kept running");
    assert.equal(uf.streamsOf(id)[0]?.closed, false);
  });

  it("reports a streamed message for an unknown call, and keeps the entity", async () => {
    const id = nextId("Flag");
    const before = uf.reportedErrors.length;
    const result = await call(id, [act.fail(CRDT_TRIGGERS.unknownStreamedMessage)]);
    assert.equal(result.code, grpc.status.OK);
    await eventually(() => uf.reportedErrors.length > before, 2000, "reportError");
    assert.match(uf.reportedErrors.at(-1) ?? "", /streamed message for unknown command 999/);
    assert.equal(await ok(id, []), false);
    assert.equal(uf.streamsOf(id).length, 1);
  });

  for (const [what, type, trigger, pattern] of [
    ["a delta of the wrong type", "GCounter", CRDT_TRIGGERS.wrongDeltaType, /invalid delta for command 2: a Flag delta cannot be applied to a GCounter/],
    [
      "an ORMap delta for a missing key",
      "ORMap",
      CRDT_TRIGGERS.ormapMissingKey,
      /invalid delta for command 2: ORMap delta updates key "GCounter-missing", which is not in the map/,
    ],
    ["a streamed reply to a call that is not streamed", "Vote", CRDT_TRIGGERS.streamedReply, /streamed reply to command 2, which is not a streamed call/],
  ] as const) {
    it(`stops only the entity that sent ${what}, and reports it`, async () => {
      const id = nextId(type);
      const bystander = nextId(type);
      const first = await call(id, type === "GCounter" ? [act.update({ case: "gcounter", value: { increment: 2n } })] : []);
      assert.equal(first.code, grpc.status.OK);
      await ok(bystander, []);
      const before = uf.reportedErrors.length;
      const bad = await call(id, [act.fail(trigger)]);
      assert.equal(bad.code, grpc.status.UNKNOWN);
      assert.equal(bad.details, "Unexpected entity failure");
      await eventually(() => uf.reportedErrors.length > before, 2000, "reportError");
      assert.match(uf.reportedErrors.at(-1) ?? "", pattern);
      await eventually(() => uf.streamsOf(id)[0]?.closed === true, 2000, "the entity's stream is closed");
      // The other entity of the same service is untouched.
      await ok(bystander, []);
      assert.equal(uf.streamsOf(bystander).length, 1);
      assert.equal(uf.streamsOf(bystander)[0]?.closed, false);
      // The next command starts the entity again from the stored state.
      assert.deepEqual(await ok(id, []), stateOf(first.messages[0]));
      assert.equal(uf.streamsOf(id).length, 2);
    });
  }

  it("serves the HTTP API, as the TCK proxy test does (PNCounter)", async () => {
    const id = nextId("PNCounter");
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`http://127.0.0.1:${proxy.port}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() };
    };
    const read = await post(`/tck/model/crdt/${id}`, {});
    assert.equal(read.status, 200);
    assert.match(read.type, /^application\/json/);
    assert.equal(read.body, '{"state":{"pncounter":{"value":"0"}}}');
    assert.equal((await post("/cloudstate.tck.model.crdt.CrdtTwo/Call", { id })).body, "{}");
    assert.equal(
      (await post(`/tck/model/crdt/${id}`, { actions: [{ update: { pncounter: { change: 42 } } }] })).body,
      '{"state":{"pncounter":{"value":"42"}}}',
    );
    const failed = await post(`/tck/model/crdt/${id}`, { actions: [{ fail: { message: "expected failure" } }] });
    assert.equal(failed.status, 500);
    assert.equal(failed.body, "expected failure");
    assert.equal(
      (await post(`/tck/model/crdt/${id}`, { actions: [{ update: { pncounter: { change: -123 } } }] })).body,
      '{"state":{"pncounter":{"value":"-81"}}}',
    );
    assert.equal((await post(`/tck/model/crdt/${id}`, { actions: [{ delete: {} }] })).body, '{"state":{"pncounter":{"value":"-81"}}}');
    await eventually(() => uf.streamsOf(id)[0]?.ended === true, 2000, "delete closes the stream");
  });

  it("serves CrdtConfigured and CrdtTwo", async () => {
    const configured = await processCall(client, nextId("Configured"), [], CONFIGURED_CALL);
    assert.equal(configured.code, grpc.status.OK);
    const two = await processCall(client, nextId("GSet"), [], TWO_CALL);
    assert.equal(two.code, grpc.status.OK);
  });

  it("uses string Anys the user function can compare by bytes", () => {
    assert.deepEqual([...packString("").value], []);
    assert.deepEqual([...packString("a").value], [0x0a, 1, 0x61]);
  });
});
