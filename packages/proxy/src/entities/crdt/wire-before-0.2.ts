import { create, type DescMethodBiDiStreaming, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  Crdt,
  type CrdtDelta,
  CrdtDeltaSchema,
  type CrdtStateAction,
  CrdtStateActionSchema,
  type CrdtStreamIn,
  CrdtStreamInSchema,
  type CrdtStreamOut,
  CrdtStreamOutSchema,
} from "@switchboard/protocol";
import { crdtBefore02 as older } from "@switchboard/protocol/older";
import type { AnyValue } from "../../store/types.js";
import type { SessionCodec, SessionProtocol } from "../session/entity-session.js";
import { compareAny } from "./any-key.js";

/**
 * The CRDT wire from before protocol 0.2, in one place: the translation between the 0.2
 * messages the CRDT runtime (and the TCK) speaks and the older messages a user function of
 * that time (java-support 0.5.2) reads and writes. docs/protocol.md ("CRDTs before 0.2")
 * tables the differences.
 *
 * Towards the user function, state that 0.2 sends as a delta from empty (`init`, and the
 * `added` entries of an ORMap delta) becomes the older whole `CrdtState`/`ORMapEntry`;
 * `delta` becomes `changed` and `delete` becomes `deleted`. From the user function, a
 * `create` with a whole state becomes an `update` with that state as a delta from empty,
 * and whole ORMap entries become entry deltas. A Vote the user function sends as a whole
 * state keeps only its `self_vote`: the counts are the proxy's to fill in (as in 0.2).
 */

/** `/cloudstate.crdt.Crdt/handle` (the same RPC as 0.2) with the older messages. */
export const CRDT_HANDLE_BEFORE_0_2: DescMethodBiDiStreaming<typeof older.CrdtStreamInSchema, typeof older.CrdtStreamOutSchema> = Object.freeze({
  ...Crdt.method.handle,
  methodKind: "bidi_streaming" as const,
  input: older.CrdtStreamInSchema,
  output: older.CrdtStreamOutSchema,
});

/** Whether a user function reporting protocol `major.minor` speaks the CRDT wire from before 0.2 (any 0.x below 0.2). */
export function speaksCrdtBefore02(major: number, minor: number): boolean {
  return major === 0 && minor < 2;
}

// --- towards the user function -------------------------------------------------------

/** A 0.2 delta in the older shape: ORMap `added` entries become whole entries. */
function olderDelta(delta: CrdtDelta): older.CrdtDelta {
  const d = delta.delta;
  switch (d.case) {
    case "ormap":
      return create(older.CrdtDeltaSchema, {
        delta: {
          case: "ormap",
          value: {
            cleared: d.value.cleared,
            removed: d.value.removed,
            updated: d.value.updated.map((entry) => ({ key: entry.key, ...(entry.delta === undefined ? {} : { delta: olderDelta(entry.delta) }) })),
            added: d.value.added.map((entry) => ({ key: entry.key, value: stateFromEmpty(entry.delta) })),
          },
        },
      });
    case undefined:
      return create(older.CrdtDeltaSchema, {});
    default:
      // Every other delta has the same fields and numbers on both wires.
      return create(older.CrdtDeltaSchema, { delta: { case: d.case, value: d.value } } as never);
  }
}

