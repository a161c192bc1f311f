/**
 * CRDT entities (upstream `CrdtEntityTCK`): 82 model tests and 6 proxy tests. The prefix
 * of an entity id (`GCounter-3`) selects the CRDT type in the model implementations.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Crdt, CrdtClock, type CrdtDelta, type CrdtStreamIn, type CrdtStreamOut, CrdtWriteConsistency, type SideEffect } from "@switchboard/protocol";
import { crdt as model } from "@switchboard/protocol/tck";
import { check, checkEqual } from "../assertion-error.js";
import { expectMessage } from "../compare.js";
import { expectCallFailure } from "../grpc-client.js";
import { pack, sideEffect } from "../messages/common.js";
import {
  type CrdtEffects,
  command,
  crdtDelete,
  crdtReply,
  crdtUpdate,
  deleteMessage,
  deltaMessage,
  failure,
  flagDelta,
  forward,
  gcounterDelta,
  gsetDelta,
  init,
  lwwregisterDelta,
  mergeEffects,
  ormapDelta,
  orsetDelta,
  pncounterDelta,
  reply,
  sortedReply,
  streamCancelled,
  streamCancelledResponse,
  streamed,
  voteDelta,
} from "../messages/crdt.js";
import type { EntityStreamDriver, ProtocolDriver } from "../protocol-driver.js";
import { entityIds, modelTest, proxyTest, type TckContext, type TckSuite, type TckTest } from "../suite.js";

const SERVICE = model.CrdtTckModel.typeName;
const SERVICE_TWO = model.CrdtTwo.typeName;
const SERVICE_CONFIGURED = model.CrdtConfigured.typeName;
const PROTOCOL = Crdt.typeName;

type Action = MessageInitShape<typeof model.RequestActionSchema>;
type Update = MessageInitShape<typeof model.UpdateSchema>;
type State = MessageInitShape<typeof model.StateSchema>;

const request = (id: string, actions: Action[] = []) => pack(model.RequestSchema, { id, actions });
const streamedRequest = (init: MessageInitShape<typeof model.StreamedRequestSchema>) => pack(model.StreamedRequestSchema, init);
/** A model `Response` with `state`, packed. */
const response = (state?: State) => pack(model.ResponseSchema, state === undefined ? {} : { state });
const requestUpdate = (update: Update): Action => ({ action: { case: "update", value: update } });
const requestDelete = (): Action => ({ action: { case: "delete", value: {} } });
const forwardTo = (id: string): Action => ({ action: { case: "forward", value: { id } } });
const sideEffectTo = (id: string, synchronous = false): Action => ({ action: { case: "effect", value: { id, synchronous } } });
const failWith = (message: string): Action => ({ action: { case: "fail", value: { message } } });
const updated = (delta: CrdtDelta): CrdtEffects => ({ stateAction: crdtUpdate(delta) });
const deleteCrdt: CrdtEffects = { stateAction: crdtDelete() };
const createSideEffects = (synchronous: boolean, ids: string[]): CrdtEffects => ({
  sideEffects: ids.map((id): SideEffect => sideEffect(SERVICE_TWO, "Call", request(id), synchronous)),
});
const sideEffects = (...ids: string[]) => createSideEffects(false, ids);
const synchronousSideEffects = (...ids: string[]) => createSideEffects(true, ids);
const forwarded = (id: number, entityId: string, effects: CrdtEffects = {}) => forward(id, SERVICE_TWO, "Call", request(entityId), effects);

/** Model state values. */
const S = {
  gcounter: (value: number): State => ({ value: { case: "gcounter", value: { value: BigInt(value) } } }),
  pncounter: (value: number): State => ({ value: { case: "pncounter", value: { value: BigInt(value) } } }),
  gset: (...elements: string[]): State => ({ value: { case: "gset", value: { elements } } }),
  orset: (...elements: string[]): State => ({ value: { case: "orset", value: { elements } } }),
  lwwregister: (value: string): State => ({ value: { case: "lwwregister", value: { value } } }),
  flag: (value: boolean): State => ({ value: { case: "flag", value: { value } } }),
  ormap: (...entries: [string, State][]): State => ({ value: { case: "ormap", value: { entries: entries.map(([key, value]) => ({ key, value })) } } }),
  vote: (selfVote: boolean, votesFor: number, totalVoters: number): State => ({ value: { case: "vote", value: { selfVote, votesFor, totalVoters } } }),
};

/** Model update actions. */
const U = {
  gcounter: (increment: number): Update => ({ update: { case: "gcounter", value: { increment: BigInt(increment) } } }),
  pncounter: (change: number): Update => ({ update: { case: "pncounter", value: { change: BigInt(change) } } }),
  vote: (selfVote: boolean): Update => ({ update: { case: "vote", value: { selfVote } } }),
};
const incrementBy = (...values: number[]) => values.map((v) => requestUpdate(U.gcounter(v)));
const changeBy = (...values: number[]) => values.map((v) => requestUpdate(U.pncounter(v)));
const gsetAdd = (...elements: string[]) => elements.map((add) => requestUpdate({ update: { case: "gset", value: { add } } }));
const orsetAction = (action: NonNullable<MessageInitShape<typeof model.ORSetUpdateSchema>["action"]>) =>
  requestUpdate({ update: { case: "orset", value: { action } } });
const orsetAdd = (...elements: string[]) => elements.map((value) => orsetAction({ case: "add", value }));
const orsetRemove = (...elements: string[]) => elements.map((value) => orsetAction({ case: "remove", value }));
const orsetClear = () => [orsetAction({ case: "clear", value: true })];
const setTo = (value: string, clockType = model.LWWRegisterClockType.DEFAULT, customClockValue = 0) => [
  requestUpdate({ update: { case: "lwwregister", value: { value, clock: { clockType, customClockValue: BigInt(customClockValue) } } } }),
];
const enable = () => [requestUpdate({ update: { case: "flag", value: {} } })];
const ormapAction = (action: NonNullable<MessageInitShape<typeof model.ORMapUpdateSchema>["action"]>) =>
  requestUpdate({ update: { case: "ormap", value: { action } } });
const ormapAdd = (...keys: string[]) => keys.map((value) => ormapAction({ case: "add", value }));
const ormapRemove = (...keys: string[]) => keys.map((value) => ormapAction({ case: "remove", value }));
const ormapClear = () => [ormapAction({ case: "clear", value: true })];
/** Wraps each entry's update actions as ORMap entry updates (upstream `ORMap.updateWith`). */
const ormapUpdateWith = (...entries: [string, Action[]][]) =>
  entries.flatMap(([key, actions]) =>
    actions.map((a) => ormapAction({ case: "update", value: { key, update: a.action?.case === "update" ? a.action.value : {} } })),
  );
const voteSelf = (vote: boolean) => [requestUpdate(U.vote(vote))];

const ids = entityIds("entity");

/** A CRDT test of the given type: the entity id is `<type>-<n>`. */
function typed(type: string, name: string, run: (protocol: ProtocolDriver, id: string) => Promise<void>): TckTest {
  return modelTest(name, ({ protocol }) => run(protocol, ids.next(type)));
}

type Conn = EntityStreamDriver<typeof Crdt.method.handle.input, typeof Crdt.method.handle.output>;

/** Runs a scripted connection: send the `in` messages, expect the `out` ones, then passivate. */
async function script(protocol: ProtocolDriver, steps: ({ send: CrdtStreamIn } | { expect: CrdtStreamOut; sorted?: boolean })[]): Promise<void> {
  const c: Conn = protocol.crdt();
  for (const step of steps) {
    if ("send" in step) c.send(step.send);
    else await c.expect(step.expect, step.sorted ? sortedReply : undefined);
  }
  await c.passivate();
}
const send = (message: CrdtStreamIn) => ({ send: message });
const expect = (message: CrdtStreamOut, sorted = false) => ({ expect: message, sorted });
const process = (n: number, id: string, actions: Action[] = []) => send(command(n, id, "Process", request(id, actions)));
const delta = (d: CrdtDelta) => send(deltaMessage(d));

