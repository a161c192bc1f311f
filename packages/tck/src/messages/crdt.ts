/**
 * Builders of `cloudstate.crdt` stream messages and deltas, as the upstream testkit's
 * `CrdtMessages`.
 */
import { clone, create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  type ClientAction,
  CrdtClock,
  type CrdtDelta,
  CrdtDeltaSchema,
  type CrdtStateAction,
  CrdtStateActionSchema,
  type CrdtStreamIn,
  CrdtStreamInSchema,
  type CrdtStreamOut,
  CrdtStreamOutSchema,
  CrdtWriteConsistency,
  type SideEffect,
} from "@switchboard/protocol";
import { clientActionFailure, clientActionForward, clientActionReply, primitiveString, readPrimitiveString } from "./common.js";

/** What a CRDT reply, streamed message or cancellation response carries. */
export interface CrdtEffects {
  readonly stateAction?: CrdtStateAction;
  readonly sideEffects?: readonly SideEffect[];
  readonly streamed?: boolean;
  readonly endStream?: boolean;
}

/** Merges effects: the first state action, side effects concatenated, flags or-ed. */
export function mergeEffects(a: CrdtEffects, b: CrdtEffects): CrdtEffects {
  const stateAction = a.stateAction ?? b.stateAction;
  return {
    ...(stateAction ? { stateAction } : {}),
    sideEffects: [...(a.sideEffects ?? []), ...(b.sideEffects ?? [])],
    streamed: (a.streamed ?? false) || (b.streamed ?? false),
    endStream: (a.endStream ?? false) || (b.endStream ?? false),
  };
}

/** `init`, optionally with the current state as a delta. */
export function init(serviceName: string, entityId: string, delta?: CrdtDelta): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "init", value: { serviceName, entityId, ...(delta ? { delta } : {}) } } });
}

/** A replicated delta. */
export function deltaMessage(delta: CrdtDelta): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "delta", value: delta } });
}

/** `delete` sent to the entity. */
export function deleteMessage(): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "delete", value: {} } });
}

/** A command (no metadata). */
export function command(id: number, entityId: string, name: string, payload: Any, streamed = false): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "command", value: { entityId, id: BigInt(id), name, payload, streamed } } });
}

/** `StreamCancelled` for command `id`. */
export function streamCancelled(id: number, entityId: string): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "streamCancelled", value: { entityId, id: BigInt(id) } } });
}

/** A `CrdtReply`. */
export function crdtReply(id: number, clientAction: ClientAction | undefined, effects: CrdtEffects = {}): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId: BigInt(id),
        ...(clientAction ? { clientAction } : {}),
        sideEffects: [...(effects.sideEffects ?? [])],
        ...(effects.stateAction ? { stateAction: effects.stateAction } : {}),
        streamed: effects.streamed ?? false,
      },
    },
  });
}

/** A reply to the client. */
export function reply(id: number, payload: Any, effects: CrdtEffects = {}): CrdtStreamOut {
  return crdtReply(id, clientActionReply(payload), effects);
}

/** A forward. */
export function forward(id: number, service: string, commandName: string, payload: Any, effects: CrdtEffects = {}): CrdtStreamOut {
  return crdtReply(id, clientActionForward(service, commandName, payload), effects);
}

/** A client-visible failure of command `id`. */
export function failure(id: number, description: string): CrdtStreamOut {
  return crdtReply(id, clientActionFailure(id, description));
}

/** A further message on streamed command `id`. */
export function streamed(id: number, payload: Any, effects: CrdtEffects = {}): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: {
      case: "streamedMessage",
      value: {
        commandId: BigInt(id),
        clientAction: clientActionReply(payload),
        sideEffects: [...(effects.sideEffects ?? [])],
        endStream: effects.endStream ?? false,
      },
    },
  });
}

/** The answer to `StreamCancelled` for command `id`. */
export function streamCancelledResponse(id: number, effects: CrdtEffects = {}): CrdtStreamOut {
  return create(CrdtStreamOutSchema, {
    message: {
      case: "streamCancelledResponse",
      value: { commandId: BigInt(id), sideEffects: [...(effects.sideEffects ?? [])], ...(effects.stateAction ? { stateAction: effects.stateAction } : {}) },
    },
  });
}