/** The whole state that a 0.2 delta from empty stands for (an `init` delta, an ORMap entry added). */
export function stateFromEmpty(delta: CrdtDelta | undefined): older.CrdtState {
  const d = delta?.delta;
  switch (d?.case) {
    case "gcounter":
      return create(older.CrdtStateSchema, { state: { case: "gcounter", value: { value: d.value.increment } } });
    case "pncounter":
      return create(older.CrdtStateSchema, { state: { case: "pncounter", value: { value: d.value.change } } });
    case "gset":
      return create(older.CrdtStateSchema, { state: { case: "gset", value: { items: d.value.added } } });
    case "orset":
      return create(older.CrdtStateSchema, { state: { case: "orset", value: { items: d.value.added } } });
    case "lwwregister":
      return create(older.CrdtStateSchema, {
        state: {
          case: "lwwregister",
          value: { ...(d.value.value === undefined ? {} : { value: d.value.value }), clock: d.value.clock, customClockValue: d.value.customClockValue },
        },
      });
    case "flag":
      return create(older.CrdtStateSchema, { state: { case: "flag", value: { value: d.value.value } } });
    case "ormap": {
      // From empty, every entry is an addition; `updated` entries are taken as additions too.
      const entries = [...d.value.added, ...d.value.updated].map((entry) => ({ key: entry.key, value: stateFromEmpty(entry.delta) }));
      return create(older.CrdtStateSchema, { state: { case: "ormap", value: { entries } } });
    }
    case "vote":
      return create(older.CrdtStateSchema, {
        state: { case: "vote", value: { selfVote: d.value.selfVote, votesFor: d.value.votesFor, totalVoters: d.value.totalVoters } },
      });
    case undefined:
      return create(older.CrdtStateSchema, {});
  }
}

/** A 0.2 `CrdtStreamIn` as the older wire says it. */
export function toOlderStreamIn(message: CrdtStreamIn): older.CrdtStreamIn {
  const m = message.message;
  switch (m.case) {
    case "init":
      return create(older.CrdtStreamInSchema, {
        message: {
          case: "init",
          value: {
            serviceName: m.value.serviceName,
            entityId: m.value.entityId,
            ...(m.value.delta === undefined ? {} : { state: stateFromEmpty(m.value.delta) }),
          },
        },
      });
    case "delta":
      return create(older.CrdtStreamInSchema, { message: { case: "changed", value: olderDelta(m.value) } });
    case "delete":
      return create(older.CrdtStreamInSchema, { message: { case: "deleted", value: {} } });
    case "command":
      return create(older.CrdtStreamInSchema, { message: { case: "command", value: m.value } });
    case "streamCancelled":
      return create(older.CrdtStreamInSchema, { message: { case: "streamCancelled", value: m.value } });
    case undefined:
      return create(older.CrdtStreamInSchema, {});
  }
}

// --- the value the user function holds ----------------------------------------------

/** Whether two elements or keys are the same (type URL and bytes); an absent one equals only an absent one. */
const sameAny = (a: AnyValue | undefined, b: AnyValue | undefined) => (a === undefined || b === undefined ? a === b : compareAny(a, b) === 0);

/** `held` with an older delta applied: the user function's value after it (undefined: none). */
function applyOlder(held: older.CrdtState | undefined, delta: older.CrdtDelta): older.CrdtState | undefined {
  const d = delta.delta;
  const h = held?.state;
  switch (d.case) {
    case "gcounter":
      return create(older.CrdtStateSchema, {
        state: { case: "gcounter", value: { value: (h?.case === "gcounter" ? h.value.value : 0n) + d.value.increment } },
      });
    case "pncounter":
      return create(older.CrdtStateSchema, { state: { case: "pncounter", value: { value: (h?.case === "pncounter" ? h.value.value : 0n) + d.value.change } } });
    case "gset": {
      const items = h?.case === "gset" ? [...h.value.items] : [];
      for (const item of d.value.added) if (!items.some((i) => sameAny(i, item))) items.push(item);
      return create(older.CrdtStateSchema, { state: { case: "gset", value: { items } } });
    }
    case "orset": {
      let items = h?.case === "orset" && !d.value.cleared ? [...h.value.items] : [];
      items = items.filter((i) => !d.value.removed.some((r) => sameAny(i, r)));
      for (const item of d.value.added) if (!items.some((i) => sameAny(i, item))) items.push(item);
      return create(older.CrdtStateSchema, { state: { case: "orset", value: { items } } });
    }
    case "lwwregister":
      return create(older.CrdtStateSchema, {
        state: {
          case: "lwwregister",
          value: { ...(d.value.value === undefined ? {} : { value: d.value.value }), clock: d.value.clock, customClockValue: d.value.customClockValue },
        },
      });
    case "flag":
      return create(older.CrdtStateSchema, { state: { case: "flag", value: { value: (h?.case === "flag" && h.value.value) || d.value.value } } });
    case "vote": {
      const was = h?.case === "vote" ? h.value : undefined;
      return create(older.CrdtStateSchema, {
        state: {
          case: "vote",
          value: {
            selfVote: d.value.selfVote,
            votesFor: d.value.votesFor !== 0 || d.value.totalVoters !== 0 ? d.value.votesFor : (was?.votesFor ?? 0),
            totalVoters: d.value.totalVoters !== 0 ? d.value.totalVoters : (was?.totalVoters ?? 0),
          },
        },
      });
    }
    case "ormap": {
      let entries = h?.case === "ormap" && !d.value.cleared ? [...h.value.entries] : [];
      entries = entries.filter((e) => !d.value.removed.some((r) => sameAny(e.key, r)));
      for (const update of d.value.updated) {
        const at = entries.findIndex((e) => sameAny(e.key, update.key));
        const value = update.delta === undefined ? entries[at]?.value : applyOlder(entries[at]?.value, update.delta);
        const entry = create(older.ORMapEntrySchema, { ...(update.key === undefined ? {} : { key: update.key }), ...(value === undefined ? {} : { value }) });
        if (at >= 0) entries[at] = entry;
        else entries.push(entry);
      }
      for (const added of d.value.added) {
        const at = entries.findIndex((e) => sameAny(e.key, added.key));
        if (at >= 0) entries[at] = added;
        else entries.push(added);
      }
      return create(older.CrdtStateSchema, { state: { case: "ormap", value: { entries } } });
    }
    case undefined:
      return held;
  }
}

