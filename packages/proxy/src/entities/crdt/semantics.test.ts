/**
 * What each CRDT means across replicas, by example: concurrent changes on two or three
 * nodes, then joins. The property tests check the lattice laws; these check the values.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CrdtClock, type CrdtDelta, CrdtDeltaSchema } from "@switchboard/protocol";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { AnyValue } from "../../store/types.js";
import { toAny } from "./any-key.js";
import { testReplica, viewOf } from "./arbitraries.fixture.js";
import { applyDelta, CRDT_OPS, type CrdtState, initDelta, mergeStates, type Replica } from "./state.js";
import { decodeCrdtState, encodeCrdtState } from "./storage-format.js";

const MEMBERS = ["a", "b", "c"];
const clock = { t: 1000n };
const [A, B, C] = MEMBERS.map((node) => testReplica(node, MEMBERS, clock)) as [Replica, Replica, Replica];

const str = (s: string): AnyValue => ({ typeUrl: "p.cloudstate.io/string", value: new TextEncoder().encode(`\n${s}`) });
const d = (delta: NonNullable<MessageInitShape<typeof CrdtDeltaSchema>["delta"]>): CrdtDelta => create(CrdtDeltaSchema, { delta });

function apply(state: CrdtState | undefined, delta: CrdtDelta, replica: Replica): CrdtState {
  const applied = applyDelta(state, delta, replica);
  if (applied.kind === "rejected") throw new Error(applied.reason);
  return applied.state;
}
function rejected(state: CrdtState | undefined, delta: CrdtDelta, replica: Replica = A): string {
  const applied = applyDelta(state, delta, replica);
  assert.equal(applied.kind, "rejected");
  return applied.kind === "rejected" ? applied.reason : "";
}
const view = (state: CrdtState, replica: Replica = A) => viewOf(state, replica, CRDT_OPS);
const hex = (s: string) => `p.cloudstate.io/string|${Buffer.from(`\n${s}`).toString("hex")}`;

describe("counters", () => {
  it("a GCounter sums the increments of all nodes", () => {
    const base = apply(undefined, d({ case: "gcounter", value: { increment: 2n } }), A);
    const a = apply(base, d({ case: "gcounter", value: { increment: 3n } }), A);
    const b = apply(base, d({ case: "gcounter", value: { increment: 5n } }), B);
    assert.equal(view(mergeStates(a, b)), "gcounter 10");
  });

  it("a PNCounter sums increments and decrements of all nodes", () => {
    const a = apply(undefined, d({ case: "pncounter", value: { change: -7n } }), A);
    const b = apply(undefined, d({ case: "pncounter", value: { change: 3n } }), B);
    const c = apply(b, d({ case: "pncounter", value: { change: -1n } }), C);
    assert.equal(view(mergeStates(mergeStates(a, b), c)), "pncounter -5");
  });

  it("rejects values that leave the wire range", () => {
    const big = apply(undefined, d({ case: "gcounter", value: { increment: (1n << 64n) - 1n } }), A);
    assert.match(rejected(big, d({ case: "gcounter", value: { increment: 1n } })), /2\^64/);
    const low = apply(undefined, d({ case: "pncounter", value: { change: -(1n << 63n) } }), A);
    assert.match(rejected(low, d({ case: "pncounter", value: { change: -1n } })), /int64/);
  });
});

describe("sets", () => {
  const orset = (removed: string[], added: string[], cleared = false) =>
    d({ case: "orset", value: { cleared, removed: removed.map((s) => toAny(str(s))), added: added.map((s) => toAny(str(s))) } });

  it("a GSet is the union", () => {
    const a = apply(undefined, d({ case: "gset", value: { added: [toAny(str("x"))] } }), A);
    const b = apply(undefined, d({ case: "gset", value: { added: [toAny(str("y")), toAny(str("x"))] } }), B);
    assert.deepEqual(view(mergeStates(a, b)), ["gset", hex("x"), hex("y")]);
  });

  it("an ORSet add wins over a concurrent remove, an observed remove wins", () => {
    const base = apply(undefined, orset([], ["x", "y"]), A);
    const removedAtA = apply(base, orset(["x", "y"], []), A);
    const readdedAtB = apply(base, orset([], ["x"]), B);
    assert.deepEqual(view(mergeStates(removedAtA, readdedAtB)), ["orset", hex("x")]);
    // B had seen the add of y, so A's remove of it stands.
    const both = mergeStates(removedAtA, readdedAtB);
    const removedAgain = apply(both, orset(["x"], []), C);
    assert.deepEqual(view(mergeStates(removedAgain, readdedAtB)), ["orset"]);
  });

  it("an ORSet clear keeps only what was added concurrently", () => {
    const base = apply(undefined, orset([], ["x", "y"]), A);
    const cleared = apply(base, orset([], [], true), A);
    const added = apply(base, orset([], ["z"]), B);
    assert.deepEqual(view(mergeStates(cleared, added)), ["orset", hex("z")]);
  });
});

describe("LWWRegister", () => {
  const write = (state: CrdtState | undefined, value: string, replica: Replica, clockType = CrdtClock.DEFAULT, custom = 0n) =>
    apply(state, d({ case: "lwwregister", value: { value: toAny(str(value)), clock: clockType, customClockValue: custom } }), replica);

  it("the later write wins; equal timestamps are decided by node id", () => {
    const first = write(undefined, "one", A);
    const second = write(undefined, "two", B);
    assert.equal(view(mergeStates(first, second)), view(second));
    const tieA = write(undefined, "a", A, CrdtClock.CUSTOM, 5n);
    const tieB = write(undefined, "b", B, CrdtClock.CUSTOM, 5n);
    assert.equal(view(mergeStates(tieA, tieB)), view(tieB));
    assert.equal(view(mergeStates(tieB, tieA)), view(tieB));
  });

  it("every write shows locally, whatever its clock", () => {
    let r = write(undefined, "v1", A, CrdtClock.CUSTOM, 100n);
    r = write(r, "v2", A, CrdtClock.CUSTOM, 3n);
    assert.equal(view(r), view(write(undefined, "v2", A)));
    r = write(r, "v3", A, CrdtClock.REVERSE);
    assert.equal(view(r), view(write(undefined, "v3", A)));
  });

  it("REVERSE: the first write wins across nodes; CUSTOM_AUTO_INCREMENT always moves forward", () => {
    const early = write(undefined, "early", A, CrdtClock.REVERSE);
    const late = write(undefined, "late", B, CrdtClock.REVERSE);
    assert.equal(view(mergeStates(late, early)), view(early));
    const v10 = write(undefined, "ten", A, CrdtClock.CUSTOM, 10n);
    const bumped = write(v10, "bumped", A, CrdtClock.CUSTOM_AUTO_INCREMENT, 4n);
    assert.equal(bumped.kind === "lwwregister" && bumped.timestamp, 11n);
    assert.equal(view(mergeStates(v10, bumped)), view(bumped));
  });
});

describe("Flag and Vote", () => {
  it("a Flag is on once any node switched it on, and cannot be switched off", () => {
    const off = apply(undefined, d({ case: "flag", value: { value: false } }), A);
    const on = apply(off, d({ case: "flag", value: { value: true } }), B);
    assert.equal(view(mergeStates(off, on)), "flag true");
    assert.match(rejected(on, d({ case: "flag", value: { value: false } })), /cannot be switched off/);
  });

  it("a Vote counts the members' votes and ignores the totals the user function sends", () => {
    const vote = (state: CrdtState | undefined, selfVote: boolean, replica: Replica) =>
      apply(state, d({ case: "vote", value: { selfVote, votesFor: 42, totalVoters: 42 } }), replica);
    const a = vote(undefined, true, A);
    const b = vote(vote(vote(undefined, true, B), false, B), true, B);
    const c = vote(undefined, false, C);
    const all = mergeStates(mergeStates(a, b), c);
    assert.equal(view(all, A), "vote true 2 3");
    assert.equal(view(all, C), "vote false 2 3");
    // Votes of nodes that are no longer members do not count.
    const alone = testReplica("a", ["a"], clock);
    assert.equal(view(all, alone), "vote true 1 1");
    const init = initDelta(all, C);
    assert.deepEqual(init.delta.case === "vote" && { ...init.delta.value, $typeName: undefined }, {
      $typeName: undefined,
      selfVote: false,
      votesFor: 2,
      totalVoters: 3,
    });
  });
});

describe("ORMap", () => {
  const key = (s: string) => toAny(str(s));
  const counter = (n: bigint) => d({ case: "pncounter", value: { change: n } });
  const ormap = (value: { cleared?: boolean; removed?: string[]; updated?: [string, CrdtDelta][]; added?: [string, CrdtDelta][] }) =>
    d({
      case: "ormap",
      value: {
        cleared: value.cleared ?? false,
        removed: (value.removed ?? []).map(key),
        updated: (value.updated ?? []).map(([k, delta]) => ({ key: key(k), delta })),
        added: (value.added ?? []).map(([k, delta]) => ({ key: key(k), delta })),
      },
    });

  it("joins concurrent updates of an entry's value", () => {
    const base = apply(undefined, ormap({ added: [["n", counter(1n)]] }), A);
    const a = apply(base, ormap({ updated: [["n", counter(10n)]] }), A);
    const b = apply(base, ormap({ updated: [["n", counter(100n)]] }), B);
    const joined = mergeStates(a, b);
    assert.deepEqual(view(joined), { ormap: { [hex("n")]: "pncounter 111" } });
    // A later update sees the joined value.
    assert.deepEqual(view(apply(joined, ormap({ updated: [["n", counter(1000n)]] }), C)), { ormap: { [hex("n")]: "pncounter 1111" } });
  });

  it("keeps an entry updated concurrently with its removal; drops it if the removal saw the update", () => {
    const base = apply(undefined, ormap({ added: [["n", counter(1n)]] }), A);
    const removed = apply(base, ormap({ removed: ["n"] }), A);
    const updated = apply(base, ormap({ updated: [["n", counter(5n)]] }), B);
    assert.deepEqual(view(mergeStates(removed, updated)), { ormap: { [hex("n")]: "pncounter 6" } });
    const removedAfter = apply(mergeStates(removed, updated), ormap({ removed: ["n"] }), C);
    assert.deepEqual(view(mergeStates(removedAfter, updated)), { ormap: {} });
  });

  it("nests maps and sets, and rejects changes to keys it does not hold or of the wrong type", () => {
    const inner = ormap({ added: [["s", d({ case: "orset", value: { added: [key("x")] } })]] });
    const base = apply(undefined, ormap({ added: [["m", inner]] }), A);
    const a = apply(base, ormap({ updated: [["m", ormap({ updated: [["s", d({ case: "orset", value: { added: [key("y")] } })]] })]] }), A);
    const b = apply(base, ormap({ updated: [["m", ormap({ updated: [["s", d({ case: "orset", value: { added: [key("z")] } })]] })]] }), B);
    assert.deepEqual(view(mergeStates(a, b)), { ormap: { [hex("m")]: { ormap: { [hex("s")]: ["orset", hex("x"), hex("y"), hex("z")] } } } });
    assert.match(rejected(base, ormap({ updated: [["missing", counter(1n)]] })), /updates key .* which is not in the map/);
    assert.match(rejected(base, ormap({ removed: ["missing"] })), /removes key .* which is not in the map/);
    assert.match(rejected(base, ormap({ updated: [["m", counter(1n)]] })), /a PNCounter delta cannot be applied to a ORMap/);
    assert.match(rejected(base, ormap({ added: [["e", d({ case: undefined })]] })), /empty/);
    // A removed key may be named again after a clear.
    assert.deepEqual(view(apply(base, ormap({ cleared: true, removed: ["m"] }), A)), { ormap: {} });
  });
});

describe("type checks and the storage format", () => {
  it("rejects a delta of another CRDT type, and an empty delta", () => {
    const counter = apply(undefined, d({ case: "gcounter", value: { increment: 1n } }), A);
    assert.match(rejected(counter, d({ case: "pncounter", value: { change: 1n } })), /a PNCounter delta cannot be applied to a GCounter/);
    assert.match(rejected(counter, d({ case: undefined })), /empty/);
  });

  it("refuses bytes in another format or version, and corrupt bytes, as DATA_LOSS", () => {
    const good = encodeCrdtState(apply(undefined, d({ case: "gcounter", value: { increment: 1n } }), A));
    const dataLoss = (bytes: Uint8Array, pattern: RegExp) =>
      assert.throws(
        () => decodeCrdtState(bytes, "p/e"),
        (e: unknown) => e instanceof SwitchboardError && e.code === Code.DataLoss && pattern.test(e.rawMessage),
      );
    dataLoss(new Uint8Array([1, 2, 3]), /not in the Switchboard CRDT format/);
    dataLoss(Uint8Array.of(good[0] as number, 9, ...good.subarray(2)), /format version 9/);
    dataLoss(good.subarray(0, good.length - 1), /corrupt/);
    dataLoss(Uint8Array.of(good[0] as number, good[1] as number, 0x12, 0x02, 0x4a, 0x00), /corrupt: unknown CRDT type 9/);
  });
});
