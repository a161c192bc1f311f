import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtClock, CrdtDeltaSchema } from "@switchboard/protocol";
import { valueentity } from "@switchboard/protocol/tck";
import { codecs } from "../serde/codecs.js";
import type { Crdt } from "./crdt.js";
import { implOf, isCrdt } from "./crdt.js";
import { createCrdt, createCrdtForDelta } from "./create-crdt.js";
import { createFlag } from "./flag.js";
import { createGCounter } from "./gcounter.js";
import { createGSet } from "./gset.js";
import { createLWWRegister } from "./lww-register.js";
import { createORMap } from "./ormap.js";
import { createORSet } from "./orset.js";
import { createPNCounter } from "./pncounter.js";
import { createVote } from "./vote.js";

const delta = (d: MessageInitShape<typeof CrdtDeltaSchema>["delta"]): CrdtDelta => create(CrdtDeltaSchema, d === undefined ? {} : { delta: d });
const str = (s: string) => codecs.string.encode(s);

/** The pending delta, then reset (as the runtime does with each reply). */
function take(crdt: Crdt): CrdtDelta["delta"] | undefined {
  const impl = implOf(crdt);
  const d = impl.delta();
  impl.resetDelta();
  return d?.delta;
}

describe("GCounter and PNCounter", () => {
  it("coalesce increments into one delta, and apply deltas without recording them", () => {
    const g = createGCounter();
    g.increment(1);
    g.increment(2n);
    g.increment(3);
    assert.equal(g.value, 6n);
    assert.deepEqual(take(g), { case: "gcounter", value: create(CrdtDeltaSchema, { delta: { case: "gcounter", value: { increment: 6n } } }).delta.value });
    assert.equal(take(g), undefined);
    implOf(g).applyDelta(delta({ case: "gcounter", value: { increment: 4n } }));
    assert.equal(g.value, 10n);
    assert.equal(take(g), undefined);

    const p = createPNCounter();
    p.increment(5);
    p.decrement(7n);
    assert.equal(p.value, -2n);
    assert.equal(take(p)?.case, "pncounter");
    p.increment(1);
    p.decrement(1);
    assert.equal(take(p), undefined, "a net change of zero is no change");
  });

  it("refuse what does not fit", () => {
    assert.throws(() => createGCounter().increment(-1), /a GCounter only grows, got -1/);
    assert.throws(() => createGCounter().increment(1.5), /must be an integer/);
    const p = createPNCounter();
    p.increment((1n << 63n) - 1n);
    assert.throws(() => p.increment(1), /out of the int64 range/);
    assert.throws(() => implOf(createGCounter()).applyDelta(delta({ case: "pncounter", value: { change: 1n } })), /a GCounter cannot apply a pncounter delta/);
  });
});

describe("GSet and ORSet", () => {
  it("GSet sends only new elements", () => {
    const s = createGSet(codecs.string);
    s.add("a").add("b").add("a");
    assert.deepEqual(s.values(), ["a", "b"]);
    assert.deepEqual(take(s), delta({ case: "gset", value: { added: [str("a"), str("b")] } }).delta);
    s.add("b");
    assert.equal(take(s), undefined);
    implOf(s).applyDelta(delta({ case: "gset", value: { added: [str("c"), str("a")] } }));
    assert.deepEqual([...s], ["a", "b", "c"]);
    assert.ok(s.has("c"));
  });

  it("ORSet nets adds and removes out within a delta, and a clear resets it", () => {
    const s = createORSet(codecs.string);
    implOf(s).applyDelta(delta({ case: "orset", value: { added: [str("a"), str("c")] } }));
    s.remove("c").remove("d").add("b").add("c");
    assert.deepEqual(take(s), delta({ case: "orset", value: { added: [str("b")] } }).delta, "c removed then added back is no change");
    s.add("x").remove("x").remove("a");
    assert.deepEqual(take(s), delta({ case: "orset", value: { removed: [str("a")] } }).delta);
    s.add("y");
    s.clear();
    s.add("z");
    assert.deepEqual(take(s), delta({ case: "orset", value: { cleared: true, added: [str("z")] } }).delta);
    implOf(s).applyDelta(delta({ case: "orset", value: { cleared: true, removed: [str("q")], added: [str("p")] } }));
    assert.deepEqual(s.values(), ["p"]);
    assert.equal(s.size, 1);
  });

  it("compares elements by encoding, and refuses elements its codec cannot read", () => {
    const s = createORSet(codecs.message(valueentity.PersistedSchema));
    s.add(create(valueentity.PersistedSchema, { value: "v" }));
    assert.ok(s.has(create(valueentity.PersistedSchema, { value: "v" })));
    assert.throws(
      () => implOf(s).applyDelta(delta({ case: "orset", value: { added: [str("x")] } })),
      /expected a type\.googleapis\.com\/cloudstate\.tck\.model\.valueentity\.Persisted value, got p\.cloudstate\.io\/string/,
    );
    assert.equal(s.size, 1, "a delta that cannot be read changes nothing");
  });
});