/**
 * The change from `held` (what the proxy knows the user function holds) to `whole` (the value
 * it now sends whole) as a 0.2 delta; undefined when nothing changed. Without a held value of
 * the same type, the whole value is the change (a delta from empty).
 */
function diff(held: older.CrdtState | undefined, whole: older.CrdtState | undefined): CrdtDelta | undefined {
  const h = held?.state;
  const w = whole?.state;
  if (h === undefined || w === undefined || w.case === undefined || h.case !== w.case) return deltaFromState(whole);
  const delta = (value: NonNullable<MessageInitShape<typeof CrdtDeltaSchema>["delta"]>) => create(CrdtDeltaSchema, { delta: value });
  switch (w.case) {
    case "gcounter": {
      const increment = w.value.value - (h as typeof w).value.value;
      return increment > 0n ? delta({ case: "gcounter", value: { increment } }) : undefined;
    }
    case "pncounter": {
      const change = w.value.value - (h as typeof w).value.value;
      return change !== 0n ? delta({ case: "pncounter", value: { change } }) : undefined;
    }
    case "gset": {
      const added = w.value.items.filter((i) => !(h as typeof w).value.items.some((k) => sameAny(i, k)));
      return added.length > 0 ? delta({ case: "gset", value: { added } }) : undefined;
    }
    case "orset": {
      const was = (h as typeof w).value.items;
      const removed = was.filter((i) => !w.value.items.some((k) => sameAny(i, k)));
      const added = w.value.items.filter((i) => !was.some((k) => sameAny(i, k)));
      return removed.length > 0 || added.length > 0 ? delta({ case: "orset", value: { removed, added } }) : undefined;
    }
    case "lwwregister": {
      const was = (h as typeof w).value;
      if (sameAny(was.value, w.value.value) && was.clock === w.value.clock && was.customClockValue === w.value.customClockValue) return undefined;
      return deltaFromState(whole);
    }
    case "flag":
      return w.value.value && !(h as typeof w).value.value ? delta({ case: "flag", value: { value: true } }) : undefined;
    case "vote":
      return w.value.selfVote !== (h as typeof w).value.selfVote ? delta({ case: "vote", value: { selfVote: w.value.selfVote } }) : undefined;
    case "ormap": {
      const was = (h as typeof w).value.entries;
      const removed = was.filter((e) => !w.value.entries.some((k) => sameAny(e.key, k.key))).flatMap((e) => (e.key === undefined ? [] : [e.key]));
      const updated: { key?: older.ORMapEntry["key"]; delta: CrdtDelta }[] = [];
      const added: { key?: older.ORMapEntry["key"]; delta: CrdtDelta }[] = [];
      for (const entry of w.value.entries) {
        const before = was.find((e) => sameAny(e.key, entry.key));
        const key = entry.key === undefined ? {} : { key: entry.key };
        if (before === undefined) added.push({ ...key, delta: deltaFromState(entry.value) });
        else {
          const change = diff(before.value, entry.value);
          if (change !== undefined) updated.push({ ...key, delta: change });
        }
      }
      return removed.length > 0 || updated.length > 0 || added.length > 0 ? delta({ case: "ormap", value: { removed, updated, added } }) : undefined;
    }
  }
}

