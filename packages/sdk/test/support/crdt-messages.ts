/**
 * Builders of `cloudstate.crdt` stream messages and of the CRDT TCK model's requests and states,
 * after the upstream testkit's `CrdtMessages` and the TCK's `CrdtEntityTCK` helpers, so the SDK's
 * CRDT tests read like the upstream model tests they port.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { CrdtDelta, CrdtStreamOut, SideEffect } from "@switchboard/protocol";
import {
  CrdtClock,
  type CrdtDeltaSchema,
  type CrdtStateActionSchema,
  type CrdtStreamInSchema,
  CrdtStreamOutSchema,
  CrdtWriteConsistency,
  SideEffectSchema,
} from "@switchboard/protocol";
import { crdt as model } from "@switchboard/protocol/tck";
import { codecs } from "../../src/index.js";
import { payload } from "./protocol-client.js";

export const SERVICE = "cloudstate.tck.model.crdt.CrdtTckModel";
export const SERVICE_TWO = "cloudstate.tck.model.crdt.CrdtTwo";

type Delta = NonNullable<MessageInitShape<typeof CrdtDeltaSchema>["delta"]>;
type Action = MessageInitShape<typeof model.RequestActionSchema>;
type Update = MessageInitShape<typeof model.UpdateSchema>;
type State = MessageInitShape<typeof model.StateSchema>;

export const str = (value: string): Any => codecs.string.encode(value);

/** What a reply, streamed message or cancelled response carries besides its client action. */
export interface Effects {
  stateAction?: { update?: Delta; delete?: boolean; writeConsistency?: CrdtWriteConsistency };
  sideEffects?: SideEffect[];
  streamed?: boolean;
  endStream?: boolean;
}

export function merge(...all: Effects[]): Effects {
  const out: Effects = {};
  for (const e of all) {
    if (out.stateAction === undefined && e.stateAction !== undefined) out.stateAction = e.stateAction;
    out.sideEffects = [...(out.sideEffects ?? []), ...(e.sideEffects ?? [])];
    out.streamed ||= e.streamed ?? false;
    out.endStream ||= e.endStream ?? false;
  }
  return out;
}

function stateAction(effects: Effects): { stateAction?: MessageInitShape<typeof CrdtStateActionSchema> } {
  const a = effects.stateAction;
  if (a === undefined) return {};
  const writeConsistency = a.writeConsistency ?? CrdtWriteConsistency.LOCAL;
  if (a.delete === true) return { stateAction: { action: { case: "delete", value: {} }, writeConsistency } };
  if (a.update === undefined) throw new Error("a state action needs an update or a delete");
  return { stateAction: { action: { case: "update", value: { delta: a.update } }, writeConsistency } };
}

// Stream in

export function init(serviceName: string, entityId: string, delta?: Delta): MessageInitShape<typeof CrdtStreamInSchema> {
  return { message: { case: "init", value: { serviceName, entityId, ...(delta === undefined ? {} : { delta: { delta } }) } } };
}
export const deltaIn = (delta: Delta): MessageInitShape<typeof CrdtStreamInSchema> => ({ message: { case: "delta", value: { delta } } });
export const deleteIn: MessageInitShape<typeof CrdtStreamInSchema> = { message: { case: "delete", value: {} } };
export function command(id: number, entityId: string, name: string, request: Any, streamed = false): MessageInitShape<typeof CrdtStreamInSchema> {
  return { message: { case: "command", value: { entityId, id: BigInt(id), name, payload: request, streamed } } };
}
export const process = (id: number, entityId: string, actions: Action[] = []) =>
  command(id, entityId, "Process", payload(model.RequestSchema, { id: entityId, actions }));
export const processStreamed = (id: number, entityId: string, request: Omit<MessageInitShape<typeof model.StreamedRequestSchema>, "id" | "$typeName"> = {}) =>
  command(id, entityId, "ProcessStreamed", payload(model.StreamedRequestSchema, { id: entityId, ...request }), true);
export const cancelled = (id: number, entityId: string): MessageInitShape<typeof CrdtStreamInSchema> => ({
  message: { case: "streamCancelled", value: { entityId, id: BigInt(id) } },
});

// Stream out

