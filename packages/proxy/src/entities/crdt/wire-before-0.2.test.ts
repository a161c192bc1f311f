import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type CrdtDelta, CrdtDeltaSchema, CrdtStreamInSchema, CrdtStreamOutSchema, CrdtWriteConsistency } from "@switchboard/protocol";
import { crdtBefore02 as older } from "@switchboard/protocol/older";
import fc from "fast-check";
import { KINDS, NODES, runSchedule, scheduleArb, testReplica } from "./arbitraries.fixture.js";
import { applyDelta, CRDT_OPS, initDelta } from "./state.js";
import {
  CRDT_HANDLE_BEFORE_0_2,
  createCrdtTranslation,
  deltaFromState,
  fromOlderStreamOut,
  speaksCrdtBefore02,
  stateFromEmpty,
  toOlderStreamIn,
} from "./wire-before-0.2.js";

// A protobuf writer of our own, so the expected older-wire bytes do not come from the
// generated schema under test: field numbers here are the ones java-support 0.5.2 uses.
const varint = (n: bigint): number[] => {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return out;
};
type Bytes = number[];
const num = (field: number, n: number | bigint): Bytes => [...varint(BigInt(field << 3)), ...varint(BigInt(n))];
const zigzag = (field: number, n: bigint): Bytes => num(field, n >= 0n ? n * 2n : -n * 2n - 1n);
const len = (field: number, ...parts: Bytes[]): Bytes => {
  const body = parts.flat();
  return [...varint(BigInt((field << 3) | 2)), ...varint(BigInt(body.length)), ...body];
};
const str = (field: number, s: string): Bytes => len(field, [...Buffer.from(s, "utf8")]);
/** A `google.protobuf.Any` holding a primitive string, as the supports pack set elements and keys. */
const anyString = (field: number, s: string): Bytes => len(field, str(1, "p.cloudstate.io/string"), len(2, str(1, s)));
const hex = (bytes: Bytes | Uint8Array) => Buffer.from(bytes).toString("hex");
const anyOf = (s: string) => ({ typeUrl: "p.cloudstate.io/string", value: new Uint8Array(str(1, s)) });

const toWire = (message: Parameters<typeof toOlderStreamIn>[0]) => hex(toBinary(older.CrdtStreamInSchema, toOlderStreamIn(message)));
const fromWire = (bytes: Bytes) => fromOlderStreamOut(fromBinary(older.CrdtStreamOutSchema, new Uint8Array(bytes)));
const in02 = (message: Parameters<typeof create<typeof CrdtStreamInSchema>>[1]) => create(CrdtStreamInSchema, message);
const delta02 = (delta: Parameters<typeof create<typeof CrdtDeltaSchema>>[1]) => create(CrdtDeltaSchema, delta);

