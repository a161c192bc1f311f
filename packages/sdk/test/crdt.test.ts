/**
 * The CRDT protocol on a real SDK server: the upstream TCK's CRDT model tests (CrdtEntityTCK),
 * ported case by case against the SDK's CRDT TCK model, plus the SDK's own error handling.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { CrdtStreamInSchema, CrdtStreamOut } from "@switchboard/protocol";
import { CrdtClock, CrdtStreamOutSchema, CrdtWriteConsistency } from "@switchboard/protocol";
import { crdt as model } from "@switchboard/protocol/tck";
import { CommandFailure, crdtEntity } from "../src/index.js";
import { crdtModelEntities } from "../../../test/conformance/supports/typescript-sdk/entities.js";
import {
  cancelled,
  cancelledResponse,
  command,
  deleteCrdt,
  deleteIn,
  deltaIn,
  Flag,
  failure,
  failWith,
  forwarded,
  forwardTo,
  GCounter,
  GSet,
  init,
  LWWRegister,
  merge,
  ORMap,
  ORSet,
  PNCounter,
  process,
  processStreamed,
  reply,
  requestDelete,
  requestUpdate,
  SERVICE,
  sideEffects,
  sideEffectTo,
  sorted,
  streamed,
  Vote,
} from "./support/crdt-messages.js";
import type { Harness } from "./support/harness.js";
import { startHarness } from "./support/harness.js";
import { payload } from "./support/protocol-client.js";

let h: Harness;
let n = 0;
const idFor = (type: string): string => `${type}-${++n}`;

/** The message re-read from its bytes, so byte fields are plain Uint8Arrays on both sides of a comparison. */
const plain = (out: CrdtStreamOut): CrdtStreamOut => fromBinary(CrdtStreamOutSchema, toBinary(CrdtStreamOutSchema, out));

/** A CRDT stream driven like the upstream testkit's `TestCrdtProtocol.Connection`. */
class Connection {
  readonly #session = h.client.crdt();
  #pending: Promise<void> = Promise.resolve();

  send(message: MessageInitShape<typeof CrdtStreamInSchema>): this {
    this.#session.send(message);
    return this;
  }

  /** Expects the next message to equal `expected` (both normalized by `normalize`). */
  expect(expected: CrdtStreamOut, normalize: (out: CrdtStreamOut) => CrdtStreamOut = (out) => out): this {
    this.#pending = this.#pending.then(async () => {
      assert.deepStrictEqual(normalize(plain(await this.#session.next())), normalize(plain(expected)));
    });
    return this;
  }

  /** Half-closes and expects the user function to end the stream cleanly, with nothing more. */
  async passivate(): Promise<void> {
    await this.#pending;
    this.#session.end();
    const end = await this.#session.ended;
    assert.equal(end.status.code, 0);
    assert.deepEqual(end.rest, []);
  }

  /** Expects the user function to end the stream by itself, with nothing more. */
  async expectClosed(): Promise<{ code: number }> {
    await this.#pending;
    const end = await this.#session.ended;
    assert.deepEqual(end.rest, []);
    return end.status;
  }

  async settle(): Promise<void> {
    await this.#pending;
  }
}

const connect = (): Connection => new Connection();

before(async () => {
  h = await startHarness(crdtModelEntities);
});
after(() => h.close());

describe("CRDT model: GCounter", () => {
  it("initial empty state", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id))
      .expect(reply(1, GCounter.state(0)))
      .passivate();
  });

  it("state changes are coalesced into one delta per reply", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, GCounter.incrementBy(42)))
      .expect(reply(1, GCounter.state(42), GCounter.update(42)))
      .send(process(2, id, GCounter.incrementBy(1, 2, 3)))
      .expect(reply(2, GCounter.state(48), GCounter.update(6)))
      .passivate();
  });

  it("initial delta in init", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id, GCounter.delta(42)))
      .send(process(1, id, GCounter.incrementBy(123)))
      .expect(reply(1, GCounter.state(165), GCounter.update(123)))
      .passivate();
  });

  it("initial empty state with replicated initial delta", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(deltaIn(GCounter.delta(42)))
      .send(process(1, id, GCounter.incrementBy(123)))
      .expect(reply(1, GCounter.state(165), GCounter.update(123)))
      .passivate();
  });

  it("mix of local and replicated state changes", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, GCounter.incrementBy(1)))
      .expect(reply(1, GCounter.state(1), GCounter.update(1)))
      .send(deltaIn(GCounter.delta(2)))
      .send(deltaIn(GCounter.delta(3)))
      .send(process(2, id))
      .expect(reply(2, GCounter.state(6)))
      .send(process(3, id, GCounter.incrementBy(4)))
      .expect(reply(3, GCounter.state(10), GCounter.update(4)))
      .send(deltaIn(GCounter.delta(5)))
      .send(process(4, id, GCounter.incrementBy(6)))
      .expect(reply(4, GCounter.state(21), GCounter.update(6)))
      .passivate();
  });

  it("rehydration after passivation", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, GCounter.incrementBy(1)))
      .expect(reply(1, GCounter.state(1), GCounter.update(1)))
      .send(deltaIn(GCounter.delta(2)))
      .send(process(2, id))
      .expect(reply(2, GCounter.state(3)))
      .send(process(3, id, GCounter.incrementBy(3)))
      .expect(reply(3, GCounter.state(6), GCounter.update(3)))
      .passivate();
    await connect()
      .send(init(SERVICE, id, GCounter.delta(6)))
      .send(process(1, id))
      .expect(reply(1, GCounter.state(6)))
      .send(deltaIn(GCounter.delta(4)))
      .send(process(2, id, GCounter.incrementBy(5)))
      .expect(reply(2, GCounter.state(15), GCounter.update(5)))
      .passivate();
  });

  it("delete action received from entity", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, GCounter.incrementBy(42)))
      .expect(reply(1, GCounter.state(42), GCounter.update(42)))
      .send(process(2, id, [requestDelete]))
      .expect(reply(2, GCounter.state(42), deleteCrdt))
      .passivate();
  });

  it("delete action sent to entity", async () => {
    const id = idFor("GCounter");
    await connect().send(init(SERVICE, id)).send(deleteIn).passivate();
  });
});