export function reply(id: number, state: State | undefined, effects: Effects = {}): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId: BigInt(id),
        ...(state === undefined ? {} : { clientAction: { action: { case: "reply", value: { payload: payload(model.ResponseSchema, { state }) } } } }),
        sideEffects: effects.sideEffects ?? [],
        streamed: effects.streamed ?? false,
        ...stateAction(effects),
      },
    },
  });
}
export function forwarded(id: number, entityId: string, effects: Effects = {}): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId: BigInt(id),
        clientAction: {
          action: { case: "forward", value: { serviceName: SERVICE_TWO, commandName: "Call", payload: payload(model.RequestSchema, { id: entityId }) } },
        },
        sideEffects: effects.sideEffects ?? [],
        ...stateAction(effects),
      },
    },
  });
}
export function failure(id: number, description: string): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: { case: "reply", value: { commandId: BigInt(id), clientAction: { action: { case: "failure", value: { commandId: BigInt(id), description } } } } },
  });
}
export function streamed(id: number, state: State, effects: Effects = {}): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: {
      case: "streamedMessage",
      value: {
        commandId: BigInt(id),
        clientAction: { action: { case: "reply", value: { payload: payload(model.ResponseSchema, { state }) } } },
        sideEffects: effects.sideEffects ?? [],
        endStream: effects.endStream ?? false,
      },
    },
  });
}
export function cancelledResponse(id: number, effects: Effects = {}): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: { case: "streamCancelledResponse", value: { commandId: BigInt(id), sideEffects: effects.sideEffects ?? [], ...stateAction(effects) } },
  });
}

export const deleteCrdt: Effects = { stateAction: { delete: true } };
export function sideEffects(synchronous: boolean, ...ids: string[]): Effects {
  return {
    sideEffects: ids.map((id) =>
      create(SideEffectSchema, { serviceName: SERVICE_TWO, commandName: "Call", payload: payload(model.RequestSchema, { id }), synchronous }),
    ),
  };
}

// Requests

export const requestUpdate = (update: Update): Action => ({ action: { case: "update", value: update } });
export const requestDelete: Action = { action: { case: "delete", value: {} } };
export const forwardTo = (id: string): Action => ({ action: { case: "forward", value: { id } } });
export const sideEffectTo = (id: string, synchronous = false): Action => ({ action: { case: "effect", value: { id, synchronous } } });
export const failWith = (message: string): Action => ({ action: { case: "fail", value: { message } } });

const update = (delta: Delta): Effects => ({ stateAction: { update: delta } });

export const GCounter = {
  state: (value: bigint | number): State => ({ value: { case: "gcounter", value: { value: BigInt(value) } } }),
  updateWith: (increment: bigint | number): Update => ({ update: { case: "gcounter", value: { increment: BigInt(increment) } } }),
  incrementBy: (...increments: number[]): Action[] => increments.map((n) => requestUpdate(GCounter.updateWith(n))),
  delta: (increment: bigint | number): Delta => ({ case: "gcounter", value: { increment: BigInt(increment) } }),
  update: (increment: bigint | number): Effects => update(GCounter.delta(increment)),
};

export const PNCounter = {
  state: (value: bigint | number): State => ({ value: { case: "pncounter", value: { value: BigInt(value) } } }),
  updateWith: (change: bigint | number): Update => ({ update: { case: "pncounter", value: { change: BigInt(change) } } }),
  changeBy: (...changes: number[]): Action[] => changes.map((n) => requestUpdate(PNCounter.updateWith(n))),
  delta: (change: bigint | number): Delta => ({ case: "pncounter", value: { change: BigInt(change) } }),
  update: (change: bigint | number): Effects => update(PNCounter.delta(change)),
};

export const GSet = {
  state: (...elements: string[]): State => ({ value: { case: "gset", value: { elements } } }),
  updateWith: (element: string): Update => ({ update: { case: "gset", value: { add: element } } }),
  add: (...elements: string[]): Action[] => elements.map((e) => requestUpdate(GSet.updateWith(e))),
  delta: (...added: string[]): Delta => ({ case: "gset", value: { added: added.map(str) } }),
  update: (...added: string[]): Effects => update(GSet.delta(...added)),
};

export const ORSet = {
  state: (...elements: string[]): State => ({ value: { case: "orset", value: { elements } } }),
  action: (action: NonNullable<MessageInitShape<typeof model.ORSetUpdateSchema>["action"]>): Action =>
    requestUpdate({ update: { case: "orset", value: { action } } }),
  add: (...elements: string[]): Action[] => elements.map((value) => ORSet.action({ case: "add", value })),
  remove: (...elements: string[]): Action[] => elements.map((value) => ORSet.action({ case: "remove", value })),
  clear: (): Action[] => [ORSet.action({ case: "clear", value: true })],
  delta: (d: { cleared?: boolean; removed?: string[]; added?: string[] } = {}): Delta => ({
    case: "orset",
    value: { cleared: d.cleared ?? false, removed: (d.removed ?? []).map(str), added: (d.added ?? []).map(str) },
  }),
  update: (d: { cleared?: boolean; removed?: string[]; added?: string[] } = {}): Effects => update(ORSet.delta(d)),
};