// --- from the user function ----------------------------------------------------------

/**
 * A whole state as a 0.2 delta from empty. From the user function (`votes` `own`, the
 * default) a Vote keeps only `self_vote`; a state the proxy sent (`all`) keeps its counts.
 */
export function deltaFromState(state: older.CrdtState | undefined, votes: "own" | "all" = "own"): CrdtDelta {
  const s = state?.state;
  switch (s?.case) {
    case "gcounter":
      return create(CrdtDeltaSchema, { delta: { case: "gcounter", value: { increment: s.value.value } } });
    case "pncounter":
      return create(CrdtDeltaSchema, { delta: { case: "pncounter", value: { change: s.value.value } } });
    case "gset":
      return create(CrdtDeltaSchema, { delta: { case: "gset", value: { added: s.value.items } } });
    case "orset":
      return create(CrdtDeltaSchema, { delta: { case: "orset", value: { added: s.value.items } } });
    case "lwwregister":
      return create(CrdtDeltaSchema, {
        delta: {
          case: "lwwregister",
          value: { ...(s.value.value === undefined ? {} : { value: s.value.value }), clock: s.value.clock, customClockValue: s.value.customClockValue },
        },
      });
    case "flag":
      return create(CrdtDeltaSchema, { delta: { case: "flag", value: { value: s.value.value } } });
    case "ormap":
      return create(CrdtDeltaSchema, {
        delta: { case: "ormap", value: { added: s.value.entries.map((entry) => ({ key: entry.key, delta: deltaFromState(entry.value, votes) })) } },
      });
    case "vote":
      // The user function only decides its own vote; the proxy counts.
      return create(CrdtDeltaSchema, {
        delta: {
          case: "vote",
          value:
            votes === "own" ? { selfVote: s.value.selfVote } : { selfVote: s.value.selfVote, votesFor: s.value.votesFor, totalVoters: s.value.totalVoters },
        },
      });
    case undefined:
      return create(CrdtDeltaSchema, {});
  }
}

/**
 * An older delta from the user function in the 0.2 shape: whole ORMap entries become entry
 * deltas, a change from the value under that key when the user function already held one
 * (java-support 0.5.2 sends an entry it changed after init as a whole entry).
 */
function deltaFromOlder(delta: older.CrdtDelta, held: older.CrdtState | undefined, votes: "own" | "all" = "own"): CrdtDelta | undefined {
  const d = delta.delta;
  switch (d.case) {
    case "ormap": {
      const entries = held?.state.case === "ormap" && !d.value.cleared ? held.state.value.entries : [];
      const heldValue = (key: older.ORMapEntry["key"]) => entries.find((e) => sameAny(e.key, key))?.value;
      const updated: { key?: older.ORMapEntry["key"]; delta: CrdtDelta }[] = [];
      const added: { key?: older.ORMapEntry["key"]; delta: CrdtDelta }[] = [];
      for (const entry of d.value.updated) {
        const change = entry.delta === undefined ? undefined : deltaFromOlder(entry.delta, heldValue(entry.key), votes);
        if (change !== undefined) updated.push({ ...(entry.key === undefined ? {} : { key: entry.key }), delta: change });
      }
      for (const entry of d.value.added) {
        const key = entry.key === undefined ? {} : { key: entry.key };
        const before = votes === "own" ? heldValue(entry.key) : undefined;
        if (before === undefined) added.push({ ...key, delta: deltaFromState(entry.value, votes) });
        else {
          const change = diff(before, entry.value);
          if (change !== undefined) updated.push({ ...key, delta: change });
        }
      }
      if (!d.value.cleared && d.value.removed.length === 0 && updated.length === 0 && added.length === 0) return undefined;
      return create(CrdtDeltaSchema, { delta: { case: "ormap", value: { cleared: d.value.cleared, removed: d.value.removed, updated, added } } });
    }
    case undefined:
      return create(CrdtDeltaSchema, {});
    default:
      return create(CrdtDeltaSchema, { delta: { case: d.case, value: d.value } } as never);
  }
}