/** The eight tests every CRDT type has in common, from per-type scripts. */
function standardTests(
  type: string,
  t: {
    empty: State;
    changes: (id: string) => Parameters<typeof script>[1];
    initDelta: (id: string) => Parameters<typeof script>[1][];
    replicatedInitial: (id: string) => Parameters<typeof script>[1][];
    mix: (id: string) => Parameters<typeof script>[1][];
    extra?: TckTest;
    rehydration: (id: string) => Parameters<typeof script>[1][];
    deleteReceived: (id: string) => Parameters<typeof script>[1];
    emptyEffects?: CrdtEffects;
  },
): TckTest[] {
  const runAll = async (protocol: ProtocolDriver, scripts: Parameters<typeof script>[1][]) => {
    for (const s of scripts) await script(protocol, s);
  };
  return [
    typed(type, `${type} initial empty state`, (protocol, id) =>
      script(protocol, [send(init(SERVICE, id)), process(1, id), expect(reply(1, response(t.empty), t.emptyEffects ?? {}))]),
    ),
    typed(type, `${type} state changes`, (protocol, id) => script(protocol, t.changes(id))),
    typed(type, `${type} initial delta in init`, (protocol, id) => runAll(protocol, t.initDelta(id))),
    typed(type, `${type} initial empty state with replicated initial delta`, (protocol, id) => runAll(protocol, t.replicatedInitial(id))),
    typed(type, `${type} mix of local and replicated state changes`, (protocol, id) => runAll(protocol, t.mix(id))),
    ...(t.extra ? [t.extra] : []),
    typed(type, `${type} rehydration after passivation`, (protocol, id) => runAll(protocol, t.rehydration(id))),
    typed(type, `${type} delete action received from entity`, (protocol, id) => script(protocol, t.deleteReceived(id))),
    typed(type, `${type} delete action sent to entity`, (protocol, id) => script(protocol, [send(init(SERVICE, id)), send(deleteMessage())])),
  ];
}

const gcounterTests = standardTests("GCounter", {
  empty: S.gcounter(0),
  changes: (id) => [
    send(init(SERVICE, id)),
    process(1, id, incrementBy(42)),
    expect(reply(1, response(S.gcounter(42)), updated(gcounterDelta(42)))),
    process(2, id, incrementBy(1, 2, 3)),
    expect(reply(2, response(S.gcounter(48)), updated(gcounterDelta(6)))),
  ],
  initDelta: (id) => [
    [send(init(SERVICE, id, gcounterDelta(42))), process(1, id, incrementBy(123)), expect(reply(1, response(S.gcounter(165)), updated(gcounterDelta(123))))],
  ],
  replicatedInitial: (id) => [
    [
      send(init(SERVICE, id)),
      delta(gcounterDelta(42)),
      process(1, id, incrementBy(123)),
      expect(reply(1, response(S.gcounter(165)), updated(gcounterDelta(123)))),
    ],
  ],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, incrementBy(1)),
      expect(reply(1, response(S.gcounter(1)), updated(gcounterDelta(1)))),
      delta(gcounterDelta(2)),
      delta(gcounterDelta(3)),
      process(2, id),
      expect(reply(2, response(S.gcounter(6)))),
      process(3, id, incrementBy(4)),
      expect(reply(3, response(S.gcounter(10)), updated(gcounterDelta(4)))),
      delta(gcounterDelta(5)),
      process(4, id, incrementBy(6)),
      expect(reply(4, response(S.gcounter(21)), updated(gcounterDelta(6)))),
    ],
  ],
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, incrementBy(1)),
      expect(reply(1, response(S.gcounter(1)), updated(gcounterDelta(1)))),
      delta(gcounterDelta(2)),
      process(2, id),
      expect(reply(2, response(S.gcounter(3)))),
      process(3, id, incrementBy(3)),
      expect(reply(3, response(S.gcounter(6)), updated(gcounterDelta(3)))),
    ],
    [
      send(init(SERVICE, id, gcounterDelta(6))),
      process(1, id),
      expect(reply(1, response(S.gcounter(6)))),
      delta(gcounterDelta(4)),
      process(2, id, incrementBy(5)),
      expect(reply(2, response(S.gcounter(15)), updated(gcounterDelta(5)))),
    ],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, incrementBy(42)),
    expect(reply(1, response(S.gcounter(42)), updated(gcounterDelta(42)))),
    process(2, id, [requestDelete()]),
    expect(reply(2, response(S.gcounter(42)), deleteCrdt)),
  ],
});

const pncounterTests = standardTests("PNCounter", {
  empty: S.pncounter(0),
  changes: (id) => [
    send(init(SERVICE, id)),
    process(1, id, changeBy(+1, -2, +3)),
    expect(reply(1, response(S.pncounter(2)), updated(pncounterDelta(2)))),
    process(2, id, changeBy(-4, +5, -6)),
    expect(reply(2, response(S.pncounter(-3)), updated(pncounterDelta(-5)))),
  ],
  initDelta: (id) => [
    [send(init(SERVICE, id, pncounterDelta(42))), process(1, id, changeBy(-123)), expect(reply(1, response(S.pncounter(-81)), updated(pncounterDelta(-123))))],
  ],
  replicatedInitial: (id) => [
    [
      send(init(SERVICE, id)),
      delta(pncounterDelta(-42)),
      process(1, id, changeBy(123)),
      expect(reply(1, response(S.pncounter(81)), updated(pncounterDelta(123)))),
    ],
  ],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, changeBy(1)),
      expect(reply(1, response(S.pncounter(1)), updated(pncounterDelta(1)))),
      delta(pncounterDelta(-2)),
      delta(pncounterDelta(3)),
      process(2, id),
      expect(reply(2, response(S.pncounter(2)))),
      process(3, id, changeBy(-4)),
      expect(reply(3, response(S.pncounter(-2)), updated(pncounterDelta(-4)))),
      delta(pncounterDelta(5)),
      process(4, id, changeBy(-6)),
      expect(reply(4, response(S.pncounter(-3)), updated(pncounterDelta(-6)))),
    ],
  ],
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, changeBy(1)),
      expect(reply(1, response(S.pncounter(1)), updated(pncounterDelta(1)))),
      delta(pncounterDelta(-2)),
      process(2, id),
      expect(reply(2, response(S.pncounter(-1)))),
      process(3, id, changeBy(3)),
      expect(reply(3, response(S.pncounter(2)), updated(pncounterDelta(3)))),
    ],
    [
      send(init(SERVICE, id, pncounterDelta(2))),
      process(1, id),
      expect(reply(1, response(S.pncounter(2)))),
      delta(pncounterDelta(-4)),
      process(2, id, changeBy(5)),
      expect(reply(2, response(S.pncounter(3)), updated(pncounterDelta(5)))),
    ],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, changeBy(42)),
    expect(reply(1, response(S.pncounter(42)), updated(pncounterDelta(42)))),
    process(2, id, [requestDelete()]),
    expect(reply(2, response(S.pncounter(42)), deleteCrdt)),
  ],
});