export const LWWRegister = {
  state: (value: string): State => ({ value: { case: "lwwregister", value: { value } } }),
  setTo: (value: string, clockType = model.LWWRegisterClockType.DEFAULT, customClockValue = 0n): Action[] => [
    requestUpdate({ update: { case: "lwwregister", value: { value, clock: { clockType, customClockValue } } } }),
  ],
  delta: (value: string, clock = CrdtClock.DEFAULT, customClockValue = 0n): Delta => ({
    case: "lwwregister",
    value: { value: str(value), clock, customClockValue },
  }),
  update: (value: string, clock = CrdtClock.DEFAULT, customClockValue = 0n): Effects => update(LWWRegister.delta(value, clock, customClockValue)),
};

export const Flag = {
  state: (value: boolean): State => ({ value: { case: "flag", value: { value } } }),
  enable: (): Action[] => [requestUpdate({ update: { case: "flag", value: {} } })],
  delta: (value: boolean): Delta => ({ case: "flag", value: { value } }),
  update: (value: boolean): Effects => update(Flag.delta(value)),
};

export const Vote = {
  state: (selfVote: boolean, votesFor: number, totalVoters: number): State => ({ value: { case: "vote", value: { selfVote, votesFor, totalVoters } } }),
  updateWith: (selfVote: boolean): Update => ({ update: { case: "vote", value: { selfVote } } }),
  self: (vote: boolean): Action[] => [requestUpdate(Vote.updateWith(vote))],
  delta: (selfVote: boolean, votesFor = 0, totalVoters = 0): Delta => ({ case: "vote", value: { selfVote, votesFor, totalVoters } }),
  update: (selfVote: boolean): Effects => update(Vote.delta(selfVote)),
};

type Entry = [string, Delta];

export const ORMap = {
  state: (...entries: [string, State][]): State => ({ value: { case: "ormap", value: { entries: entries.map(([key, value]) => ({ key, value })) } } }),
  action: (action: NonNullable<MessageInitShape<typeof model.ORMapUpdateSchema>["action"]>): Action =>
    requestUpdate({ update: { case: "ormap", value: { action } } }),
  add: (...keys: string[]): Action[] => keys.map((value) => ORMap.action({ case: "add", value })),
  updateWith: (...entries: [string, Action[]][]): Action[] =>
    entries.flatMap(([key, actions]) =>
      actions.map((a) => ORMap.action({ case: "update", value: { key, update: a.action?.case === "update" ? a.action.value : undefined } })),
    ),
  remove: (...keys: string[]): Action[] => keys.map((value) => ORMap.action({ case: "remove", value })),
  clear: (): Action[] => [ORMap.action({ case: "clear", value: true })],
  delta: (d: { cleared?: boolean; removed?: string[]; updated?: Entry[]; added?: Entry[] } = {}): Delta => ({
    case: "ormap",
    value: {
      cleared: d.cleared ?? false,
      removed: (d.removed ?? []).map(str),
      updated: (d.updated ?? []).map(([key, delta]) => ({ key: str(key), delta: { delta } })),
      added: (d.added ?? []).map(([key, delta]) => ({ key: str(key), delta: { delta } })),
    },
  }),
  update: (d: { cleared?: boolean; removed?: string[]; updated?: [string, Effects][]; added?: [string, Effects][] } = {}): Effects => {
    const deltaOf = ([key, effects]: [string, Effects]): Entry => {
      const delta = effects.stateAction?.update;
      if (delta === undefined) throw new Error(`no delta for ${key}`);
      return [key, delta];
    };
    return update(ORMap.delta({ ...d, updated: (d.updated ?? []).map(deltaOf), added: (d.added ?? []).map(deltaOf) }));
  },
};

/** The string in a `p.cloudstate.io/string` Any (else ""), for sorting. */
function readString(any: Any | undefined): string {
  return any?.typeUrl === "p.cloudstate.io/string" ? codecs.string.decode(any) : "";
}
const byString = (a: Any | undefined, b: Any | undefined): number => (readString(a) < readString(b) ? -1 : readString(a) > readString(b) ? 1 : 0);

/** The delta with set elements and map entries sorted, as the TCK's `Delta.sorted`. */
export function sortDelta(delta: CrdtDelta): CrdtDelta {
  const d = delta.delta;
  if (d.case === "gset") d.value.added.sort(byString);
  if (d.case === "orset") {
    d.value.removed.sort(byString);
    d.value.added.sort(byString);
  }
  if (d.case === "ormap") {
    d.value.removed.sort(byString);
    for (const list of [d.value.updated, d.value.added]) {
      for (const entry of list) if (entry.delta !== undefined) sortDelta(entry.delta);
      list.sort((a, b) => byString(a.key, b.key));
    }
  }
  return delta;
}

/** The message with its reply's state-action delta sorted. */
export function sorted(out: CrdtStreamOut): CrdtStreamOut {
  if (out.message.case === "reply" && out.message.value.stateAction?.action.case === "update") sortDelta(out.message.value.stateAction.action.value);
  return out;
}