describe("LWWRegister", () => {
  it("records every write with its clock; an initial value is a write", () => {
    const r = createLWWRegister(codecs.string, "");
    assert.equal(r.value, "");
    assert.deepEqual(take(r), delta({ case: "lwwregister", value: { value: str("") } }).delta);
    r.set("a", { clock: CrdtClock.CUSTOM, customClockValue: 7 });
    r.set("b", { clock: CrdtClock.REVERSE });
    assert.deepEqual(take(r), delta({ case: "lwwregister", value: { value: str("b"), clock: CrdtClock.REVERSE } }).delta, "the last write wins");
    implOf(r).applyDelta(delta({ case: "lwwregister", value: { value: str("c") } }));
    assert.equal(r.value, "c");
    assert.equal(take(r), undefined);
    assert.throws(() => r.set("d", { customClockValue: 1 }), /customClockValue needs clock CrdtClock\.CUSTOM/);
    assert.equal(createLWWRegister(codecs.string).value, undefined);
    assert.equal(implOf(createLWWRegister()).delta(), undefined);
  });
});

describe("Flag and Vote", () => {
  it("a Flag is enabled once", () => {
    const f = createFlag();
    implOf(f).applyDelta(delta({ case: "flag", value: { value: false } }));
    assert.equal(f.value, false);
    f.enable();
    f.enable();
    assert.deepEqual(take(f), delta({ case: "flag", value: { value: true } }).delta);
    f.enable();
    assert.equal(take(f), undefined);
    implOf(f).applyDelta(delta({ case: "flag", value: { value: false } }));
    assert.equal(f.value, true, "a flag stays on");
  });

  it("a Vote sends its own vote only, and counts it locally", () => {
    const v = createVote();
    assert.deepEqual([v.selfVote, v.votesFor, v.voters], [false, 0, 1]);
    v.vote(true);
    assert.deepEqual([v.selfVote, v.votesFor, v.voters, v.atLeastOne, v.majority, v.all], [true, 1, 1, true, true, true]);
    assert.deepEqual(take(v), delta({ case: "vote", value: { selfVote: true } }).delta);
    v.vote(true);
    assert.equal(take(v), undefined);
    implOf(v).applyDelta(delta({ case: "vote", value: { selfVote: true, votesFor: 2, totalVoters: 5 } }));
    assert.deepEqual([v.votesFor, v.voters, v.majority, v.all], [2, 5, false, false]);
    v.vote(false);
    assert.deepEqual([v.selfVote, v.votesFor], [false, 1]);
  });
});