describe("CRDT model: PNCounter", () => {
  it("initial empty state", async () => {
    const id = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id))
      .expect(reply(1, PNCounter.state(0)))
      .passivate();
  });

  it("state changes", async () => {
    const id = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, PNCounter.changeBy(+1, -2, +3)))
      .expect(reply(1, PNCounter.state(+2), PNCounter.update(+2)))
      .send(process(2, id, PNCounter.changeBy(-4, +5, -6)))
      .expect(reply(2, PNCounter.state(-3), PNCounter.update(-5)))
      .passivate();
  });

  it("initial delta in init, and replicated", async () => {
    const a = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, a, PNCounter.delta(42)))
      .send(process(1, a, PNCounter.changeBy(-123)))
      .expect(reply(1, PNCounter.state(-81), PNCounter.update(-123)))
      .passivate();
    const b = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, b))
      .send(deltaIn(PNCounter.delta(-42)))
      .send(process(1, b, PNCounter.changeBy(+123)))
      .expect(reply(1, PNCounter.state(81), PNCounter.update(+123)))
      .passivate();
  });

  it("mix of local and replicated state changes", async () => {
    const id = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, PNCounter.changeBy(+1)))
      .expect(reply(1, PNCounter.state(+1), PNCounter.update(+1)))
      .send(deltaIn(PNCounter.delta(-2)))
      .send(deltaIn(PNCounter.delta(+3)))
      .send(process(2, id))
      .expect(reply(2, PNCounter.state(+2)))
      .send(process(3, id, PNCounter.changeBy(-4)))
      .expect(reply(3, PNCounter.state(-2), PNCounter.update(-4)))
      .send(deltaIn(PNCounter.delta(+5)))
      .send(process(4, id, PNCounter.changeBy(-6)))
      .expect(reply(4, PNCounter.state(-3), PNCounter.update(-6)))
      .passivate();
  });

  it("delete action received from entity", async () => {
    const id = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, PNCounter.changeBy(+42)))
      .expect(reply(1, PNCounter.state(+42), PNCounter.update(+42)))
      .send(process(2, id, [requestDelete]))
      .expect(reply(2, PNCounter.state(+42), deleteCrdt))
      .passivate();
  });
});

describe("CRDT model: GSet", () => {
  it("initial empty state", async () => {
    const id = idFor("GSet");
    await connect().send(init(SERVICE, id)).send(process(1, id)).expect(reply(1, GSet.state())).passivate();
  });

  it("state changes: only new elements are in the delta", async () => {
    const id = idFor("GSet");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, GSet.add("a", "b")))
      .expect(reply(1, GSet.state("a", "b"), GSet.update("a", "b")), sorted)
      .send(process(2, id, GSet.add("b", "c")))
      .expect(reply(2, GSet.state("a", "b", "c"), GSet.update("c")))
      .send(process(3, id, GSet.add("c", "a")))
      .expect(reply(3, GSet.state("a", "b", "c")))
      .passivate();
  });

  it("initial delta in init", async () => {
    const id = idFor("GSet");
    await connect()
      .send(init(SERVICE, id, GSet.delta("a", "b", "c")))
      .send(process(1, id, GSet.add("c", "d", "e")))
      .expect(reply(1, GSet.state("a", "b", "c", "d", "e"), GSet.update("d", "e")), sorted)
      .passivate();
  });

  it("mix of local and replicated state changes", async () => {
    const id = idFor("GSet");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, GSet.add("a")))
      .expect(reply(1, GSet.state("a"), GSet.update("a")))
      .send(deltaIn(GSet.delta("a")))
      .send(deltaIn(GSet.delta("b")))
      .send(deltaIn(GSet.delta("c")))
      .send(process(2, id))
      .expect(reply(2, GSet.state("a", "b", "c")))
      .send(process(3, id, GSet.add("c", "d", "e")))
      .expect(reply(3, GSet.state("a", "b", "c", "d", "e"), GSet.update("d", "e")), sorted)
      .send(deltaIn(GSet.delta("f")))
      .send(process(4, id, GSet.add("g", "d", "b")))
      .expect(reply(4, GSet.state("a", "b", "c", "d", "e", "f", "g"), GSet.update("g")))
      .passivate();
  });
});