const gsetTests = standardTests("GSet", {
  empty: S.gset(),
  changes: (id) => [
    send(init(SERVICE, id)),
    process(1, id, gsetAdd("a", "b")),
    expect(reply(1, response(S.gset("a", "b")), updated(gsetDelta("a", "b"))), true),
    process(2, id, gsetAdd("b", "c")),
    expect(reply(2, response(S.gset("a", "b", "c")), updated(gsetDelta("c")))),
    process(3, id, gsetAdd("c", "a")),
    expect(reply(3, response(S.gset("a", "b", "c")))),
  ],
  initDelta: (id) => [
    [
      send(init(SERVICE, id, gsetDelta("a", "b", "c"))),
      process(1, id, gsetAdd("c", "d", "e")),
      expect(reply(1, response(S.gset("a", "b", "c", "d", "e")), updated(gsetDelta("d", "e"))), true),
    ],
  ],
  replicatedInitial: (id) => [
    [
      send(init(SERVICE, id)),
      delta(gsetDelta("x", "y")),
      process(1, id, gsetAdd("z")),
      expect(reply(1, response(S.gset("x", "y", "z")), updated(gsetDelta("z")))),
    ],
  ],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, gsetAdd("a")),
      expect(reply(1, response(S.gset("a")), updated(gsetDelta("a")))),
      delta(gsetDelta("a")),
      delta(gsetDelta("b")),
      delta(gsetDelta("c")),
      process(2, id),
      expect(reply(2, response(S.gset("a", "b", "c")))),
      process(3, id, gsetAdd("c", "d", "e")),
      expect(reply(3, response(S.gset("a", "b", "c", "d", "e")), updated(gsetDelta("d", "e"))), true),
      delta(gsetDelta("f")),
      process(4, id, gsetAdd("g", "d", "b")),
      expect(reply(4, response(S.gset("a", "b", "c", "d", "e", "f", "g")), updated(gsetDelta("g")))),
    ],
  ],
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, gsetAdd("a")),
      expect(reply(1, response(S.gset("a")), updated(gsetDelta("a")))),
      delta(gsetDelta("b")),
      process(2, id),
      expect(reply(2, response(S.gset("a", "b")))),
      process(3, id, gsetAdd("c")),
      expect(reply(3, response(S.gset("a", "b", "c")), updated(gsetDelta("c")))),
    ],
    [
      send(init(SERVICE, id, gsetDelta("a", "b", "c"))),
      process(1, id),
      expect(reply(1, response(S.gset("a", "b", "c")))),
      delta(gsetDelta("d")),
      process(2, id, gsetAdd("e")),
      expect(reply(2, response(S.gset("a", "b", "c", "d", "e")), updated(gsetDelta("e")))),
    ],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, gsetAdd("x")),
    expect(reply(1, response(S.gset("x")), updated(gsetDelta("x")))),
    process(2, id, [requestDelete()]),
    expect(reply(2, response(S.gset("x")), deleteCrdt)),
  ],
});

const orsetTests = standardTests("ORSet", {
  empty: S.orset(),
  changes: (id) => [
    send(init(SERVICE, id)),
    process(1, id, orsetAdd("a", "b")),
    expect(reply(1, response(S.orset("a", "b")), updated(orsetDelta({ added: ["a", "b"] }))), true),
    process(2, id, orsetAdd("b", "c")),
    expect(reply(2, response(S.orset("a", "b", "c")), updated(orsetDelta({ added: ["c"] })))),
    process(3, id, orsetAdd("c", "a")),
    expect(reply(3, response(S.orset("a", "b", "c")))),
    process(4, id, orsetRemove("b", "d")),
    expect(reply(4, response(S.orset("a", "c")), updated(orsetDelta({ removed: ["b"] })))),
    process(5, id, [...orsetRemove("c", "d"), ...orsetAdd("b", "c")]),
    expect(reply(5, response(S.orset("a", "b", "c")), updated(orsetDelta({ added: ["b"] })))),
    process(6, id, orsetClear()),
    expect(reply(6, response(S.orset()), updated(orsetDelta({ cleared: true })))),
    process(7, id, [...orsetAdd("a"), ...orsetClear(), ...orsetAdd("x")]),
    expect(reply(7, response(S.orset("x")), updated(orsetDelta({ cleared: true, added: ["x"] })))),
  ],
  initDelta: (id) => [
    [
      send(init(SERVICE, id, orsetDelta({ added: ["a", "b", "c"] }))),
      process(1, id, [...orsetRemove("c"), ...orsetAdd("d")]),
      expect(reply(1, response(S.orset("a", "b", "d")), updated(orsetDelta({ removed: ["c"], added: ["d"] })))),
    ],
  ],
  replicatedInitial: (id) => [
    [
      send(init(SERVICE, id)),
      delta(orsetDelta({ added: ["x", "y"] })),
      process(1, id, [...orsetRemove("x"), ...orsetAdd("z")]),
      expect(reply(1, response(S.orset("y", "z")), updated(orsetDelta({ removed: ["x"], added: ["z"] })))),
    ],
  ],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, orsetAdd("a")),
      expect(reply(1, response(S.orset("a")), updated(orsetDelta({ added: ["a"] })))),
      delta(orsetDelta({ added: ["a", "b"] })),
      delta(orsetDelta({ added: ["c", "d"] })),
      delta(orsetDelta({ removed: ["b", "d"] })),
      process(2, id),
      expect(reply(2, response(S.orset("a", "c")))),
      process(3, id, orsetAdd("c", "d", "e")),
      expect(reply(3, response(S.orset("a", "c", "d", "e")), updated(orsetDelta({ added: ["d", "e"] }))), true),
      delta(orsetDelta({ removed: ["a", "c"], added: ["f"] })),
      process(4, id, [...orsetAdd("g"), ...orsetRemove("a", "d")]),
      expect(reply(4, response(S.orset("e", "f", "g")), updated(orsetDelta({ removed: ["d"], added: ["g"] })))),
      delta(orsetDelta({ cleared: true, added: ["x", "y", "z"] })),
      process(5, id, [...orsetAdd("q", "x"), ...orsetRemove("z")]),
      expect(reply(5, response(S.orset("q", "x", "y")), updated(orsetDelta({ removed: ["z"], added: ["q"] })))),
      delta(orsetDelta({ removed: ["x", "y"], added: ["r", "p"] })),
      process(6, id, orsetAdd("s")),
      expect(reply(6, response(S.orset("p", "q", "r", "s")), updated(orsetDelta({ added: ["s"] })))),
      delta(orsetDelta({ added: ["a", "b", "c"] })),
      process(7, id, [...orsetClear(), ...orsetAdd("abc")]),
      expect(reply(7, response(S.orset("abc")), updated(orsetDelta({ cleared: true, added: ["abc"] })))),
    ],
  ],
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, orsetAdd("a")),
      expect(reply(1, response(S.orset("a")), updated(orsetDelta({ added: ["a"] })))),
      delta(orsetDelta({ removed: ["a"], added: ["b"] })),
      process(2, id),
      expect(reply(2, response(S.orset("b")))),
      process(3, id, orsetAdd("c")),
      expect(reply(3, response(S.orset("b", "c")), updated(orsetDelta({ added: ["c"] })))),
    ],
    [
      send(init(SERVICE, id, orsetDelta({ added: ["b", "c"] }))),
      process(1, id),
      expect(reply(1, response(S.orset("b", "c")))),
      delta(orsetDelta({ cleared: true, added: ["p", "q"] })),
      process(2, id, [...orsetAdd("x", "y"), ...orsetRemove("x")]),
      expect(reply(2, response(S.orset("p", "q", "y")), updated(orsetDelta({ added: ["y"] })))),
    ],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, orsetAdd("x")),
    expect(reply(1, response(S.orset("x")), updated(orsetDelta({ added: ["x"] })))),
    process(2, id, [requestDelete()]),
    expect(reply(2, response(S.orset("x")), deleteCrdt)),
  ],
});