describe("ORMap", () => {
  it("announces new values with their whole state, and changed ones with their delta", () => {
    const m = createORMap(codecs.string);
    const counter = m.getOrCreate("c", () => createPNCounter());
    m.set("s", createORSet(codecs.string));
    assert.equal(counter.kind, "PNCounter");
    assert.deepEqual(
      take(m),
      delta({
        case: "ormap",
        value: {
          added: [
            { key: str("c"), delta: { delta: { case: "pncounter", value: { change: 0n } } } },
            { key: str("s"), delta: { delta: { case: "orset", value: {} } } },
          ],
        },
      }).delta,
    );
    if (counter.kind === "PNCounter") counter.increment(3);
    m.remove("missing");
    assert.deepEqual(
      take(m),
      delta({ case: "ormap", value: { updated: [{ key: str("c"), delta: { delta: { case: "pncounter", value: { change: 3n } } } }] } }).delta,
    );
    m.remove("s");
    m.set("c", createGCounter());
    const d = take(m);
    assert.equal(d?.case, "ormap");
    assert.deepEqual(
      d?.case === "ormap" ? [d.value.removed.map((k) => codecs.string.decode(k)), d.value.added.map((e) => e.delta?.delta.case)] : undefined,
      [["s", "c"], ["gcounter"]],
      "a replaced value is removed and added",
    );
  });

  it("applies nested deltas, making values of the delta's type", () => {
    const m = createORMap(codecs.string);
    implOf(m).applyDelta(
      delta({
        case: "ormap",
        value: {
          added: [
            { key: str("g"), delta: { delta: { case: "gcounter", value: { increment: 2n } } } },
            {
              key: str("m"),
              delta: { delta: { case: "ormap", value: { added: [{ key: str("f"), delta: { delta: { case: "flag", value: { value: true } } } }] } } },
            },
          ],
        },
      }),
    );
    assert.deepEqual(m.keys(), ["g", "m"]);
    const inner = m.get("m");
    assert.equal(inner?.kind, "ORMap");
    implOf(m).applyDelta(delta({ case: "ormap", value: { added: [{ key: str("g"), delta: { delta: { case: "gcounter", value: { increment: 3n } } } }] } }));
    const g = m.get("g");
    assert.equal(g?.kind === "GCounter" ? g.value : undefined, 5n, "an added key that exists is merged");
    assert.equal(take(m), undefined);
    implOf(m).applyDelta(delta({ case: "ormap", value: { cleared: true, removed: [str("x")] } }));
    assert.equal(m.size, 0);
  });

  it("refuses a value that is not a CRDT", () => {
    assert.throws(() => createORMap(codecs.string).set("k", {} as Crdt), /is not a CRDT/);
  });
});

describe("snapshots", () => {
  it("put back the value and the pending changes, nested ones included", () => {
    const m = createORMap(codecs.string);
    const set = m.getOrCreate("s", () => createORSet(codecs.string));
    implOf(m).resetDelta();
    if (set.kind === "ORSet") set.add("kept");
    const restore = implOf(m).snapshot();
    if (set.kind === "ORSet") set.add("lost");
    m.remove("s");
    m.set("t", createFlag());
    restore();
    assert.deepEqual(m.keys(), ["s"]);
    assert.deepEqual(set.kind === "ORSet" ? set.values() : undefined, ["kept"]);
    assert.deepEqual(
      take(m),
      delta({ case: "ormap", value: { updated: [{ key: str("s"), delta: { delta: { case: "orset", value: { added: [str("kept")] } } } }] } }).delta,
    );
  });
});

describe("createCrdt / createCrdtForDelta", () => {
  it("make CRDTs by name, or holding a delta", () => {
    for (const kind of ["GCounter", "PNCounter", "GSet", "ORSet", "LWWRegister", "Flag", "ORMap", "Vote"] as const) {
      const crdt = createCrdt(kind);
      assert.equal(crdt.kind, kind);
      assert.ok(isCrdt(crdt));
    }
    const made = createCrdtForDelta(delta({ case: "gset", value: { added: [str("a")] } }));
    assert.equal(made.kind, "GSet");
    assert.equal(implOf(made).delta(), undefined);
    assert.throws(() => createCrdtForDelta(delta(undefined)), /an empty CRDT delta has no CRDT type/);
    assert.throws(() => createCrdt("Nope" as "Flag"), /unknown CRDT type "Nope"/);
    assert.equal(isCrdt({ kind: "GCounter" }), false);
  });
});