describe("CRDT model: ORSet", () => {
  it("state changes: removes and adds net out within a delta, clear resets it", async () => {
    const id = idFor("ORSet");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, ORSet.add("a", "b")))
      .expect(reply(1, ORSet.state("a", "b"), ORSet.update({ added: ["a", "b"] })), sorted)
      .send(process(2, id, ORSet.add("b", "c")))
      .expect(reply(2, ORSet.state("a", "b", "c"), ORSet.update({ added: ["c"] })))
      .send(process(3, id, ORSet.add("c", "a")))
      .expect(reply(3, ORSet.state("a", "b", "c")))
      .send(process(4, id, ORSet.remove("b", "d")))
      .expect(reply(4, ORSet.state("a", "c"), ORSet.update({ removed: ["b"] })))
      .send(process(5, id, [...ORSet.remove("c", "d"), ...ORSet.add("b", "c")]))
      .expect(reply(5, ORSet.state("a", "b", "c"), ORSet.update({ added: ["b"] })))
      .send(process(6, id, ORSet.clear()))
      .expect(reply(6, ORSet.state(), ORSet.update({ cleared: true })))
      .send(process(7, id, [...ORSet.add("a"), ...ORSet.clear(), ...ORSet.add("x")]))
      .expect(reply(7, ORSet.state("x"), ORSet.update({ cleared: true, added: ["x"] })))
      .passivate();
  });

  it("initial delta in init, and replicated", async () => {
    const a = idFor("ORSet");
    await connect()
      .send(init(SERVICE, a, ORSet.delta({ added: ["a", "b", "c"] })))
      .send(process(1, a, [...ORSet.remove("c"), ...ORSet.add("d")]))
      .expect(reply(1, ORSet.state("a", "b", "d"), ORSet.update({ removed: ["c"], added: ["d"] })))
      .passivate();
    const b = idFor("ORSet");
    await connect()
      .send(init(SERVICE, b))
      .send(deltaIn(ORSet.delta({ added: ["x", "y"] })))
      .send(process(1, b, [...ORSet.remove("x"), ...ORSet.add("z")]))
      .expect(reply(1, ORSet.state("y", "z"), ORSet.update({ removed: ["x"], added: ["z"] })))
      .passivate();
  });

  it("mix of local and replicated state changes", async () => {
    const id = idFor("ORSet");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, ORSet.add("a")))
      .expect(reply(1, ORSet.state("a"), ORSet.update({ added: ["a"] })))
      .send(deltaIn(ORSet.delta({ added: ["a", "b"] })))
      .send(deltaIn(ORSet.delta({ added: ["c", "d"] })))
      .send(deltaIn(ORSet.delta({ removed: ["b", "d"] })))
      .send(process(2, id))
      .expect(reply(2, ORSet.state("a", "c")))
      .send(process(3, id, ORSet.add("c", "d", "e")))
      .expect(reply(3, ORSet.state("a", "c", "d", "e"), ORSet.update({ added: ["d", "e"] })), sorted)
      .send(deltaIn(ORSet.delta({ removed: ["a", "c"], added: ["f"] })))
      .send(process(4, id, [...ORSet.add("g"), ...ORSet.remove("a", "d")]))
      .expect(reply(4, ORSet.state("e", "f", "g"), ORSet.update({ removed: ["d"], added: ["g"] })))
      .send(deltaIn(ORSet.delta({ cleared: true, added: ["x", "y", "z"] })))
      .send(process(5, id, [...ORSet.add("q", "x"), ...ORSet.remove("z")]))
      .expect(reply(5, ORSet.state("q", "x", "y"), ORSet.update({ removed: ["z"], added: ["q"] })))
      .send(deltaIn(ORSet.delta({ removed: ["x", "y"], added: ["r", "p"] })))
      .send(process(6, id, ORSet.add("s")))
      .expect(reply(6, ORSet.state("p", "q", "r", "s"), ORSet.update({ added: ["s"] })))
      .send(deltaIn(ORSet.delta({ added: ["a", "b", "c"] })))
      .send(process(7, id, [...ORSet.clear(), ...ORSet.add("abc")]))
      .expect(reply(7, ORSet.state("abc"), ORSet.update({ cleared: true, added: ["abc"] })))
      .passivate();
  });

  it("rehydration after passivation", async () => {
    const id = idFor("ORSet");
    await connect()
      .send(init(SERVICE, id, ORSet.delta({ added: ["b", "c"] })))
      .send(process(1, id))
      .expect(reply(1, ORSet.state("b", "c")))
      .send(deltaIn(ORSet.delta({ cleared: true, added: ["p", "q"] })))
      .send(process(2, id, [...ORSet.add("x", "y"), ...ORSet.remove("x")]))
      .expect(reply(2, ORSet.state("p", "q", "y"), ORSet.update({ added: ["y"] })))
      .passivate();
  });
});

describe("CRDT model: LWWRegister", () => {
  it("initial empty state: the register's initial write goes with the first reply", async () => {
    const id = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id))
      .expect(reply(1, LWWRegister.state(""), LWWRegister.update("")))
      .passivate();
  });

  it("state changes", async () => {
    const id = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, LWWRegister.setTo("one")))
      .expect(reply(1, LWWRegister.state("one"), LWWRegister.update("one")))
      .send(process(2, id, LWWRegister.setTo("two")))
      .expect(reply(2, LWWRegister.state("two"), LWWRegister.update("two")))
      .passivate();
  });

  it("initial delta in init, and replicated: no initial write", async () => {
    const a = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, a, LWWRegister.delta("one")))
      .send(process(1, a))
      .expect(reply(1, LWWRegister.state("one")))
      .passivate();
    const b = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, b))
      .send(deltaIn(LWWRegister.delta("one")))
      .send(process(1, b))
      .expect(reply(1, LWWRegister.state("one")))
      .passivate();
  });

  it("mix of local and replicated state changes", async () => {
    const id = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, LWWRegister.setTo("A")))
      .expect(reply(1, LWWRegister.state("A"), LWWRegister.update("A")))
      .send(deltaIn(LWWRegister.delta("B")))
      .send(deltaIn(LWWRegister.delta("C")))
      .send(process(2, id))
      .expect(reply(2, LWWRegister.state("C")))
      .send(process(3, id, LWWRegister.setTo("D")))
      .expect(reply(3, LWWRegister.state("D"), LWWRegister.update("D")))
      .send(deltaIn(LWWRegister.delta("D")))
      .send(process(4, id, LWWRegister.setTo("E")))
      .expect(reply(4, LWWRegister.state("E"), LWWRegister.update("E")))
      .passivate();
  });

  it("state changes with clock settings", async () => {
    const id = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, LWWRegister.setTo("A", model.LWWRegisterClockType.REVERSE)))
      .expect(reply(1, LWWRegister.state("A"), LWWRegister.update("A", CrdtClock.REVERSE)))
      .send(process(2, id, LWWRegister.setTo("A", model.LWWRegisterClockType.CUSTOM, 123n)))
      .expect(reply(2, LWWRegister.state("A"), LWWRegister.update("A", CrdtClock.CUSTOM, 123n)))
      .send(process(3, id, LWWRegister.setTo("A", model.LWWRegisterClockType.CUSTOM_AUTO_INCREMENT, 456n)))
      .expect(reply(3, LWWRegister.state("A"), LWWRegister.update("A", CrdtClock.CUSTOM_AUTO_INCREMENT, 456n)))
      .passivate();
  });
});

describe("CRDT model: Flag", () => {
  it("initial empty state, state changes, and no delta when already on", async () => {
    const id = idFor("Flag");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id))
      .expect(reply(1, Flag.state(false)))
      .send(process(2, id, Flag.enable()))
      .expect(reply(2, Flag.state(true), Flag.update(true)))
      .send(process(3, id, Flag.enable()))
      .expect(reply(3, Flag.state(true)))
      .passivate();
  });

  it("mix of local and replicated state changes: a flag stays on", async () => {
    const id = idFor("Flag");
    await connect()
      .send(init(SERVICE, id))
      .send(deltaIn(Flag.delta(false)))
      .send(process(1, id))
      .expect(reply(1, Flag.state(false)))
      .send(process(2, id, Flag.enable()))
      .expect(reply(2, Flag.state(true), Flag.update(true)))
      .send(deltaIn(Flag.delta(true)))
      .send(deltaIn(Flag.delta(false)))
      .send(process(3, id))
      .expect(reply(3, Flag.state(true)))
      .passivate();
    await connect()
      .send(init(SERVICE, id, Flag.delta(true)))
      .send(process(1, id))
      .expect(reply(1, Flag.state(true)))
      .passivate();
  });
});