/**
 * The translation of one CRDT stream, in both directions. It follows the value the user
 * function holds (from `init`, `changed` and its own state actions), because the older wire
 * sends whole values where 0.2 sends changes: a `create` of a CRDT the proxy already told
 * it about (a replicated change arrived first) and a whole ORMap entry for a key it held
 * become the change from that value, not a delta from empty that would count it twice.
 */
export interface CrdtTranslation {
  /** A 0.2 message of the proxy in the older shape, to send. */
  toOlder(message: CrdtStreamIn): older.CrdtStreamIn;
  /** An older message of the proxy (seen on the wire, e.g. by a recorder) as the 0.2 message. */
  fromOlderIn(message: older.CrdtStreamIn): CrdtStreamIn;
  /** An older message of the user function as the 0.2 message. */
  fromOlder(message: older.CrdtStreamOut): CrdtStreamOut;
}

/** Creates the translation of one CRDT stream (one per stream: it follows that stream's value). */
export function createCrdtTranslation(): CrdtTranslation {
  let held: older.CrdtState | undefined;

  /** Follows what the proxy sends (already in the older shape). */
  const sent = (message: older.CrdtStreamIn) => {
    const m = message.message;
    if (m.case === "init") held = m.value.state;
    else if (m.case === "state") held = m.value;
    else if (m.case === "changed") held = applyOlder(held, m.value);
    else if (m.case === "deleted") held = undefined;
  };

  const stateAction = (action: older.CrdtStateAction | undefined): CrdtStateAction | undefined => {
    if (action === undefined) return undefined;
    const a = action.action;
    // The write consistency enums have the same values on both wires.
    const writeConsistency = action.writeConsistency as number;
    const update = (delta: CrdtDelta | undefined) =>
      delta === undefined
        ? // Nothing changed after all: no action, as a 0.2 user function would send.
          writeConsistency === 0
          ? undefined
          : create(CrdtStateActionSchema, { writeConsistency })
        : create(CrdtStateActionSchema, { action: { case: "update", value: delta }, writeConsistency });
    switch (a.case) {
      case "create": {
        const change = diff(held, a.value);
        held = a.value;
        return update(change);
      }
      case "update": {
        const change = deltaFromOlder(a.value, held);
        held = applyOlder(held, a.value);
        return update(change);
      }
      case "delete":
        held = undefined;
        return create(CrdtStateActionSchema, { action: { case: "delete", value: {} }, writeConsistency });
      case undefined:
        return create(CrdtStateActionSchema, { writeConsistency });
    }
  };

  return {
    toOlder(message) {
      const translated = toOlderStreamIn(message);
      sent(translated);
      return translated;
    },
    fromOlderIn(message) {
      const translated = fromOlderStreamIn(message);
      sent(message);
      return translated;
    },
    fromOlder(message) {
      const m = message.message;
      switch (m.case) {
        case "reply": {
          const action = stateAction(m.value.stateAction);
          return create(CrdtStreamOutSchema, {
            message: {
              case: "reply",
              value: {
                commandId: m.value.commandId,
                ...(m.value.clientAction === undefined ? {} : { clientAction: m.value.clientAction }),
                sideEffects: m.value.sideEffects,
                ...(action === undefined ? {} : { stateAction: action }),
                streamed: m.value.streamed,
              },
            },
          });
        }
        case "streamedMessage":
          return create(CrdtStreamOutSchema, { message: { case: "streamedMessage", value: m.value as never } });
        case "streamCancelledResponse": {
          const action = stateAction(m.value.stateAction);
          return create(CrdtStreamOutSchema, {
            message: {
              case: "streamCancelledResponse",
              value: { commandId: m.value.commandId, sideEffects: m.value.sideEffects, ...(action === undefined ? {} : { stateAction: action }) },
            },
          });
        }
        case "failure":
          return create(CrdtStreamOutSchema, { message: { case: "failure", value: m.value } });
        case undefined:
          return create(CrdtStreamOutSchema, {});
      }
    },
  };
}