describe("CRDT wire before 0.2: towards the user function", () => {
  it("sends init with the whole state (field 3 a CrdtState), nested ORMap values included", () => {
    const delta = delta02({
      delta: {
        case: "ormap",
        value: {
          added: [
            { key: anyOf("g"), delta: { delta: { case: "gcounter", value: { increment: 5n } } } },
            { key: anyOf("v"), delta: { delta: { case: "vote", value: { selfVote: true, votesFor: 1, totalVoters: 3 } } } },
            {
              key: anyOf("m"),
              delta: { delta: { case: "ormap", value: { added: [{ key: anyOf("f"), delta: { delta: { case: "flag", value: { value: true } } } }] } } },
            },
          ],
        },
      },
    });
    const expected = len(
      1,
      str(1, "svc"),
      str(2, "e1"),
      len(
        3, // CrdtInit.state
        len(
          7, // CrdtState.ormap
          len(1, anyString(1, "g"), len(2, len(1, num(1, 5)))), // ORMapEntry{key, value: gcounter{value 5}}
          len(1, anyString(1, "v"), len(2, len(8, num(1, 1), num(2, 3), num(3, 1)))), // VoteState{votes_for, total_voters, self_vote}
          len(1, anyString(1, "m"), len(2, len(7, len(1, anyString(1, "f"), len(2, len(6, num(1, 1))))))),
        ),
      ),
    );
    assert.equal(toWire(in02({ message: { case: "init", value: { serviceName: "svc", entityId: "e1", delta } } })), hex(expected));
  });

  it("sends init without state when there is none", () => {
    assert.equal(toWire(in02({ message: { case: "init", value: { serviceName: "svc", entityId: "e1" } } })), hex(len(1, str(1, "svc"), str(2, "e1"))));
  });

  it("renumbers command (5) and stream_cancelled (6), and says changed (3) and deleted (4)", () => {
    const command = in02({ message: { case: "command", value: { entityId: "e1", id: 7n, name: "Process", streamed: true } } });
    assert.equal(toWire(command), hex(len(5, str(1, "e1"), num(2, 7), str(3, "Process"), num(5, 1))));
    assert.equal(toWire(in02({ message: { case: "streamCancelled", value: { entityId: "e1", id: 7n } } })), hex(len(6, str(1, "e1"), num(2, 7))));
    assert.equal(toWire(in02({ message: { case: "delete", value: {} } })), hex(len(4)));
    const changed = delta02({
      delta: {
        case: "ormap",
        value: {
          removed: [anyOf("x")],
          updated: [{ key: anyOf("c"), delta: { delta: { case: "pncounter", value: { change: -2n } } } }],
          added: [{ key: anyOf("s"), delta: { delta: { case: "orset", value: { added: [anyOf("a")] } } } }],
        },
      },
    });
    assert.equal(
      toWire(in02({ message: { case: "delta", value: changed } })),
      hex(
        len(
          3,
          len(
            7,
            anyString(2, "x"),
            len(3, anyString(1, "c"), len(2, len(2, zigzag(1, -2n)))), // updated stays an entry delta
            len(4, anyString(1, "s"), len(2, len(4, anyString(1, "a")))), // added is a whole ORMapEntry: ORSetState{items}
          ),
        ),
      ),
    );
  });
});