const lwwregisterTests = standardTests("LWWRegister", {
  empty: S.lwwregister(""),
  emptyEffects: updated(lwwregisterDelta("")),
  changes: (id) => [
    send(init(SERVICE, id)),
    process(1, id, setTo("one")),
    expect(reply(1, response(S.lwwregister("one")), updated(lwwregisterDelta("one")))),
    process(2, id, setTo("two")),
    expect(reply(2, response(S.lwwregister("two")), updated(lwwregisterDelta("two")))),
  ],
  initDelta: (id) => [[send(init(SERVICE, id, lwwregisterDelta("one"))), process(1, id), expect(reply(1, response(S.lwwregister("one"))))]],
  replicatedInitial: (id) => [[send(init(SERVICE, id)), delta(lwwregisterDelta("one")), process(1, id), expect(reply(1, response(S.lwwregister("one"))))]],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, setTo("A")),
      expect(reply(1, response(S.lwwregister("A")), updated(lwwregisterDelta("A")))),
      delta(lwwregisterDelta("B")),
      delta(lwwregisterDelta("C")),
      process(2, id),
      expect(reply(2, response(S.lwwregister("C")))),
      process(3, id, setTo("D")),
      expect(reply(3, response(S.lwwregister("D")), updated(lwwregisterDelta("D")))),
      delta(lwwregisterDelta("D")),
      process(4, id, setTo("E")),
      expect(reply(4, response(S.lwwregister("E")), updated(lwwregisterDelta("E")))),
    ],
  ],
  extra: typed("LWWRegister", "LWWRegister state changes with clock settings", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, setTo("A", model.LWWRegisterClockType.REVERSE)),
      expect(reply(1, response(S.lwwregister("A")), updated(lwwregisterDelta("A", CrdtClock.REVERSE)))),
      process(2, id, setTo("A", model.LWWRegisterClockType.CUSTOM, 123)),
      expect(reply(2, response(S.lwwregister("A")), updated(lwwregisterDelta("A", CrdtClock.CUSTOM, 123)))),
      // Command id 2 twice, as upstream.
      process(2, id, setTo("A", model.LWWRegisterClockType.CUSTOM_AUTO_INCREMENT, 456)),
      expect(reply(2, response(S.lwwregister("A")), updated(lwwregisterDelta("A", CrdtClock.CUSTOM_AUTO_INCREMENT, 456)))),
    ]),
  ),
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, setTo("A")),
      expect(reply(1, response(S.lwwregister("A")), updated(lwwregisterDelta("A")))),
      delta(lwwregisterDelta("B")),
      process(2, id),
      expect(reply(2, response(S.lwwregister("B")))),
      process(3, id, setTo("C")),
      expect(reply(3, response(S.lwwregister("C")), updated(lwwregisterDelta("C")))),
    ],
    [
      send(init(SERVICE, id, lwwregisterDelta("C"))),
      process(1, id),
      expect(reply(1, response(S.lwwregister("C")))),
      delta(lwwregisterDelta("D")),
      process(2, id, setTo("E")),
      expect(reply(2, response(S.lwwregister("E")), updated(lwwregisterDelta("E")))),
    ],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, setTo("one")),
    expect(reply(1, response(S.lwwregister("one")), updated(lwwregisterDelta("one")))),
    process(2, id, [requestDelete()]),
    expect(reply(2, response(S.lwwregister("one")), deleteCrdt)),
  ],
});

const flagTests = standardTests("Flag", {
  empty: S.flag(false),
  changes: (id) => [send(init(SERVICE, id)), process(1, id, enable()), expect(reply(1, response(S.flag(true)), updated(flagDelta(true))))],
  initDelta: (id) => [
    [send(init(SERVICE, id, flagDelta(false))), process(1, id), expect(reply(1, response(S.flag(false))))],
    [send(init(SERVICE, id, flagDelta(true))), process(1, id), expect(reply(1, response(S.flag(true))))],
  ],
  replicatedInitial: (id) => [
    [send(init(SERVICE, id)), delta(flagDelta(false)), process(1, id), expect(reply(1, response(S.flag(false))))],
    [send(init(SERVICE, id)), delta(flagDelta(true)), process(1, id), expect(reply(1, response(S.flag(true))))],
  ],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      delta(flagDelta(false)),
      process(1, id),
      expect(reply(1, response(S.flag(false)))),
      process(2, id, enable()),
      expect(reply(2, response(S.flag(true)), updated(flagDelta(true)))),
      delta(flagDelta(true)),
      delta(flagDelta(false)),
      process(3, id),
      expect(reply(3, response(S.flag(true)))),
    ],
    [
      send(init(SERVICE, id)),
      delta(flagDelta(true)),
      process(1, id),
      expect(reply(1, response(S.flag(true)))),
      process(2, id, enable()),
      expect(reply(2, response(S.flag(true)))),
      delta(flagDelta(true)),
      delta(flagDelta(false)),
      process(3, id),
      expect(reply(3, response(S.flag(true)))),
    ],
  ],
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id),
      expect(reply(1, response(S.flag(false)))),
      process(2, id, enable()),
      expect(reply(2, response(S.flag(true)), updated(flagDelta(true)))),
    ],
    [send(init(SERVICE, id, flagDelta(true))), process(1, id), expect(reply(1, response(S.flag(true))))],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, enable()),
    expect(reply(1, response(S.flag(true)), updated(flagDelta(true)))),
    process(2, id, [requestDelete()]),
    expect(reply(2, response(S.flag(true)), deleteCrdt)),
  ],
});