/** An older `CrdtStreamOut` as the 0.2 message, on a stream where the proxy sent no state. */
export function fromOlderStreamOut(message: older.CrdtStreamOut): CrdtStreamOut {
  return createCrdtTranslation().fromOlder(message);
}

/**
 * An older `CrdtStreamIn` (what the proxy sent) as the 0.2 message. A whole `state` has no
 * 0.2 counterpart (the proxy never sends one) and reads as an empty message.
 */
function fromOlderStreamIn(message: older.CrdtStreamIn): CrdtStreamIn {
  const m = message.message;
  switch (m.case) {
    case "init":
      return create(CrdtStreamInSchema, {
        message: {
          case: "init",
          value: {
            serviceName: m.value.serviceName,
            entityId: m.value.entityId,
            ...(m.value.state === undefined ? {} : { delta: deltaFromState(m.value.state, "all") }),
          },
        },
      });
    case "changed":
      return create(CrdtStreamInSchema, { message: { case: "delta", value: deltaFromOlder(m.value, undefined, "all") ?? create(CrdtDeltaSchema, {}) } });
    case "deleted":
      return create(CrdtStreamInSchema, { message: { case: "delete", value: {} } });
    case "command":
      return create(CrdtStreamInSchema, { message: { case: "command", value: m.value } });
    case "streamCancelled":
      return create(CrdtStreamInSchema, { message: { case: "streamCancelled", value: m.value } });
    case "state":
    case undefined:
      return create(CrdtStreamInSchema, {});
  }
}

/**
 * The CRDT protocol on the wire before 0.2: `protocol` (the 0.2 one) with every message
 * translated at the stream's edge, so state, durability and streamed calls stay the 0.2
 * runtime's.
 */
export function crdtProtocolBefore02(
  protocol: SessionProtocol<typeof CrdtStreamInSchema, typeof CrdtStreamOutSchema>,
): SessionProtocol<typeof older.CrdtStreamInSchema, typeof older.CrdtStreamOutSchema> {
  return {
    method: CRDT_HANDLE_BEFORE_0_2,
    label: protocol.label,
    scheduling: protocol.scheduling,
    activate(entityId, writer) {
      const codec = protocol.activate(entityId, writer);
      const translation = createCrdtTranslation();
      const translated: SessionCodec<MessageShape<typeof older.CrdtStreamInSchema>, MessageShape<typeof older.CrdtStreamOutSchema>> = {
        async open() {
          const opened = await codec.open();
          // The CRDT runtime never sends pre-encoded messages (only event replay does).
          if (opened.encoded !== undefined && opened.encoded.length > 0) throw new Error("pre-encoded CRDT messages cannot be translated");
          return { messages: opened.messages.map((message) => translation.toOlder(message)) };
        },
        command: (command) => translation.toOlder(codec.command(command)),
        interpret: (message, callerOf) => codec.interpret(translation.fromOlder(message), callerOf),
        get busy() {
          return codec.busy ?? false;
        },
      };
      if (codec.streamCancelled !== undefined) {
        const cancelled = codec.streamCancelled.bind(codec);
        translated.streamCancelled = (commandId) => translation.toOlder(cancelled(commandId));
      }
      if (codec.durable !== undefined) {
        const durable = codec.durable.bind(codec);
        translated.durable = () => durable();
      }
      return translated;
    },
  };
}