describe("CRDT wire before 0.2: from the user function", () => {
  it("reads create (5) with a whole state as an update with the delta from empty", () => {
    // PNCounterState.value is an int64 (two's complement), PNCounterDelta.change a sint64.
    const out = fromWire(len(1, num(1, 1), len(5, len(5, len(2, num(1, -3n))), num(8, 2))));
    assert.equal(hex(toBinary(CrdtStreamOutSchema, out)), hex(len(1, num(1, 1), len(5, len(1, len(2, zigzag(1, -3n))), num(3, CrdtWriteConsistency.ALL)))));
  });

  it("reads every CRDT state of a create", () => {
    const lww = fromWire(len(1, num(1, 2), len(5, len(5, len(5, anyString(1, "v"), num(2, 2), num(3, 9))))));
    const reply = lww.message.case === "reply" ? lww.message.value : undefined;
    assert.equal(reply?.stateAction?.action.case, "update");
    const d = reply?.stateAction?.action.case === "update" ? reply.stateAction.action.value.delta : undefined;
    assert.equal(d?.case, "lwwregister");
    if (d?.case === "lwwregister") {
      assert.equal(d.value.clock, 2);
      assert.equal(d.value.customClockValue, 9n);
      assert.deepEqual(d.value.value?.value, new Uint8Array(str(1, "v")));
    }
    const cases: [Bytes, string][] = [
      [len(1, num(1, 4)), "gcounter"],
      [len(3, anyString(1, "a")), "gset"],
      [len(4, anyString(1, "a")), "orset"],
      [len(6, num(1, 1)), "flag"],
      [len(7), "ormap"],
      [len(8, num(1, 1), num(2, 1), num(3, 1)), "vote"],
    ];
    for (const [state, kind] of cases) {
      const m = fromWire(len(1, num(1, 3), len(5, len(5, state)))).message;
      assert.equal(m.case === "reply" && m.value.stateAction?.action.case === "update" ? m.value.stateAction.action.value.delta.case : undefined, kind);
    }
  });

  it("keeps only the user function's own vote from a whole VoteState", () => {
    const out = fromWire(len(1, num(1, 1), len(5, len(5, len(8, num(1, 1), num(2, 1), num(3, 1))))));
    assert.equal(hex(toBinary(CrdtStreamOutSchema, out)), hex(len(1, num(1, 1), len(5, len(1, len(8, num(1, 1)))))));
  });

  it("reads update (6) with whole ORMap entries as entry deltas, nested maps too", () => {
    const olderUpdate = len(
      7,
      num(1, 1),
      len(3, anyString(1, "inner"), len(2, len(7, len(4, anyString(1, "k"), len(2, len(1, num(1, 2))))))), // updated: nested map adds k
      len(4, anyString(1, "f"), len(2, len(6, num(1, 1)))), // added: whole FlagState
    );
    const out = fromWire(len(1, num(1, 4), len(5, len(6, olderUpdate)), num(6, 1)));
    const expected = len(
      7,
      num(1, 1),
      len(3, anyString(1, "inner"), len(2, len(7, len(4, anyString(1, "k"), len(2, len(1, num(1, 2))))))),
      len(4, anyString(1, "f"), len(2, len(6, num(1, 1)))),
    );
    assert.equal(hex(toBinary(CrdtStreamOutSchema, out)), hex(len(1, num(1, 4), len(5, len(1, expected)), num(6, 1))));
  });

  it("reads delete (7), the write consistency (8) and a stream-cancelled response", () => {
    const out = fromWire(len(3, num(1, 5), len(3, len(7), num(8, 1))));
    assert.equal(hex(toBinary(CrdtStreamOutSchema, out)), hex(len(3, num(1, 5), len(3, len(2), num(3, CrdtWriteConsistency.MAJORITY)))));
  });

  it("passes streamed messages and failures through", () => {
    const streamed = len(2, num(1, 3), len(2, len(1, anyString(1, "x"))), num(4, 1));
    assert.equal(hex(toBinary(CrdtStreamOutSchema, fromWire(streamed))), hex(streamed));
    const failure = len(4, num(1, 3), str(2, "boom"));
    assert.equal(hex(toBinary(CrdtStreamOutSchema, fromWire(failure))), hex(failure));
  });
});