const ormapTests = standardTests("ORMap", {
  empty: S.ormap(),
  changes: (id) => [
    send(init(SERVICE, id)),
    process(1, id, ormapAdd("PNCounter-1", "ORSet-1")),
    expect(
      reply(
        1,
        response(S.ormap(["ORSet-1", S.orset()], ["PNCounter-1", S.pncounter(0)])),
        updated(
          ormapDelta({
            added: [
              ["ORSet-1", orsetDelta()],
              ["PNCounter-1", pncounterDelta(0)],
            ],
          }),
        ),
      ),
      true,
    ),
    process(2, id, [...ormapAdd("ORSet-1"), ...ormapUpdateWith(["LWWRegister-1", setTo("zero")])]),
    expect(
      reply(
        2,
        response(S.ormap(["LWWRegister-1", S.lwwregister("zero")], ["ORSet-1", S.orset()], ["PNCounter-1", S.pncounter(0)])),
        updated(ormapDelta({ added: [["LWWRegister-1", lwwregisterDelta("zero")]] })),
      ),
      true,
    ),
    process(3, id, ormapUpdateWith(["PNCounter-1", changeBy(42)], ["LWWRegister-1", setTo("one")])),
    expect(
      reply(
        3,
        response(S.ormap(["LWWRegister-1", S.lwwregister("one")], ["ORSet-1", S.orset()], ["PNCounter-1", S.pncounter(42)])),
        updated(
          ormapDelta({
            updated: [
              ["LWWRegister-1", lwwregisterDelta("one")],
              ["PNCounter-1", pncounterDelta(42)],
            ],
          }),
        ),
      ),
      true,
    ),
    process(4, id, ormapUpdateWith(["ORSet-1", orsetAdd("a", "b", "c")])),
    expect(
      reply(
        4,
        response(S.ormap(["LWWRegister-1", S.lwwregister("one")], ["ORSet-1", S.orset("a", "b", "c")], ["PNCounter-1", S.pncounter(42)])),
        updated(ormapDelta({ updated: [["ORSet-1", orsetDelta({ added: ["a", "b", "c"] })]] })),
      ),
      true,
    ),
    process(5, id, ormapUpdateWith(["ORSet-1", [...orsetRemove("b"), ...orsetAdd("d")]], ["PNCounter-1", changeBy(-123)], ["LWWRegister-1", setTo("two")])),
    expect(
      reply(
        5,
        response(S.ormap(["LWWRegister-1", S.lwwregister("two")], ["ORSet-1", S.orset("a", "c", "d")], ["PNCounter-1", S.pncounter(-81)])),
        updated(
          ormapDelta({
            updated: [
              ["LWWRegister-1", lwwregisterDelta("two")],
              ["ORSet-1", orsetDelta({ removed: ["b"], added: ["d"] })],
              ["PNCounter-1", pncounterDelta(-123)],
            ],
          }),
        ),
      ),
      true,
    ),
    process(6, id, ormapRemove("ORSet-1")),
    expect(
      reply(6, response(S.ormap(["LWWRegister-1", S.lwwregister("two")], ["PNCounter-1", S.pncounter(-81)])), updated(ormapDelta({ removed: ["ORSet-1"] }))),
      true,
    ),
    process(7, id, [...ormapRemove("LWWRegister-1"), ...ormapUpdateWith(["Flag-1", enable()])]),
    expect(
      reply(
        7,
        response(S.ormap(["Flag-1", S.flag(true)], ["PNCounter-1", S.pncounter(-81)])),
        updated(ormapDelta({ removed: ["LWWRegister-1"], added: [["Flag-1", flagDelta(true)]] })),
      ),
      true,
    ),
    process(8, id, ormapClear()),
    expect(reply(8, response(S.ormap()), updated(ormapDelta({ cleared: true })))),
    process(9, id, [...ormapAdd("PNCounter-2"), ...ormapClear(), ...ormapUpdateWith(["GCounter-1", incrementBy(123)])]),
    expect(
      reply(9, response(S.ormap(["GCounter-1", S.gcounter(123)])), updated(ormapDelta({ cleared: true, added: [["GCounter-1", gcounterDelta(123)]] }))),
      true,
    ),
  ],
  initDelta: (id) => [
    [
      send(
        init(
          SERVICE,
          id,
          ormapDelta({
            added: [
              ["PNCounter-1", pncounterDelta(123)],
              ["LWWRegister-1", lwwregisterDelta("one")],
              ["GSet-1", gsetDelta("a", "b", "c")],
            ],
          }),
        ),
      ),
      process(1, id),
      expect(reply(1, response(S.ormap(["GSet-1", S.gset("a", "b", "c")], ["LWWRegister-1", S.lwwregister("one")], ["PNCounter-1", S.pncounter(123)])))),
      process(2, id, [...ormapRemove("LWWRegister-1"), ...ormapUpdateWith(["PNCounter-1", changeBy(-42)])]),
      expect(
        reply(
          2,
          response(S.ormap(["GSet-1", S.gset("a", "b", "c")], ["PNCounter-1", S.pncounter(81)])),
          updated(ormapDelta({ removed: ["LWWRegister-1"], updated: [["PNCounter-1", pncounterDelta(-42)]] })),
        ),
        true,
      ),
    ],
  ],
  replicatedInitial: (id) => [
    [
      send(init(SERVICE, id)),
      delta(
        ormapDelta({
          added: [
            ["GCounter-1", gcounterDelta(42)],
            ["ORSet-1", orsetDelta({ added: ["a", "b", "c"] })],
            ["Flag-1", flagDelta(false)],
          ],
        }),
      ),
      process(1, id),
      expect(reply(1, response(S.ormap(["Flag-1", S.flag(false)], ["GCounter-1", S.gcounter(42)], ["ORSet-1", S.orset("a", "b", "c")])))),
    ],
  ],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id, ormapAdd("PNCounter-1")),
      expect(reply(1, response(S.ormap(["PNCounter-1", S.pncounter(0)])), updated(ormapDelta({ added: [["PNCounter-1", pncounterDelta(0)]] }))), true),
      delta(ormapDelta({ added: [["ORSet-1", orsetDelta({ added: ["x"] })]] })),
      delta(ormapDelta({ added: [["LWWRegister-1", lwwregisterDelta("one")]], updated: [["ORSet-1", orsetDelta({ added: ["y", "z"] })]] })),
      process(2, id, [...ormapAdd("ORSet-2"), ...ormapUpdateWith(["LWWRegister-2", setTo("two")])]),
      expect(
        reply(
          2,
          response(
            S.ormap(
              ["LWWRegister-1", S.lwwregister("one")],
              ["LWWRegister-2", S.lwwregister("two")],
              ["ORSet-1", S.orset("x", "y", "z")],
              ["ORSet-2", S.orset()],
              ["PNCounter-1", S.pncounter(0)],
            ),
          ),
          updated(
            ormapDelta({
              added: [
                ["LWWRegister-2", lwwregisterDelta("two")],
                ["ORSet-2", orsetDelta()],
              ],
            }),
          ),
        ),
        true,
      ),
      process(3, id, ormapUpdateWith(["PNCounter-1", changeBy(42)], ["LWWRegister-1", setTo("ONE")])),
      expect(
        reply(
          3,
          response(
            S.ormap(
              ["LWWRegister-1", S.lwwregister("ONE")],
              ["LWWRegister-2", S.lwwregister("two")],
              ["ORSet-1", S.orset("x", "y", "z")],
              ["ORSet-2", S.orset()],
              ["PNCounter-1", S.pncounter(42)],
            ),
          ),
          updated(
            ormapDelta({
              updated: [
                ["LWWRegister-1", lwwregisterDelta("ONE")],
                ["PNCounter-1", pncounterDelta(42)],
              ],
            }),
          ),
        ),
        true,
      ),
      delta(ormapDelta({ removed: ["LWWRegister-2"], added: [["ORMap-1", ormapDelta({ added: [["PNCounter-1", pncounterDelta(123)]] })]] })),
      delta(
        ormapDelta({
          removed: ["ORSet-1"],
          updated: [
            ["ORSet-2", orsetDelta({ added: ["a", "b", "c"] })],
            ["ORMap-1", ormapDelta({ added: [["LWWRegister-1", lwwregisterDelta("ABC")]] })],
          ],
        }),
      ),
      process(4, id, ormapUpdateWith(["ORMap-1", ormapUpdateWith(["PNCounter-1", changeBy(-456)])])),
      expect(
        reply(
          4,
          response(
            S.ormap(
              ["LWWRegister-1", S.lwwregister("ONE")],
              ["ORMap-1", S.ormap(["LWWRegister-1", S.lwwregister("ABC")], ["PNCounter-1", S.pncounter(-333)])],
              ["ORSet-2", S.orset("a", "b", "c")],
              ["PNCounter-1", S.pncounter(42)],
            ),
          ),
          updated(ormapDelta({ updated: [["ORMap-1", ormapDelta({ updated: [["PNCounter-1", pncounterDelta(-456)]] })]] })),
        ),
        true,
      ),
      delta(ormapDelta({ cleared: true, added: [["GSet-1", gsetDelta("1", "2", "3")]] })),
      process(5, id, [...ormapRemove("PNCounter-1", "LWWRegister-1"), ...ormapUpdateWith(["GSet-1", gsetAdd("2", "4", "6")])]),
      expect(
        reply(5, response(S.ormap(["GSet-1", S.gset("1", "2", "3", "4", "6")])), updated(ormapDelta({ updated: [["GSet-1", gsetDelta("4", "6")]] }))),
        true,
      ),
      process(6, id, [...ormapClear(), ...ormapAdd("GCounter-1")]),
      expect(reply(6, response(S.ormap(["GCounter-1", S.gcounter(0)])), updated(ormapDelta({ cleared: true, added: [["GCounter-1", gcounterDelta(0)]] })))),
      delta(ormapDelta({ removed: ["GSet-1"], added: [["GCounter-1", gcounterDelta(42)]] })),
      process(7, id, ormapUpdateWith(["GCounter-1", incrementBy(7)])),
      expect(reply(7, response(S.ormap(["GCounter-1", S.gcounter(49)])), updated(ormapDelta({ updated: [["GCounter-1", gcounterDelta(7)]] })))),
    ],
  ],
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      delta(ormapDelta({ added: [["PNCounter-1", pncounterDelta(123)]] })),
      process(1, id, ormapUpdateWith(["PNCounter-1", changeBy(321)])),
      expect(reply(1, response(S.ormap(["PNCounter-1", S.pncounter(444)])), updated(ormapDelta({ updated: [["PNCounter-1", pncounterDelta(321)]] })))),
    ],
    [
      send(init(SERVICE, id, ormapDelta({ added: [["PNCounter-1", pncounterDelta(444)]] }))),
      process(1, id),
      expect(reply(1, response(S.ormap(["PNCounter-1", S.pncounter(444)])))),
      delta(ormapDelta({ updated: [["PNCounter-1", pncounterDelta(-42)]] })),
      process(2, id, ormapUpdateWith(["PNCounter-1", changeBy(-360)])),
      expect(reply(2, response(S.ormap(["PNCounter-1", S.pncounter(42)])), updated(ormapDelta({ updated: [["PNCounter-1", pncounterDelta(-360)]] })))),
    ],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, ormapAdd("Flag-1")),
    expect(reply(1, response(S.ormap(["Flag-1", S.flag(false)])), updated(ormapDelta({ added: [["Flag-1", flagDelta(false)]] })))),
    process(2, id, [...ormapUpdateWith(["Flag-1", enable()]), requestDelete()]),
    expect(reply(2, response(S.ormap(["Flag-1", S.flag(true)])), deleteCrdt)),
  ],
});

