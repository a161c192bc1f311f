import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testCrdtEntity } from "@switchboard/sdk/testing";
import { presence } from "./presence.js";

const online = (r: { reply?: { users: string[] } }) => r.reply?.users;

describe("Presence", () => {
  it("is empty before anyone connects", async () => {
    const t = testCrdtEntity(presence, { entityId: "lobby" });
    assert.deepEqual(online(await t.call("getOnline", { room: "lobby" })), []);
  });

  it("keeps a user online while the Connect call is open, and streams the others to them", async () => {
    const t = testCrdtEntity(presence, { entityId: "lobby" });
    const alice = await t.stream("connect", { room: "lobby", user: "alice" });
    assert.equal(alice.reply.streamed, true);
    assert.deepEqual(online(alice.reply), ["alice"]);
    assert.equal(alice.reply.stateChange?.kind, "update", "the connection goes to the proxy as an ORSet delta");

    const bob = await t.stream("connect", { room: "lobby", user: "bob" });
    assert.deepEqual(online(bob.reply), ["alice", "bob"]);
    assert.deepEqual(alice.messages.map(online), [["alice", "bob"]], "alice sees bob join");

    const cancelled = await bob.cancel();
    assert.equal(cancelled.stateChange?.kind, "update", "the removal goes to the proxy with the cancellation");
    assert.deepEqual(alice.messages.map(online), [["alice", "bob"], ["alice"]], "alice sees bob leave");
    assert.deepEqual(online(await t.call("getOnline", { room: "lobby" })), ["alice"]);
  });

  it("streams every join and leave to watchers, once per change of the list", async () => {
    const t = testCrdtEntity(presence, { entityId: "lobby" });
    const watch = await t.stream("watch", { room: "lobby" });
    assert.deepEqual(online(watch.reply), []);
    const first = await t.stream("connect", { room: "lobby", user: "carol" });
    const second = await t.stream("connect", { room: "lobby", user: "carol" });
    await first.cancel();
    assert.deepEqual(watch.messages.map(online), [["carol"]], "a second connection of carol, or the end of one of two, changes nothing");
    await second.cancel();
    assert.deepEqual(watch.messages.map(online), [["carol"], []]);
    assert.equal(watch.ended, false);
  });

  it("refuses a Connect without a user, or not called as a stream", async () => {
    const t = testCrdtEntity(presence, { entityId: "lobby" });
    assert.equal((await t.stream("connect", { room: "lobby", user: "" })).reply.failure, "Connect needs a user name");
    assert.match(String((await t.call("connect", { room: "lobby", user: "dave" })).failure), /call it as a stream/);
    assert.equal(t.state?.size ?? 0, 0, "a failed Connect keeps nothing");
  });
});