describe("CRDT model: ORMap", () => {
  it("state changes: added, updated, removed and cleared entries, nested deltas", async () => {
    const id = idFor("ORMap");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, ORMap.add("PNCounter-1", "ORSet-1")))
      .expect(
        reply(
          1,
          ORMap.state(["ORSet-1", ORSet.state()], ["PNCounter-1", PNCounter.state(0)]),
          ORMap.update({
            added: [
              ["ORSet-1", ORSet.update()],
              ["PNCounter-1", PNCounter.update(0)],
            ],
          }),
        ),
        sorted,
      )
      .send(process(2, id, [...ORMap.add("ORSet-1"), ...ORMap.updateWith(["LWWRegister-1", LWWRegister.setTo("zero")])]))
      .expect(
        reply(
          2,
          ORMap.state(["LWWRegister-1", LWWRegister.state("zero")], ["ORSet-1", ORSet.state()], ["PNCounter-1", PNCounter.state(0)]),
          ORMap.update({ added: [["LWWRegister-1", LWWRegister.update("zero")]] }),
        ),
        sorted,
      )
      .send(process(3, id, ORMap.updateWith(["PNCounter-1", PNCounter.changeBy(+42)], ["LWWRegister-1", LWWRegister.setTo("one")])))
      .expect(
        reply(
          3,
          ORMap.state(["LWWRegister-1", LWWRegister.state("one")], ["ORSet-1", ORSet.state()], ["PNCounter-1", PNCounter.state(+42)]),
          ORMap.update({
            updated: [
              ["LWWRegister-1", LWWRegister.update("one")],
              ["PNCounter-1", PNCounter.update(+42)],
            ],
          }),
        ),
        sorted,
      )
      .send(process(4, id, ORMap.updateWith(["ORSet-1", ORSet.add("a", "b", "c")])))
      .expect(
        reply(
          4,
          ORMap.state(["LWWRegister-1", LWWRegister.state("one")], ["ORSet-1", ORSet.state("a", "b", "c")], ["PNCounter-1", PNCounter.state(+42)]),
          ORMap.update({ updated: [["ORSet-1", ORSet.update({ added: ["a", "b", "c"] })]] }),
        ),
        sorted,
      )
      .send(
        process(
          5,
          id,
          ORMap.updateWith(
            ["ORSet-1", [...ORSet.remove("b"), ...ORSet.add("d")]],
            ["PNCounter-1", PNCounter.changeBy(-123)],
            ["LWWRegister-1", LWWRegister.setTo("two")],
          ),
        ),
      )
      .expect(
        reply(
          5,
          ORMap.state(["LWWRegister-1", LWWRegister.state("two")], ["ORSet-1", ORSet.state("a", "c", "d")], ["PNCounter-1", PNCounter.state(-81)]),
          ORMap.update({
            updated: [
              ["LWWRegister-1", LWWRegister.update("two")],
              ["ORSet-1", ORSet.update({ removed: ["b"], added: ["d"] })],
              ["PNCounter-1", PNCounter.update(-123)],
            ],
          }),
        ),
        sorted,
      )
      .send(process(6, id, ORMap.remove("ORSet-1")))
      .expect(
        reply(6, ORMap.state(["LWWRegister-1", LWWRegister.state("two")], ["PNCounter-1", PNCounter.state(-81)]), ORMap.update({ removed: ["ORSet-1"] })),
        sorted,
      )
      .send(process(7, id, [...ORMap.remove("LWWRegister-1"), ...ORMap.updateWith(["Flag-1", Flag.enable()])]))
      .expect(
        reply(
          7,
          ORMap.state(["Flag-1", Flag.state(true)], ["PNCounter-1", PNCounter.state(-81)]),
          ORMap.update({ removed: ["LWWRegister-1"], added: [["Flag-1", Flag.update(true)]] }),
        ),
        sorted,
      )
      .send(process(8, id, ORMap.clear()))
      .expect(reply(8, ORMap.state(), ORMap.update({ cleared: true })))
      .send(process(9, id, [...ORMap.add("PNCounter-2"), ...ORMap.clear(), ...ORMap.updateWith(["GCounter-1", GCounter.incrementBy(123)])]))
      .expect(
        reply(9, ORMap.state(["GCounter-1", GCounter.state(123)]), ORMap.update({ cleared: true, added: [["GCounter-1", GCounter.update(123)]] })),
        sorted,
      )
      .passivate();
  });

  it("initial delta in init", async () => {
    const id = idFor("ORMap");
    await connect()
      .send(
        init(
          SERVICE,
          id,
          ORMap.delta({
            added: [
              ["PNCounter-1", PNCounter.delta(+123)],
              ["LWWRegister-1", LWWRegister.delta("one")],
              ["GSet-1", GSet.delta("a", "b", "c")],
            ],
          }),
        ),
      )
      .send(process(1, id))
      .expect(reply(1, ORMap.state(["GSet-1", GSet.state("a", "b", "c")], ["LWWRegister-1", LWWRegister.state("one")], ["PNCounter-1", PNCounter.state(+123)])))
      .send(process(2, id, [...ORMap.remove("LWWRegister-1"), ...ORMap.updateWith(["PNCounter-1", PNCounter.changeBy(-42)])]))
      .expect(
        reply(
          2,
          ORMap.state(["GSet-1", GSet.state("a", "b", "c")], ["PNCounter-1", PNCounter.state(+81)]),
          ORMap.update({ removed: ["LWWRegister-1"], updated: [["PNCounter-1", PNCounter.update(-42)]] }),
        ),
        sorted,
      )
      .passivate();
  });

  it("mix of local and replicated state changes, nested maps included", async () => {
    const id = idFor("ORMap");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, ORMap.add("PNCounter-1")))
      .expect(reply(1, ORMap.state(["PNCounter-1", PNCounter.state(0)]), ORMap.update({ added: [["PNCounter-1", PNCounter.update(0)]] })), sorted)
      .send(deltaIn(ORMap.delta({ added: [["ORSet-1", ORSet.delta({ added: ["x"] })]] })))
      .send(deltaIn(ORMap.delta({ added: [["LWWRegister-1", LWWRegister.delta("one")]], updated: [["ORSet-1", ORSet.delta({ added: ["y", "z"] })]] })))
      .send(process(2, id, [...ORMap.add("ORSet-2"), ...ORMap.updateWith(["LWWRegister-2", LWWRegister.setTo("two")])]))
      .expect(
        reply(
          2,
          ORMap.state(
            ["LWWRegister-1", LWWRegister.state("one")],
            ["LWWRegister-2", LWWRegister.state("two")],
            ["ORSet-1", ORSet.state("x", "y", "z")],
            ["ORSet-2", ORSet.state()],
            ["PNCounter-1", PNCounter.state(0)],
          ),
          ORMap.update({
            added: [
              ["LWWRegister-2", LWWRegister.update("two")],
              ["ORSet-2", ORSet.update()],
            ],
          }),
        ),
        sorted,
      )
      .send(deltaIn(ORMap.delta({ removed: ["LWWRegister-2"], added: [["ORMap-1", ORMap.delta({ added: [["PNCounter-1", PNCounter.delta(+123)]] })]] })))
      .send(
        deltaIn(
          ORMap.delta({
            removed: ["ORSet-1"],
            updated: [
              ["ORSet-2", ORSet.delta({ added: ["a", "b", "c"] })],
              ["ORMap-1", ORMap.delta({ added: [["LWWRegister-1", LWWRegister.delta("ABC")]] })],
            ],
          }),
        ),
      )
      .send(process(3, id, ORMap.updateWith(["ORMap-1", ORMap.updateWith(["PNCounter-1", PNCounter.changeBy(-456)])])))
      .expect(
        reply(
          3,
          ORMap.state(
            ["LWWRegister-1", LWWRegister.state("one")],
            ["ORMap-1", ORMap.state(["LWWRegister-1", LWWRegister.state("ABC")], ["PNCounter-1", PNCounter.state(-333)])],
            ["ORSet-2", ORSet.state("a", "b", "c")],
            ["PNCounter-1", PNCounter.state(0)],
          ),
          ORMap.update({ updated: [["ORMap-1", ORMap.update({ updated: [["PNCounter-1", PNCounter.update(-456)]] })]] }),
        ),
        sorted,
      )
      .send(deltaIn(ORMap.delta({ cleared: true, added: [["GSet-1", GSet.delta("1", "2", "3")]] })))
      .send(process(4, id, [...ORMap.remove("PNCounter-1", "LWWRegister-1"), ...ORMap.updateWith(["GSet-1", GSet.add("2", "4", "6")])]))
      .expect(reply(4, ORMap.state(["GSet-1", GSet.state("1", "2", "3", "4", "6")]), ORMap.update({ updated: [["GSet-1", GSet.update("4", "6")]] })), sorted)
      .send(process(5, id, [...ORMap.clear(), ...ORMap.add("GCounter-1")]))
      .expect(reply(5, ORMap.state(["GCounter-1", GCounter.state(0)]), ORMap.update({ cleared: true, added: [["GCounter-1", GCounter.update(0)]] })))
      .send(deltaIn(ORMap.delta({ removed: ["GSet-1"], added: [["GCounter-1", GCounter.delta(42)]] })))
      .send(process(6, id, ORMap.updateWith(["GCounter-1", GCounter.incrementBy(7)])))
      .expect(reply(6, ORMap.state(["GCounter-1", GCounter.state(49)]), ORMap.update({ updated: [["GCounter-1", GCounter.update(7)]] })))
      .passivate();
  });

  it("delete action received from entity: only the delete is sent", async () => {
    const id = idFor("ORMap");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, ORMap.add("Flag-1")))
      .expect(reply(1, ORMap.state(["Flag-1", Flag.state(false)]), ORMap.update({ added: [["Flag-1", Flag.update(false)]] })))
      .send(process(2, id, [...ORMap.updateWith(["Flag-1", Flag.enable()]), requestDelete]))
      .expect(reply(2, ORMap.state(["Flag-1", Flag.state(true)]), deleteCrdt))
      .passivate();
  });
});