const voteTests = standardTests("Vote", {
  empty: S.vote(false, 0, 1),
  changes: (id) => [
    send(init(SERVICE, id)),
    process(1, id, voteSelf(true)),
    expect(reply(1, response(S.vote(true, 1, 1)), updated(voteDelta(true)))),
    process(2, id, voteSelf(true)),
    expect(reply(2, response(S.vote(true, 1, 1)))),
    process(3, id, voteSelf(false)),
    expect(reply(3, response(S.vote(false, 0, 1)), updated(voteDelta(false)))),
    process(4, id, voteSelf(false)),
    expect(reply(4, response(S.vote(false, 0, 1)))),
  ],
  initDelta: (id) => [
    [
      send(init(SERVICE, id, voteDelta(true, 2, 3))),
      process(1, id),
      expect(reply(1, response(S.vote(true, 2, 3)))),
      process(2, id, voteSelf(false)),
      expect(reply(2, response(S.vote(false, 1, 3)), updated(voteDelta(false)))),
    ],
  ],
  replicatedInitial: (id) => [
    [
      send(init(SERVICE, id)),
      delta(voteDelta(false, 3, 5)),
      process(1, id),
      expect(reply(1, response(S.vote(false, 3, 5)))),
      process(2, id, voteSelf(true)),
      expect(reply(2, response(S.vote(true, 4, 5)), updated(voteDelta(true)))),
    ],
  ],
  mix: (id) => [
    [
      send(init(SERVICE, id)),
      delta(voteDelta(false, 2, 4)),
      process(1, id),
      expect(reply(1, response(S.vote(false, 2, 4)))),
      process(2, id, voteSelf(true)),
      expect(reply(2, response(S.vote(true, 3, 4)), updated(voteDelta(true)))),
      delta(voteDelta(true, 5, 7)),
      delta(voteDelta(true, 4, 6)),
      process(3, id, voteSelf(false)),
      expect(reply(3, response(S.vote(false, 3, 6)), updated(voteDelta(false)))),
    ],
  ],
  rehydration: (id) => [
    [
      send(init(SERVICE, id)),
      process(1, id),
      expect(reply(1, response(S.vote(false, 0, 1)))),
      delta(voteDelta(false, 2, 5)),
      process(2, id, voteSelf(true)),
      expect(reply(2, response(S.vote(true, 3, 5)), updated(voteDelta(true)))),
    ],
    [
      send(init(SERVICE, id, voteDelta(true, 3, 5))),
      process(1, id),
      expect(reply(1, response(S.vote(true, 3, 5)))),
      process(2, id, voteSelf(false)),
      expect(reply(2, response(S.vote(false, 2, 5)), updated(voteDelta(false)))),
    ],
  ],
  deleteReceived: (id) => [
    send(init(SERVICE, id)),
    process(1, id, voteSelf(true)),
    expect(reply(1, response(S.vote(true, 1, 1)), updated(voteDelta(true)))),
    process(2, id, [requestDelete()]),
    expect(reply(2, response(S.vote(true, 1, 1)), deleteCrdt)),
  ],
});

const streamedCommand = (n: number, id: string, init: MessageInitShape<typeof model.StreamedRequestSchema>) =>
  send(command(n, id, "ProcessStreamed", streamedRequest(init), true));

const effectTests: TckTest[] = [
  typed("GCounter", "forward to second service", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, incrementBy(42)),
      expect(reply(1, response(S.gcounter(42)), updated(gcounterDelta(42)))),
      process(2, id, [forwardTo(`X-${id}`)]),
      expect(forwarded(2, `X-${id}`)),
      process(3, id),
      expect(reply(3, response(S.gcounter(42)))),
    ]),
  ),
  typed("PNCounter", "forward with state changes", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, [...changeBy(-42), forwardTo(`X-${id}`)]),
      expect(forwarded(1, `X-${id}`, updated(pncounterDelta(-42)))),
    ]),
  ),
  typed("GSet", "reply with side effect to second service", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, gsetAdd("one")),
      expect(reply(1, response(S.gset("one")), updated(gsetDelta("one")))),
      process(2, id, [sideEffectTo(`X-${id}`)]),
      expect(reply(2, response(S.gset("one")), sideEffects(`X-${id}`))),
      process(3, id),
      expect(reply(3, response(S.gset("one")))),
    ]),
  ),
  typed("ORSet", "synchronous side effect to second service", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, [sideEffectTo(`X-${id}`, true)]),
      expect(reply(1, response(S.orset()), synchronousSideEffects(`X-${id}`))),
    ]),
  ),
  typed("LWWRegister", "forward and side effect to second service", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, [sideEffectTo(`B-${id}`), forwardTo(`A-${id}`)]),
      expect(forwarded(1, `A-${id}`, mergeEffects(updated(lwwregisterDelta("")), sideEffects(`B-${id}`)))),
    ]),
  ),
  typed("Flag", "reply with multiple side effects", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(
        1,
        id,
        ["1", "2", "3"].map((s) => sideEffectTo(s)),
      ),
      expect(reply(1, response(S.flag(false)), sideEffects("1", "2", "3"))),
    ]),
  ),
  typed("ORMap", "reply with multiple side effects and state changes", (protocol, id) => {
    const actions = [...ormapAdd("PNCounter-1"), ...ormapUpdateWith(["GSet-1", gsetAdd("a", "b", "c")]), ...["1", "2", "3"].map((s) => sideEffectTo(s))];
    const state = S.ormap(["GSet-1", S.gset("a", "b", "c")], ["PNCounter-1", S.pncounter(0)]);
    const effects = mergeEffects(
      updated(
        ormapDelta({
          added: [
            ["GSet-1", gsetDelta("a", "b", "c")],
            ["PNCounter-1", pncounterDelta(0)],
          ],
        }),
      ),
      sideEffects("1", "2", "3"),
    );
    return script(protocol, [send(init(SERVICE, id)), process(1, id, actions), expect(reply(1, response(state), effects), true)]);
  }),
  typed("GCounter", "failure action", (protocol, id) =>
    script(protocol, [send(init(SERVICE, id)), process(1, id, [failWith("expected failure")]), expect(failure(1, "expected failure"))]),
  ),
  typed("PNCounter", "connection after failure action", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, changeBy(42)),
      expect(reply(1, response(S.pncounter(42)), updated(pncounterDelta(42)))),
      process(2, id, [failWith("expected failure")]),
      expect(failure(2, "expected failure")),
      process(3, id),
      expect(reply(3, response(S.pncounter(42)))),
    ]),
  ),
  typed("GCounter", "streamed responses", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      streamedCommand(1, id, { id }),
      expect(reply(1, response(S.gcounter(0)), { streamed: true })),
      process(2, id, incrementBy(1)),
      expect(reply(2, response(S.gcounter(1)), updated(gcounterDelta(1)))),
      expect(streamed(1, response(S.gcounter(1)))),
      process(3, id, incrementBy(2)),
      expect(reply(3, response(S.gcounter(3)), updated(gcounterDelta(2)))),
      expect(streamed(1, response(S.gcounter(3)))),
      process(4, id, incrementBy(3)),
      expect(reply(4, response(S.gcounter(6)), updated(gcounterDelta(3)))),
      expect(streamed(1, response(S.gcounter(6)))),
    ]),
  ),
  typed("GCounter", "streamed responses with stream ending action", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      streamedCommand(1, id, { id, endState: S.gcounter(3) }),
      expect(reply(1, response(S.gcounter(0)), { streamed: true })),
      process(2, id, incrementBy(1)),
      expect(reply(2, response(S.gcounter(1)), updated(gcounterDelta(1)))),
      expect(streamed(1, response(S.gcounter(1)))),
      process(3, id, incrementBy(2)),
      expect(reply(3, response(S.gcounter(3)), updated(gcounterDelta(2)))),
      expect(streamed(1, response(S.gcounter(3)), { endStream: true })),
      process(4, id, incrementBy(3)),
      expect(reply(4, response(S.gcounter(6)), updated(gcounterDelta(3)))),
    ]),
  ),
  typed("PNCounter", "streamed responses with cancellation", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      streamedCommand(1, id, { id, cancelUpdate: U.pncounter(-42) }),
      expect(reply(1, response(S.pncounter(0)), { streamed: true })),
      process(2, id, changeBy(10)),
      expect(reply(2, response(S.pncounter(10)), updated(pncounterDelta(10)))),
      expect(streamed(1, response(S.pncounter(10)))),
      process(3, id, changeBy(20)),
      expect(reply(3, response(S.pncounter(30)), updated(pncounterDelta(20)))),
      expect(streamed(1, response(S.pncounter(30)))),
      send(streamCancelled(1, id)),
      expect(streamCancelledResponse(1, updated(pncounterDelta(-42)))),
      process(4, id),
      expect(reply(4, response(S.pncounter(-12)))),
      process(5, id, changeBy(30)),
      expect(reply(5, response(S.pncounter(18)), updated(pncounterDelta(30)))),
    ]),
  ),
  typed("PNCounter", "empty streamed responses with cancellation", (protocol, id) =>
    script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, changeBy(10)),
      expect(reply(1, response(S.pncounter(10)), updated(pncounterDelta(10)))),
      streamedCommand(2, id, { id, cancelUpdate: U.pncounter(-42), empty: true }),
      expect(crdtReply(2, undefined, { streamed: true })),
      send(streamCancelled(2, id)),
      expect(streamCancelledResponse(2, updated(pncounterDelta(-42)))),
      process(3, id),
      expect(reply(3, response(S.pncounter(-32)))),
    ]),
  ),
  typed("GSet", "streamed responses with side effects", (protocol, id) => {
    const effects = mergeEffects(sideEffects("one"), synchronousSideEffects("two"));
    return script(protocol, [
      send(init(SERVICE, id)),
      streamedCommand(1, id, { id, effects: [{ id: "one" }, { id: "two", synchronous: true }] }),
      expect(reply(1, response(S.gset()), { streamed: true })),
      process(2, id, gsetAdd("a")),
      expect(reply(2, response(S.gset("a")), updated(gsetDelta("a")))),
      expect(streamed(1, response(S.gset("a")), effects)),
      process(3, id, gsetAdd("b")),
      expect(reply(3, response(S.gset("a", "b")), updated(gsetDelta("b")))),
      expect(streamed(1, response(S.gset("a", "b")), effects)),
    ]);
  }),
  typed("GCounter", "write consistency can be configured", (protocol, id) => {
    const incrementWith = (increment: number, writeConsistency: model.UpdateWriteConsistency) => [
      requestUpdate({ ...U.gcounter(increment), writeConsistency }),
    ];
    const updatedWith = (value: number, writeConsistency: CrdtWriteConsistency): CrdtEffects => ({
      stateAction: crdtUpdate(gcounterDelta(value), writeConsistency),
    });
    return script(protocol, [
      send(init(SERVICE, id)),
      process(1, id, incrementWith(1, model.UpdateWriteConsistency.LOCAL)),
      expect(reply(1, response(S.gcounter(1)), updatedWith(1, CrdtWriteConsistency.LOCAL))),
      process(2, id, incrementWith(2, model.UpdateWriteConsistency.MAJORITY)),
      expect(reply(2, response(S.gcounter(3)), updatedWith(2, CrdtWriteConsistency.MAJORITY))),
      process(3, id, incrementWith(3, model.UpdateWriteConsistency.ALL)),
      expect(reply(3, response(S.gcounter(6)), updatedWith(3, CrdtWriteConsistency.ALL))),
    ]);
  }),
];

