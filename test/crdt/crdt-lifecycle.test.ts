/**
 * The life of CRDT entities through real processes: passivation (the service's own
 * strategy and the proxy default) with rehydration through `init`, state that survives a
 * proxy restart (SQLite store), and the relay timeout.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { crdt as tck } from "@switchboard/protocol/tck";
import { createTestClient, eventually, type TestClient } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { act, CONFIGURED_CALL, processCall, stateOf } from "./support/crdt-client.js";
import { CRDT_SERVICES, CRDT_TRIGGERS, type CrdtUserFunction, type RecordedCrdtStream, startCrdtUserFunction } from "./support/crdt-user-function.js";

type Actions = Parameters<typeof processCall>[2];
const ormap = (action: tck.ORMapUpdate["action"]) => act.update({ case: "ormap", value: { action } });

/** For every type: changes that leave a non-trivial state, and that state. */
const SCENARIOS: readonly { type: string; actions: Actions; state: unknown }[] = [
  { type: "GCounter", actions: [act.update({ case: "gcounter", value: { increment: 9n } })], state: 9n },
  { type: "PNCounter", actions: [act.update({ case: "pncounter", value: { change: -4n } })], state: -4n },
  { type: "GSet", actions: [act.update({ case: "gset", value: { add: "x" } }), act.update({ case: "gset", value: { add: "y" } })], state: ["x", "y"] },
  {
    type: "ORSet",
    actions: [
      act.update({ case: "orset", value: { action: { case: "add", value: "a" } } }),
      act.update({ case: "orset", value: { action: { case: "add", value: "b" } } }),
      act.update({ case: "orset", value: { action: { case: "remove", value: "a" } } }),
    ],
    state: ["b"],
  },
  {
    type: "LWWRegister",
    actions: [act.update({ case: "lwwregister", value: { value: "kept", clock: { clockType: tck.LWWRegisterClockType.CUSTOM, customClockValue: 5n } } })],
    state: "kept",
  },
  { type: "Flag", actions: [act.update({ case: "flag", value: {} })], state: true },
  {
    type: "ORMap",
    actions: [
      ormap({ case: "update", value: { key: "PNCounter-p", update: { update: { case: "pncounter", value: { change: 3n } } } } as tck.ORMapEntryUpdate }),
      ormap({
        case: "update",
        value: { key: "ORMap-inner", update: { update: { case: "ormap", value: { action: { case: "add", value: "Flag-f" } } } } } as tck.ORMapEntryUpdate,
      }),
      ormap({ case: "update", value: { key: "Vote-v", update: { update: { case: "vote", value: { selfVote: true } } } } as tck.ORMapEntryUpdate }),
    ],
    state: { "ORMap-inner": { "Flag-f": false }, "PNCounter-p": 3n, "Vote-v": [true, 1, 1] },
  },
  { type: "Vote", actions: [act.update({ case: "vote", value: { selfVote: true } })], state: [true, 1, 1] },
];

const initOf = (stream: RecordedCrdtStream | undefined) => {
  const m = stream?.messages[0]?.message;
  return m?.case === "init" ? m.value : undefined;
};

describe("CRDT entity lifecycle", () => {
  let uf: CrdtUserFunction;
  let proxy: ProxyProcess;
  let client: TestClient;
  let dir: string;
  let store: string;
  const ids = new Map<string, string>();

  const ok = async (id: string, actions: Actions) => {
    const result = await processCall(client, id, actions);
    assert.equal(result.code, grpc.status.OK, result.details);
    return stateOf(result.messages[0]);
  };
  const start = async (extraArgs: string[] = []) => {
    proxy = await startProxy({ userFunctionPort: uf.port, store: `sqlite:${store}`, extraArgs: ["--passivation-timeout", "400", ...extraArgs] });
    client = createTestClient(proxy.port);
  };
  const stop = async () => {
    client.close();
    if (process.env.CRDT_DEBUG) process.stderr.write(proxy.stderr());
    assert.equal(await proxy.stop(), 0);
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "switchboard-crdt-"));
    store = path.join(dir, "state.db");
    uf = await startCrdtUserFunction();
    await start();
  });
  after(async () => {
    await stop();
    await uf.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passivates CrdtConfigured after its own 100 ms strategy", async () => {
    const id = "Configured-1";
    const result = await processCall(client, id, [], CONFIGURED_CALL);
    assert.equal(result.code, grpc.status.OK);
    await eventually(() => uf.streamsOf(id, CRDT_SERVICES.configured)[0]?.ended === true, 2000, "stream closed within 2 s");
  });

  it("passivates idle entities and rehydrates every type from init", async () => {
    for (const { type, actions, state } of SCENARIOS) {
      const id = `${type}-lifecycle`;
      ids.set(type, id);
      assert.deepEqual(await ok(id, actions), state, type);
    }
    for (const { type, state } of SCENARIOS) {
      const id = ids.get(type) as string;
      await eventually(() => uf.streamsOf(id)[0]?.ended === true, 3000, `${type} passivated`);
      assert.deepEqual(await ok(id, []), state, `${type} after passivation`);
      const second = uf.streamsOf(id)[1];
      assert.ok(initOf(second)?.delta?.delta.case, `${type}: init carries the state`);
      assert.equal(initOf(second)?.delta?.delta.case, type.toLowerCase());
    }
    // The init of the Vote fills in the totals: one voter, this node, who voted for.
    const vote = initOf(uf.streamsOf(ids.get("Vote") as string)[1])?.delta?.delta;
    assert.deepEqual(vote?.case === "vote" && [vote.value.selfVote, vote.value.votesFor, vote.value.totalVoters], [true, 1, 1]);
  });

  it("keeps every type's state across a proxy restart", async () => {
    await stop();
    await start();
    for (const { type, state } of SCENARIOS) {
      const id = ids.get(type) as string;
      const before = uf.streamsOf(id).length;
      assert.deepEqual(await ok(id, []), state, `${type} after restart`);
      const init = initOf(uf.streamsOf(id)[before]);
      assert.equal(init?.delta?.delta.case, type.toLowerCase(), `${type}: init after restart`);
    }
    // Changes after the restart build on the stored state.
    assert.equal(await ok(ids.get("GCounter") as string, [act.update({ case: "gcounter", value: { increment: 1n } })]), 10n);
    assert.deepEqual(await ok(ids.get("ORSet") as string, [act.update({ case: "orset", value: { action: { case: "add", value: "c" } } })]), ["b", "c"]);
  });

  it("keeps a delete across a restart", async () => {
    const id = ids.get("PNCounter") as string;
    await ok(id, [act.delete()]);
    await stop();
    await start();
    assert.equal(await ok(id, []), 0n);
    assert.equal(initOf(uf.streamsOf(id).at(-1))?.delta, undefined);
  });

  it("fails a command the user function does not answer in time, and starts the entity again", async () => {
    await stop();
    await start(["--relay-timeout", "500"]);
    const id = "PNCounter-relay";
    await ok(id, [act.update({ case: "pncounter", value: { change: 2n } })]);
    const silent = await processCall(client, id, [act.fail(CRDT_TRIGGERS.noReply)]);
    assert.equal(silent.code, grpc.status.DEADLINE_EXCEEDED);
    await eventually(() => uf.streamsOf(id)[0]?.closed === true, 2000, "entity stopped");
    assert.equal(await ok(id, []), 2n);
    assert.equal(uf.streamsOf(id).length, 2);
  });
});