describe("CRDT model: Vote", () => {
  it("initial empty state and state changes", async () => {
    const id = idFor("Vote");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id))
      .expect(reply(1, Vote.state(false, 0, 1)))
      .send(process(2, id, Vote.self(true)))
      .expect(reply(2, Vote.state(true, 1, 1), Vote.update(true)))
      .send(process(3, id, Vote.self(true)))
      .expect(reply(3, Vote.state(true, 1, 1)))
      .send(process(4, id, Vote.self(false)))
      .expect(reply(4, Vote.state(false, 0, 1), Vote.update(false)))
      .passivate();
  });

  it("initial delta in init, and mix of local and replicated state changes", async () => {
    const id = idFor("Vote");
    await connect()
      .send(init(SERVICE, id, Vote.delta(true, 2, 3)))
      .send(process(1, id))
      .expect(reply(1, Vote.state(true, 2, 3)))
      .send(process(2, id, Vote.self(false)))
      .expect(reply(2, Vote.state(false, 1, 3), Vote.update(false)))
      .passivate();
    const other = idFor("Vote");
    await connect()
      .send(init(SERVICE, other))
      .send(deltaIn(Vote.delta(false, 2, 4)))
      .send(process(1, other, Vote.self(true)))
      .expect(reply(1, Vote.state(true, 3, 4), Vote.update(true)))
      .send(deltaIn(Vote.delta(true, 5, 7)))
      .send(deltaIn(Vote.delta(true, 4, 6)))
      .send(process(2, other, Vote.self(false)))
      .expect(reply(2, Vote.state(false, 3, 6), Vote.update(false)))
      .passivate();
  });
});