/** Calls `CrdtTckModel.Process` on the proxy and checks the response state. */
async function processOnProxy(context: TckContext, id: string, actions: Action[], state: State): Promise<void> {
  const got = await context.client.unary(model.CrdtTckModel.method.process, { id, actions });
  expectMessage(model.ResponseSchema, got, create(model.ResponseSchema, { state }), "response from the proxy");
}

const proxyTests: TckTest[] = [
  proxyTest("state changes", async (context) => {
    const id = ids.next("PNCounter");
    await processOnProxy(context, id, [], S.pncounter(0));
    const connection = await context.interceptor.expectConnection("crdt");
    await connection.expectIncoming(init(SERVICE, id));
    await connection.expectIncoming(command(1, id, "Process", request(id)));
    await connection.expectOutgoing(reply(1, response(S.pncounter(0))));

    await processOnProxy(context, id, changeBy(1, -2, 3), S.pncounter(2));
    await connection.expectIncoming(command(2, id, "Process", request(id, changeBy(1, -2, 3))));
    await connection.expectOutgoing(reply(2, response(S.pncounter(2)), updated(pncounterDelta(2))));

    await processOnProxy(context, id, changeBy(4, -5, 6), S.pncounter(7));
    await connection.expectIncoming(command(3, id, "Process", request(id, changeBy(4, -5, 6))));
    await connection.expectOutgoing(reply(3, response(S.pncounter(7)), updated(pncounterDelta(5))));

    await processOnProxy(context, id, [requestDelete()], S.pncounter(7));
    await connection.expectIncoming(command(4, id, "Process", request(id, [requestDelete()])));
    await connection.expectOutgoing(reply(4, response(S.pncounter(7)), deleteCrdt));
    await connection.expectClosed();
  }),

  proxyTest("forwards and side effects", async (context) => {
    const { interceptor } = context;
    const id = ids.next("GSet");
    await processOnProxy(context, id, gsetAdd("one"), S.gset("one"));
    const connection = await interceptor.expectConnection("crdt");
    await connection.expectIncoming(init(SERVICE, id));
    await connection.expectIncoming(command(1, id, "Process", request(id, gsetAdd("one"))));
    await connection.expectOutgoing(reply(1, response(S.gset("one")), updated(gsetDelta("one"))));

    const forwardedResponse = await context.client.unary(model.CrdtTckModel.method.process, { id, actions: [forwardTo(id)] });
    expectMessage(model.ResponseSchema, forwardedResponse, create(model.ResponseSchema), "response from the proxy");
    await connection.expectIncoming(command(2, id, "Process", request(id, [forwardTo(id)])));
    await connection.expectOutgoing(forward(2, SERVICE_TWO, "Call", request(id)));
    const connection2 = await interceptor.expectConnection("crdt");
    await connection2.expectIncoming(init(SERVICE_TWO, id));
    await connection2.expectIncoming(command(1, id, "Call", request(id)));
    await connection2.expectOutgoing(reply(1, response()));

    await processOnProxy(context, id, [sideEffectTo(id)], S.gset("one"));
    await connection.expectIncoming(command(3, id, "Process", request(id, [sideEffectTo(id)])));
    await connection.expectOutgoing(reply(3, response(S.gset("one")), sideEffects(id)));
    await connection2.expectIncoming(command(2, id, "Call", request(id)));
    await connection2.expectOutgoing(reply(2, response()));

    await processOnProxy(context, id, [requestDelete()], S.gset("one"));
    await connection.expectIncoming(command(4, id, "Process", request(id, [requestDelete()])));
    await connection.expectOutgoing(reply(4, response(S.gset("one")), deleteCrdt));
    await connection.expectClosed();

    const twoResponse = await context.client.unary(model.CrdtTwo.method.call, { id, actions: [requestDelete()] });
    expectMessage(model.ResponseSchema, twoResponse, create(model.ResponseSchema), "response from the proxy");
    await connection2.expectIncoming(command(3, id, "Call", request(id, [requestDelete()])));
    await connection2.expectOutgoing(reply(3, response(), deleteCrdt));
    await connection2.expectClosed();
  }),

  proxyTest("failures", async (context) => {
    const id = ids.next("GCounter");
    await processOnProxy(context, id, incrementBy(42), S.gcounter(42));
    const connection = await context.interceptor.expectConnection("crdt");
    await connection.expectIncoming(init(SERVICE, id));
    await connection.expectIncoming(command(1, id, "Process", request(id, incrementBy(42))));
    await connection.expectOutgoing(reply(1, response(S.gcounter(42)), updated(gcounterDelta(42))));

    const failed = await expectCallFailure(
      context.client.unary(model.CrdtTckModel.method.process, { id, actions: [failWith("expected failure")] }),
      "the call",
    );
    checkEqual(failed.details, "expected failure", "gRPC status description");
    await connection.expectIncoming(command(2, id, "Process", request(id, [failWith("expected failure")])));
    await connection.expectOutgoing(failure(2, "expected failure"));

    await processOnProxy(context, id, [requestDelete()], S.gcounter(42));
    await connection.expectIncoming(command(3, id, "Process", request(id, [requestDelete()])));
    await connection.expectOutgoing(reply(3, response(S.gcounter(42)), deleteCrdt));
    await connection.expectClosed();
  }),

  proxyTest("streamed responses for connection tracking", async (context) => {
    const { client, interceptor } = context;
    const id = ids.next("Vote");
    const state0 = create(model.ResponseSchema, { state: S.vote(false, 0, 1) });
    const state1 = create(model.ResponseSchema, { state: S.vote(true, 1, 1) });

    const monitor = client.serverStream(model.CrdtTckModel.method.processStreamed, { id });
    expectMessage(model.ResponseSchema, await monitor.next(), state0, "monitor response");
    const connection = await interceptor.expectConnection("crdt");
    await connection.expectIncoming(init(SERVICE, id));
    await connection.expectIncoming(command(1, id, "ProcessStreamed", streamedRequest({ id }), true));
    await connection.expectOutgoing(reply(1, response(S.vote(false, 0, 1)), { streamed: true }));

    const connectRequest = { id, initialUpdate: U.vote(true), cancelUpdate: U.vote(false), empty: true };
    const connect = client.serverStream(model.CrdtTckModel.method.processStreamed, connectRequest);
    await connect.expectNone(100);
    expectMessage(model.ResponseSchema, await monitor.next(), state1, "monitor response");
    await connection.expectIncoming(command(2, id, "ProcessStreamed", streamedRequest(connectRequest), true));
    await connection.expectOutgoing(crdtReply(2, undefined, mergeEffects({ streamed: true }, updated(voteDelta(true)))));
    await connection.expectOutgoing(streamed(1, response(S.vote(true, 1, 1))));

    connect.cancel();
    expectMessage(model.ResponseSchema, await monitor.next(), state0, "monitor response");
    await connection.expectIncoming(streamCancelled(2, id));
    await connection.expectOutgoing(streamCancelledResponse(2, updated(voteDelta(false))));
    await connection.expectOutgoing(streamed(1, response(S.vote(false, 0, 1))));

    monitor.cancel();
    await connection.expectIncoming(streamCancelled(1, id));
    await connection.expectOutgoing(streamCancelledResponse(1));

    await processOnProxy(context, id, [requestDelete()], S.vote(false, 0, 1));
    await connection.expectIncoming(command(3, id, "Process", request(id, [requestDelete()])));
    await connection.expectOutgoing(reply(3, response(S.vote(false, 0, 1)), deleteCrdt));
    await connection.expectClosed();
  }),

  proxyTest("HTTP API", async (context) => {
    const { http, interceptor } = context;
    const id = ids.next("PNCounter");
    checkEqual(await http.request(`tck/model/crdt/${id}`, "{}"), `{"state":{"pncounter":{"value":"0"}}}`, "HTTP response body");
    const connection = await interceptor.expectConnection("crdt");
    await connection.expectIncoming(init(SERVICE, id));
    await connection.expectIncoming(command(1, id, "Process", request(id)));
    await connection.expectOutgoing(reply(1, response(S.pncounter(0))));

    checkEqual(await http.request("cloudstate.tck.model.crdt.CrdtTwo/Call", `{"id": "${id}"}`), "{}", "HTTP response body");
    const two = await interceptor.expectConnection("crdt");
    await two.expectIncoming(init(SERVICE_TWO, id));
    await two.expectIncoming(command(1, id, "Call", request(id)));
    await two.expectOutgoing(reply(1, response()));

    checkEqual(
      await http.request(`tck/model/crdt/${id}`, `{"actions": [{"update": {"pncounter": {"change": 42} }}]}`),
      `{"state":{"pncounter":{"value":"42"}}}`,
      "HTTP response body",
    );
    await connection.expectIncoming(command(2, id, "Process", request(id, changeBy(42))));
    await connection.expectOutgoing(reply(2, response(S.pncounter(42)), updated(pncounterDelta(42))));

    checkEqual(
      await http.requestToError(`tck/model/crdt/${id}`, `{"actions": [{"fail": {"message": "expected failure"}}]}`),
      "expected failure",
      "HTTP error body",
    );
    await connection.expectIncoming(command(3, id, "Process", request(id, [failWith("expected failure")])));
    await connection.expectOutgoing(failure(3, "expected failure"));

    checkEqual(
      await http.request(`tck/model/crdt/${id}`, `{"actions": [{"update": {"pncounter": {"change": -123} }}]}`),
      `{"state":{"pncounter":{"value":"-81"}}}`,
      "HTTP response body",
    );
    await connection.expectIncoming(command(4, id, "Process", request(id, changeBy(-123))));
    await connection.expectOutgoing(reply(4, response(S.pncounter(-81)), updated(pncounterDelta(-123))));

    checkEqual(await http.request(`tck/model/crdt/${id}`, `{"actions": [{"delete": {}}]}`), `{"state":{"pncounter":{"value":"-81"}}}`, "HTTP response body");
    await connection.expectIncoming(command(5, id, "Process", request(id, [requestDelete()])));
    await connection.expectOutgoing(reply(5, response(S.pncounter(-81)), deleteCrdt));
    await connection.expectClosed();
  }),

  proxyTest("passivation timeout", async (context) => {
    const id = ids.next("Configured");
    context.client.unary(model.CrdtConfigured.method.call, { id }).catch(() => {});
    const connection = await context.interceptor.expectConnection("crdt");
    await connection.expectIncoming(init(SERVICE_CONFIGURED, id));
    await connection.expectIncoming(command(1, id, "Call", request(id)));
    await connection.expectOutgoing(reply(1, response()));
    await connection.expectClosed(2000);
  }),
];