describe("CRDT wire before 0.2: whole values against what the user function holds", () => {
  const replyBytes = (translation: ReturnType<typeof createCrdtTranslation>, bytes: Bytes) =>
    hex(toBinary(CrdtStreamOutSchema, translation.fromOlder(fromBinary(older.CrdtStreamOutSchema, new Uint8Array(bytes)))));
  const sendDelta = (translation: ReturnType<typeof createCrdtTranslation>, delta: Parameters<typeof delta02>[0]) =>
    translation.toOlder(in02({ message: { case: "delta", value: delta02(delta) } }));
  const init = (translation: ReturnType<typeof createCrdtTranslation>, delta?: Parameters<typeof delta02>[0]) =>
    translation.toOlder(
      in02({ message: { case: "init", value: { serviceName: "s", entityId: "e", ...(delta === undefined ? {} : { delta: delta02(delta) }) } } }),
    );

  it("reads a create after a replicated change as the change since, not the whole count again", () => {
    const t = createCrdtTranslation();
    init(t);
    sendDelta(t, { delta: { case: "gcounter", value: { increment: 42n } } });
    // create GCounterState{165}: the user function added 123 to the 42 it was told about.
    assert.equal(replyBytes(t, len(1, num(1, 1), len(5, len(5, len(1, num(1, 165)))))), hex(len(1, num(1, 1), len(5, len(1, len(1, num(1, 123)))))));
  });

  it("reads a create that changes nothing as a reply without a state action", () => {
    const t = createCrdtTranslation();
    init(t);
    sendDelta(t, { delta: { case: "lwwregister", value: { value: anyOf("one") } } });
    assert.equal(replyBytes(t, len(1, num(1, 1), len(5, len(5, len(5, anyString(1, "one")))))), hex(len(1, num(1, 1))));
  });

  it("reads a created ORSet as the elements removed and added since what it held", () => {
    const t = createCrdtTranslation();
    init(t, { delta: { case: "orset", value: { added: [anyOf("x"), anyOf("y")] } } });
    const created = len(1, num(1, 1), len(5, len(5, len(4, anyString(1, "y"), anyString(1, "z")))));
    assert.equal(replyBytes(t, created), hex(len(1, num(1, 1), len(5, len(1, len(4, anyString(2, "x"), anyString(3, "z")))))));
  });

  it("reads a whole ORMap entry for a key it held as that entry's change", () => {
    const t = createCrdtTranslation();
    init(t, { delta: { case: "ormap", value: { added: [{ key: anyOf("PNCounter-1"), delta: { delta: { case: "pncounter", value: { change: 123n } } } }] } } });
    // update ORMapDelta{added: [{PNCounter-1, PNCounterState{444}}]}
    const reply = len(1, num(1, 1), len(5, len(6, len(7, len(4, anyString(1, "PNCounter-1"), len(2, len(2, num(1, 444))))))));
    const expected = len(1, num(1, 1), len(5, len(1, len(7, len(3, anyString(1, "PNCounter-1"), len(2, len(2, zigzag(1, 321n))))))));
    assert.equal(replyBytes(t, reply), hex(expected));
    // And the next one counts from 444.
    const again = len(1, num(1, 2), len(5, len(6, len(7, len(4, anyString(1, "PNCounter-1"), len(2, len(2, num(1, 445))))))));
    assert.equal(replyBytes(t, again), hex(len(1, num(1, 2), len(5, len(1, len(7, len(3, anyString(1, "PNCounter-1"), len(2, len(2, zigzag(1, 1n))))))))));
  });
});

describe("CRDT wire before 0.2: what the proxy sent, read back (recorders)", () => {
  it("reads an older init and changed as 0.2 messages, keeping the proxy's Vote counts", () => {
    const olderVote = len(8, num(1, 2), num(2, 3), num(3, 1)); // VoteState{votes_for 2, total_voters 3, self_vote}
    const olderInit = len(1, str(1, "svc"), str(2, "e1"), len(3, len(7, len(1, anyString(1, "v"), len(2, olderVote)))));
    const init = createCrdtTranslation().fromOlderIn(fromBinary(older.CrdtStreamInSchema, new Uint8Array(olderInit)));
    const vote02 = len(8, num(1, 1), num(2, 2), num(3, 3)); // VoteDelta{self_vote, votes_for 2, total_voters 3}
    assert.equal(hex(toBinary(CrdtStreamInSchema, init)), hex(len(1, str(1, "svc"), str(2, "e1"), len(3, len(7, len(4, anyString(1, "v"), len(2, vote02)))))));
    const changed = createCrdtTranslation().fromOlderIn(fromBinary(older.CrdtStreamInSchema, new Uint8Array(len(3, len(1, num(1, 4))))));
    assert.equal(hex(toBinary(CrdtStreamInSchema, changed)), hex(len(2, len(1, num(1, 4)))));
    assert.equal(
      hex(toBinary(CrdtStreamInSchema, createCrdtTranslation().fromOlderIn(fromBinary(older.CrdtStreamInSchema, new Uint8Array(len(4)))))),
      hex(len(3)),
    );
    const command = len(5, str(1, "e1"), num(2, 7), str(3, "Process"));
    assert.equal(
      hex(toBinary(CrdtStreamInSchema, createCrdtTranslation().fromOlderIn(fromBinary(older.CrdtStreamInSchema, new Uint8Array(command))))),
      hex(len(4, str(1, "e1"), num(2, 7), str(3, "Process"))),
    );
  });

  it("gives back what it translated (every message the proxy sends)", () => {
    const messages = [
      in02({
        message: {
          case: "init",
          value: { serviceName: "s", entityId: "e", delta: delta02({ delta: { case: "vote", value: { selfVote: true, votesFor: 2, totalVoters: 3 } } }) },
        },
      }),
      in02({ message: { case: "delta", value: delta02({ delta: { case: "orset", value: { cleared: true, removed: [anyOf("a")], added: [anyOf("b")] } } }) } }),
      in02({ message: { case: "delete", value: {} } }),
      in02({ message: { case: "command", value: { entityId: "e", id: 3n, name: "Process" } } }),
      in02({ message: { case: "streamCancelled", value: { entityId: "e", id: 3n } } }),
    ];
    for (const message of messages) {
      const wire = toBinary(older.CrdtStreamInSchema, toOlderStreamIn(message));
      assert.equal(
        hex(toBinary(CrdtStreamInSchema, createCrdtTranslation().fromOlderIn(fromBinary(older.CrdtStreamInSchema, wire)))),
        hex(toBinary(CrdtStreamInSchema, message)),
      );
    }
  });
});