describe("CRDT model: forwards, side effects, failures, write consistency", () => {
  it("forward with state changes, and forward with a side effect and the initial write", async () => {
    const a = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, a))
      .send(process(1, a, [...PNCounter.changeBy(-42), forwardTo(`X-${a}`)]))
      .expect(forwarded(1, `X-${a}`, PNCounter.update(-42)))
      .passivate();
    const b = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, b))
      .send(process(1, b, [sideEffectTo(`B-${b}`), forwardTo(`A-${b}`)]))
      .expect(forwarded(1, `A-${b}`, merge(LWWRegister.update(""), sideEffects(false, `B-${b}`))))
      .passivate();
  });

  it("reply with side effects and state changes", async () => {
    const id = idFor("ORMap");
    const actions = [
      ...ORMap.add("PNCounter-1"),
      ...ORMap.updateWith(["GSet-1", GSet.add("a", "b", "c")]),
      sideEffectTo("1"),
      sideEffectTo("2", true),
      sideEffectTo("3"),
    ];
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, actions))
      .expect(
        reply(
          1,
          ORMap.state(["GSet-1", GSet.state("a", "b", "c")], ["PNCounter-1", PNCounter.state(0)]),
          merge(
            ORMap.update({
              added: [
                ["GSet-1", GSet.update("a", "b", "c")],
                ["PNCounter-1", PNCounter.update(0)],
              ],
            }),
            sideEffects(false, "1"),
            sideEffects(true, "2"),
            sideEffects(false, "3"),
          ),
        ),
        sorted,
      )
      .passivate();
  });

  it("fails a command without its changes or side effects, and the stream goes on", async () => {
    const id = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, PNCounter.changeBy(+42)))
      .expect(reply(1, PNCounter.state(+42), PNCounter.update(+42)))
      .send(process(2, id, [...PNCounter.changeBy(+1), sideEffectTo("x"), failWith("expected failure")]))
      .expect(failure(2, "expected failure"))
      .send(process(3, id))
      .expect(reply(3, PNCounter.state(+42)))
      .passivate();
  });

  it("undoes the CRDT a failed first command made", async () => {
    const id = idFor("LWWRegister");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, [...LWWRegister.setTo("lost"), failWith("no")]))
      .expect(failure(1, "no"))
      .send(process(2, id))
      .expect(reply(2, LWWRegister.state(""), LWWRegister.update("")))
      .passivate();
  });

  it("passes the write consistency through", async () => {
    const id = idFor("GCounter");
    const incrementWith = (value: number, writeConsistency: model.UpdateWriteConsistency) => [
      requestUpdate({ ...GCounter.updateWith(value), writeConsistency }),
    ];
    const updateWith = (value: number, writeConsistency: CrdtWriteConsistency) => ({ stateAction: { update: GCounter.delta(value), writeConsistency } });
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, incrementWith(1, model.UpdateWriteConsistency.LOCAL)))
      .expect(reply(1, GCounter.state(1), updateWith(1, CrdtWriteConsistency.LOCAL)))
      .send(process(2, id, incrementWith(2, model.UpdateWriteConsistency.MAJORITY)))
      .expect(reply(2, GCounter.state(3), updateWith(2, CrdtWriteConsistency.MAJORITY)))
      .send(process(3, id, incrementWith(3, model.UpdateWriteConsistency.ALL)))
      .expect(reply(3, GCounter.state(6), updateWith(3, CrdtWriteConsistency.ALL)))
      .passivate();
  });
});

describe("CRDT model: every type", () => {
  for (const type of ["GCounter", "PNCounter", "GSet", "ORSet", "LWWRegister", "Flag", "ORMap", "Vote"]) {
    it(`${type}: delete action sent to entity`, async () => {
      const id = idFor(type);
      await connect().send(init(SERVICE, id)).send(deleteIn).passivate();
    });
  }

  const received: [string, MessageInitShape<typeof model.RequestActionSchema>[], ReturnType<typeof reply>, ReturnType<typeof reply>][] = [
    ["GSet", GSet.add("x"), reply(1, GSet.state("x"), GSet.update("x")), reply(2, GSet.state("x"), deleteCrdt)],
    ["ORSet", ORSet.add("x"), reply(1, ORSet.state("x"), ORSet.update({ added: ["x"] })), reply(2, ORSet.state("x"), deleteCrdt)],
    ["LWWRegister", LWWRegister.setTo("one"), reply(1, LWWRegister.state("one"), LWWRegister.update("one")), reply(2, LWWRegister.state("one"), deleteCrdt)],
    ["Flag", Flag.enable(), reply(1, Flag.state(true), Flag.update(true)), reply(2, Flag.state(true), deleteCrdt)],
    ["Vote", Vote.self(true), reply(1, Vote.state(true, 1, 1), Vote.update(true)), reply(2, Vote.state(true, 1, 1), deleteCrdt)],
  ];
  for (const [type, change, changed, deleted] of received) {
    it(`${type}: delete action received from entity`, async () => {
      const id = idFor(type);
      await connect()
        .send(init(SERVICE, id))
        .send(process(1, id, change))
        .expect(changed)
        .send(process(2, id, [requestDelete]))
        .expect(deleted)
        .passivate();
    });
  }

  it("ORMap: initial empty state with replicated initial delta, and rehydration", async () => {
    const id = idFor("ORMap");
    await connect()
      .send(init(SERVICE, id))
      .send(
        deltaIn(
          ORMap.delta({
            added: [
              ["GCounter-1", GCounter.delta(42)],
              ["ORSet-1", ORSet.delta({ added: ["a", "b", "c"] })],
              ["Flag-1", Flag.delta(false)],
            ],
          }),
        ),
      )
      .send(process(1, id))
      .expect(reply(1, ORMap.state(["Flag-1", Flag.state(false)], ["GCounter-1", GCounter.state(42)], ["ORSet-1", ORSet.state("a", "b", "c")])))
      .passivate();
    const other = idFor("ORMap");
    await connect()
      .send(init(SERVICE, other, ORMap.delta({ added: [["PNCounter-1", PNCounter.delta(+444)]] })))
      .send(process(1, other))
      .expect(reply(1, ORMap.state(["PNCounter-1", PNCounter.state(+444)])))
      .send(deltaIn(ORMap.delta({ updated: [["PNCounter-1", PNCounter.delta(-42)]] })))
      .send(process(2, other, ORMap.updateWith(["PNCounter-1", PNCounter.changeBy(-360)])))
      .expect(reply(2, ORMap.state(["PNCounter-1", PNCounter.state(+42)]), ORMap.update({ updated: [["PNCounter-1", PNCounter.update(-360)]] })))
      .passivate();
  });

  it("Vote: rehydration after passivation", async () => {
    const id = idFor("Vote");
    await connect()
      .send(init(SERVICE, id, Vote.delta(true, 3, 5)))
      .send(process(1, id))
      .expect(reply(1, Vote.state(true, 3, 5)))
      .send(process(2, id, Vote.self(false)))
      .expect(reply(2, Vote.state(false, 2, 5), Vote.update(false)))
      .passivate();
  });

  it("forward to second service, and side effects with a reply", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, GCounter.incrementBy(42)))
      .expect(reply(1, GCounter.state(42), GCounter.update(42)))
      .send(process(2, id, [forwardTo(`X-${id}`)]))
      .expect(forwarded(2, `X-${id}`))
      .send(process(3, id, [sideEffectTo(`X-${id}`, true)]))
      .expect(reply(3, GCounter.state(42), sideEffects(true, `X-${id}`)))
      .send(process(4, id, [sideEffectTo("1"), sideEffectTo("2"), sideEffectTo("3")]))
      .expect(reply(4, GCounter.state(42), sideEffects(false, "1", "2", "3")))
      .passivate();
  });
});