/** An `update` state action. */
export function crdtUpdate(delta: CrdtDelta, writeConsistency: CrdtWriteConsistency = CrdtWriteConsistency.LOCAL): CrdtStateAction {
  return create(CrdtStateActionSchema, { action: { case: "update", value: delta }, writeConsistency });
}

/** A `delete` state action. */
export function crdtDelete(): CrdtStateAction {
  return create(CrdtStateActionSchema, { action: { case: "delete", value: {} } });
}

/** GCounter delta. */
export function gcounterDelta(increment: number): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "gcounter", value: { increment: BigInt(increment) } } });
}

/** PNCounter delta. */
export function pncounterDelta(change: number): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "pncounter", value: { change: BigInt(change) } } });
}

/** GSet delta adding string elements. */
export function gsetDelta(...added: string[]): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "gset", value: { added: added.map(primitiveString) } } });
}

/** ORSet delta of string elements. */
export function orsetDelta(options: { cleared?: boolean; removed?: readonly string[]; added?: readonly string[] } = {}): CrdtDelta {
  return create(CrdtDeltaSchema, {
    delta: {
      case: "orset",
      value: { cleared: options.cleared ?? false, removed: (options.removed ?? []).map(primitiveString), added: (options.added ?? []).map(primitiveString) },
    },
  });
}

/** LWWRegister delta of a string value. */
export function lwwregisterDelta(value: string, clock: CrdtClock = CrdtClock.DEFAULT, customClockValue = 0): CrdtDelta {
  return create(CrdtDeltaSchema, {
    delta: { case: "lwwregister", value: { value: primitiveString(value), clock, customClockValue: BigInt(customClockValue) } },
  });
}

/** Flag delta. */
export function flagDelta(value: boolean): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "flag", value: { value } } });
}

/** ORMap delta with string keys. */
export function ormapDelta(
  options: {
    cleared?: boolean;
    removed?: readonly string[];
    updated?: readonly (readonly [string, CrdtDelta])[];
    added?: readonly (readonly [string, CrdtDelta])[];
  } = {},
): CrdtDelta {
  const entries = (list: readonly (readonly [string, CrdtDelta])[] | undefined) => (list ?? []).map(([key, delta]) => ({ key: primitiveString(key), delta }));
  return create(CrdtDeltaSchema, {
    delta: {
      case: "ormap",
      value: {
        cleared: options.cleared ?? false,
        removed: (options.removed ?? []).map(primitiveString),
        updated: entries(options.updated),
        added: entries(options.added),
      },
    },
  });
}

/** Vote delta. */
export function voteDelta(selfVote: boolean, votesFor = 0, totalVoters = 0): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "vote", value: { selfVote, votesFor, totalVoters } } });
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Sorts the element lists of a delta (recursively for ORMap), so unordered sets compare equal. */
export function sortDelta(delta: CrdtDelta): CrdtDelta {
  const copy = clone(CrdtDeltaSchema, delta);
  const sortAnys = (list: Any[]) => list.sort((a, b) => byString(readPrimitiveString(a), readPrimitiveString(b)));
  const d = copy.delta;
  if (d.case === "gset") sortAnys(d.value.added);
  else if (d.case === "orset") {
    sortAnys(d.value.removed);
    sortAnys(d.value.added);
  } else if (d.case === "ormap") {
    sortAnys(d.value.removed);
    for (const list of [d.value.updated, d.value.added]) {
      for (const entry of list) if (entry.delta) entry.delta = sortDelta(entry.delta);
      list.sort((a, b) => byString(readPrimitiveString(a.key), readPrimitiveString(b.key)));
    }
  }
  return copy;
}

/** Sorts the delta of a reply's update state action (upstream `Delta.sorted`). */
export function sortedReply(out: CrdtStreamOut): CrdtStreamOut {
  if (out.message.case !== "reply") return out;
  const action = out.message.value.stateAction?.action;
  if (action?.case !== "update") return out;
  const copy = clone(CrdtStreamOutSchema, out);
  if (copy.message.case === "reply" && copy.message.value.stateAction?.action.case === "update") {
    copy.message.value.stateAction.action.value = sortDelta(copy.message.value.stateAction.action.value);
  }
  return copy;
}