describe("CRDT wire before 0.2: selection and round trips", () => {
  it("is chosen for 0.0 and 0.1, not for 0.2 or later", () => {
    assert.equal(speaksCrdtBefore02(0, 0), true);
    assert.equal(speaksCrdtBefore02(0, 1), true);
    assert.equal(speaksCrdtBefore02(0, 2), false);
    assert.equal(speaksCrdtBefore02(0, 3), false);
    assert.equal(speaksCrdtBefore02(1, 0), false);
  });

  it("calls the same RPC as 0.2", () => {
    assert.equal(`/${CRDT_HANDLE_BEFORE_0_2.parent.typeName}/${CRDT_HANDLE_BEFORE_0_2.name}`, "/cloudstate.crdt.Crdt/handle");
    assert.equal(CRDT_HANDLE_BEFORE_0_2.input.typeName, "switchboard.older.crdt.CrdtStreamIn");
  });

  /** A delta with the proxy's Vote counts left out (a user function sends only its own vote). */
  const ownVotes = (delta: CrdtDelta): CrdtDelta => {
    const d = delta.delta;
    if (d.case === "vote") return delta02({ delta: { case: "vote", value: { selfVote: d.value.selfVote } } });
    if (d.case !== "ormap") return delta;
    const entries = (list: typeof d.value.added) => list.map((e) => ({ ...e, ...(e.delta === undefined ? {} : { delta: ownVotes(e.delta) }) }));
    return delta02({ delta: { case: "ormap", value: { ...d.value, added: entries(d.value.added), updated: entries(d.value.updated) } } });
  };

  for (const kind of KINDS) {
    it(`${kind}: the state sent whole in init comes back as the same delta from empty`, () => {
      fc.assert(
        fc.property(scheduleArb(kind, 1), (steps) => {
          const [state] = runSchedule(steps, CRDT_OPS).finals;
          if (state === undefined) return;
          const replica = testReplica(NODES[0], [NODES[0]], { t: 5000n });
          const sent = initDelta(state, replica);
          const whole = fromBinary(older.CrdtStateSchema, toBinary(older.CrdtStateSchema, stateFromEmpty(sent)));
          const back = deltaFromState(whole);
          assert.equal(hex(toBinary(CrdtDeltaSchema, back)), hex(toBinary(CrdtDeltaSchema, ownVotes(sent))));
          assert.equal(applyDelta(undefined, back, replica).kind, "applied");
        }),
        { numRuns: 60 },
      );
    });
  }
});