describe("CRDT model: streamed calls", () => {
  it("streams the state after every later change", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(processStreamed(1, id))
      .expect(reply(1, GCounter.state(0), { streamed: true }))
      .send(process(2, id, GCounter.incrementBy(1)))
      .expect(reply(2, GCounter.state(1), GCounter.update(1)))
      .expect(streamed(1, GCounter.state(1)))
      .send(process(3, id, GCounter.incrementBy(2)))
      .expect(reply(3, GCounter.state(3), GCounter.update(2)))
      .expect(streamed(1, GCounter.state(3)))
      .send(deltaIn(GCounter.delta(4)))
      .expect(streamed(1, GCounter.state(7)))
      .send(process(4, id))
      .expect(reply(4, GCounter.state(7)))
      .passivate();
  });

  it("ends the stream when the end state is reached", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(processStreamed(1, id, { endState: GCounter.state(3) }))
      .expect(reply(1, GCounter.state(0), { streamed: true }))
      .send(process(2, id, GCounter.incrementBy(1)))
      .expect(reply(2, GCounter.state(1), GCounter.update(1)))
      .expect(streamed(1, GCounter.state(1)))
      .send(process(3, id, GCounter.incrementBy(2)))
      .expect(reply(3, GCounter.state(3), GCounter.update(2)))
      .expect(streamed(1, GCounter.state(3), { endStream: true }))
      .send(process(4, id, GCounter.incrementBy(3)))
      .expect(reply(4, GCounter.state(6), GCounter.update(3)))
      .passivate();
  });

  it("applies the cancel update on cancellation", async () => {
    const id = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(processStreamed(1, id, { cancelUpdate: PNCounter.updateWith(-42) }))
      .expect(reply(1, PNCounter.state(0), { streamed: true }))
      .send(process(2, id, PNCounter.changeBy(+10)))
      .expect(reply(2, PNCounter.state(+10), PNCounter.update(+10)))
      .expect(streamed(1, PNCounter.state(+10)))
      .send(cancelled(1, id))
      .expect(cancelledResponse(1, PNCounter.update(-42)))
      .send(process(3, id))
      .expect(reply(3, PNCounter.state(-32)))
      .passivate();
  });

  it("empty streamed responses with cancellation", async () => {
    const id = idFor("PNCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(process(1, id, PNCounter.changeBy(+10)))
      .expect(reply(1, PNCounter.state(+10), PNCounter.update(+10)))
      .send(processStreamed(2, id, { cancelUpdate: PNCounter.updateWith(-42), empty: true }))
      .expect(reply(2, undefined, { streamed: true }))
      .send(cancelled(2, id))
      .expect(cancelledResponse(2, PNCounter.update(-42)))
      .send(process(3, id))
      .expect(reply(3, PNCounter.state(-32)))
      .passivate();
  });

  it("sends side effects with every streamed message", async () => {
    const id = idFor("GSet");
    const effects = merge(sideEffects(false, "one"), sideEffects(true, "two"));
    await connect()
      .send(init(SERVICE, id))
      .send(processStreamed(1, id, { effects: [{ id: "one" }, { id: "two", synchronous: true }] }))
      .expect(reply(1, GSet.state(), { streamed: true }))
      .send(process(2, id, GSet.add("a")))
      .expect(reply(2, GSet.state("a"), GSet.update("a")))
      .expect(streamed(1, GSet.state("a"), effects))
      .passivate();
  });

  it("tracks connections with a Vote: changes of one call and of cancellations reach the others", async () => {
    const id = idFor("Vote");
    const state0 = Vote.state(false, 0, 1);
    const state1 = Vote.state(true, 1, 1);
    await connect()
      .send(init(SERVICE, id))
      .send(processStreamed(1, id))
      .expect(reply(1, state0, { streamed: true }))
      .send(processStreamed(2, id, { initialUpdate: Vote.updateWith(true), cancelUpdate: Vote.updateWith(false), empty: true }))
      .expect(reply(2, undefined, merge({ streamed: true }, Vote.update(true))))
      .expect(streamed(1, state1))
      .send(cancelled(2, id))
      .expect(cancelledResponse(2, Vote.update(false)))
      .expect(streamed(1, state0))
      .send(cancelled(1, id))
      .expect(cancelledResponse(1))
      .send(process(3, id, [requestDelete]))
      .expect(reply(3, state0, deleteCrdt))
      .passivate();
  });

  it("answers a non-streamed call of a streaming method with one reply", async () => {
    const id = idFor("GCounter");
    await connect()
      .send(init(SERVICE, id))
      .send(command(1, id, "ProcessStreamed", payload(model.StreamedRequestSchema, { id }), false))
      .expect(reply(1, GCounter.state(0)))
      .send(process(2, id, GCounter.incrementBy(1)))
      .expect(reply(2, GCounter.state(1), GCounter.update(1)))
      .passivate();
  });
});