/** The CRDT area: 82 model tests and 6 proxy tests. */
export const crdtSuite: TckSuite = {
  area: "CRDT",
  tests: [
    modelTest("CRDT entity discovery", async (context) => {
      check(
        context.discoveredServices.includes(SERVICE) && context.discoveredServices.includes(SERVICE_TWO),
        "the descriptor set must contain CrdtTckModel and CrdtTwo",
      );
      checkEqual(context.entity(SERVICE)?.entityType, PROTOCOL, "CrdtTckModel entity type");
      checkEqual(context.entity(SERVICE_TWO)?.entityType, PROTOCOL, "CrdtTwo entity type");
    }),
    modelTest("CRDT configured entity", async (context) => {
      check(context.discoveredServices.includes(SERVICE_CONFIGURED), "the descriptor set must contain CrdtConfigured");
      const entity = context.entity(SERVICE_CONFIGURED);
      checkEqual(entity?.entityType, PROTOCOL, "CrdtConfigured entity type");
      const strategy = entity?.passivationStrategy?.strategy;
      checkEqual(strategy?.case === "timeout" ? strategy.value.timeout : undefined, 100n, "CrdtConfigured passivation timeout (ms)");
    }),
    ...gcounterTests,
    ...pncounterTests,
    ...gsetTests,
    ...orsetTests,
    ...lwwregisterTests,
    ...flagTests,
    ...ormapTests,
    ...voteTests,
    ...effectTests,
    ...proxyTests,
  ],
};