describe("CRDT runtime errors", () => {
  it("fails the stream on a crash: top-level failure with the command id, then the stream ends", async () => {
    const id = idFor("GCounter");
    const s = h.client.crdt();
    s.send(init(SERVICE, id));
    s.send(process(1, id, [...GCounter.incrementBy(1), failWith("crash:boom")]));
    const out = await s.next();
    assert.equal(out.message.case, "failure");
    assert.equal(out.message.case === "failure" ? out.message.value.commandId : 0n, 1n);
    assert.equal(out.message.case === "failure" ? out.message.value.description : "", "cloudstate.tck.model.crdt.CrdtTckModel.Process failed: boom");
    const end = await s.ended;
    assert.equal(end.status.code, 0);
    assert.deepEqual(end.rest, []);
    assert.ok(h.logs.some((l) => l.level === "error" && l.error instanceof Error && l.error.message === "boom"));
  });

  it("fails the stream for a delta of another CRDT type", async () => {
    const id = idFor("GCounter");
    const s = h.client.crdt();
    s.send(init(SERVICE, id, PNCounter.delta(1)));
    const out = await s.next();
    assert.equal(out.message.case, "failure");
    assert.match(out.message.case === "failure" ? out.message.value.description : "", /holds a GCounter; the proxy sent a pncounter delta/);
    await s.ended;
  });

  it("fails the command after the CRDT was deleted by the proxy", async () => {
    const id = idFor("GCounter");
    const s = h.client.crdt();
    s.send(init(SERVICE, id, GCounter.delta(1)));
    s.send(deleteIn);
    s.send(process(1, id));
    const out = await s.next();
    assert.equal(out.message.case, "reply");
    const action = out.message.case === "reply" ? out.message.value.clientAction?.action : undefined;
    assert.equal(action?.case, "failure");
    assert.match(action?.case === "failure" ? action.value.description : "", /the entity was deleted/);
    s.end();
    await s.ended;
  });
});

describe("CRDT streamed call rules", () => {
  // An entity on the model's service with behaviours the TCK does not have, picked by the
  // streamed request's first effect id.
  const rules = crdtEntity({
    service: model.CrdtTckModel,
    crdt: "GCounter",
    persistenceId: "rules",
    handlers: {
      process(request, ctx) {
        for (const { action } of request.actions) {
          if (action.case === "update" && action.value.update.case === "gcounter") ctx.state.increment(action.value.update.value.increment);
        }
        return {};
      },
      processStreamed(request, ctx) {
        const behaviour = request.effects[0]?.id;
        ctx.onStateChange((counter, stream) => {
          if (behaviour === "mutate") counter.increment(1);
          if (behaviour === "fail") return new CommandFailure(`failed at ${counter.value}`);
          if (behaviour === "forward") return stream.forward(model.CrdtTwo.method.call, { id: String(counter.value) });
          return undefined;
        });
        ctx.onCancel(async (counter) => {
          if (behaviour === "cancel-fail") throw new CommandFailure("cannot leave");
          await new Promise((resolve) => setTimeout(resolve, 10));
          counter.increment(100);
        });
        return {};
      },
    },
  });
  let r: Harness;
  before(async () => {
    r = await startHarness([rules]);
  });
  after(() => r.close());

  const streamedRequest = (id: number, entityId: string, behaviour: string) =>
    command(id, entityId, "ProcessStreamed", payload(model.StreamedRequestSchema, { id: entityId, effects: [{ id: behaviour }] }), true);
  const increment = (id: number, entityId: string) =>
    command(id, entityId, "Process", payload(model.RequestSchema, { id: entityId, actions: GCounter.incrementBy(1) }));

  it("ends a call whose onStateChange fails, with the failure", async () => {
    const s = r.client.crdt();
    s.send(init(SERVICE, "f"));
    s.send(streamedRequest(1, "f", "fail"));
    s.send(increment(2, "f"));
    s.send(increment(3, "f"));
    assert.equal((await s.next()).message.case, "reply");
    assert.equal((await s.next()).message.case, "reply");
    const failed = await s.next();
    assert.equal(failed.message.case, "streamedMessage");
    const message = failed.message.case === "streamedMessage" ? failed.message.value : undefined;
    assert.equal(message?.endStream, true);
    assert.equal(message?.clientAction?.action.case === "failure" ? message.clientAction.action.value.description : undefined, "failed at 1");
    assert.equal((await s.next()).message.case, "reply", "the ended call hears of no more changes");
    s.end();
    assert.deepEqual((await s.ended).rest, []);
  });

  it("streams forwards", async () => {
    const s = r.client.crdt();
    s.send(init(SERVICE, "w"));
    s.send(streamedRequest(1, "w", "forward"));
    s.send(increment(2, "w"));
    await s.next();
    await s.next();
    const out = await s.next();
    const action = out.message.case === "streamedMessage" ? out.message.value.clientAction?.action : undefined;
    assert.equal(action?.case === "forward" ? action.value.commandName : undefined, "Call");
    s.end();
    await s.ended;
  });

  it("fails the stream when onStateChange changes the CRDT", async () => {
    const s = r.client.crdt();
    s.send(init(SERVICE, "m"));
    s.send(streamedRequest(1, "m", "mutate"));
    s.send(increment(2, "m"));
    await s.next();
    assert.equal((await s.next()).message.case, "reply");
    const out = await s.next();
    assert.equal(out.message.case, "failure");
    assert.match(out.message.case === "failure" ? out.message.value.description : "", /changed the CRDT; it may only read it/);
    assert.equal(out.message.case === "failure" ? out.message.value.commandId : 0n, 1n);
    assert.equal((await s.ended).status.code, 0);
  });

  it("waits for an async onCancel, and answers a failed one with a failure for that call", async () => {
    const s = r.client.crdt();
    s.send(init(SERVICE, "c"));
    s.send(streamedRequest(1, "c", "async"));
    s.send(streamedRequest(2, "c", "cancel-fail"));
    await s.next();
    await s.next();
    s.send(cancelled(1, "c"));
    const response = await s.next();
    assert.equal(response.message.case, "streamCancelledResponse");
    const delta = response.message.case === "streamCancelledResponse" ? response.message.value.stateAction?.action : undefined;
    assert.equal(delta?.case === "update" && delta.value.delta.case === "gcounter" ? delta.value.delta.value.increment : undefined, 100n);
    s.send(cancelled(2, "c"));
    const failed = await s.next();
    assert.equal(failed.message.case, "failure");
    assert.equal(failed.message.case === "failure" ? [failed.message.value.commandId, failed.message.value.description].join(" ") : "", "2 cannot leave");
    s.send(cancelled(9, "c"));
    assert.deepEqual(await s.next(), cancelledResponse(9), "an unknown call's cancellation is answered empty");
    s.end();
    await s.ended;
  });

  it("handles commands sent without waiting, one at a time and in order", async () => {
    const s = r.client.crdt();
    s.send(init(SERVICE, "p"));
    for (let id = 1; id <= 20; id++) s.send(increment(id, "p"));
    for (let id = 1; id <= 20; id++) {
      const out = await s.next();
      assert.equal(out.message.case === "reply" ? out.message.value.commandId : 0n, BigInt(id));
    }
    s.end();
    await s.ended;
  });
});
