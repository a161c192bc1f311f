import { create, type DescMethodBiDiStreaming, type MessageShape } from "@bufbuild/protobuf";
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
import type { SessionCodec, SessionProtocol } from "../session/entity-session.js";

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

/** An older delta in the 0.2 shape: whole ORMap entries become entry deltas. */
function deltaFromOlder(delta: older.CrdtDelta, votes: "own" | "all" = "own"): CrdtDelta {
  const d = delta.delta;
  switch (d.case) {
    case "ormap":
      return create(CrdtDeltaSchema, {
        delta: {
          case: "ormap",
          value: {
            cleared: d.value.cleared,
            removed: d.value.removed,
            updated: d.value.updated.map((entry) => ({ key: entry.key, ...(entry.delta === undefined ? {} : { delta: deltaFromOlder(entry.delta, votes) }) })),
            added: d.value.added.map((entry) => ({ key: entry.key, delta: deltaFromState(entry.value, votes) })),
          },
        },
      });
    case undefined:
      return create(CrdtDeltaSchema, {});
    default:
      return create(CrdtDeltaSchema, { delta: { case: d.case, value: d.value } } as never);
  }
}

function stateActionFromOlder(action: older.CrdtStateAction | undefined): CrdtStateAction | undefined {
  if (action === undefined) return undefined;
  const a = action.action;
  // The write consistency enums have the same values on both wires.
  const writeConsistency = action.writeConsistency as number;
  switch (a.case) {
    case "create":
      return create(CrdtStateActionSchema, { action: { case: "update", value: deltaFromState(a.value) }, writeConsistency });
    case "update":
      return create(CrdtStateActionSchema, { action: { case: "update", value: deltaFromOlder(a.value) }, writeConsistency });
    case "delete":
      return create(CrdtStateActionSchema, { action: { case: "delete", value: {} }, writeConsistency });
    case undefined:
      return create(CrdtStateActionSchema, { writeConsistency });
  }
}

/** An older `CrdtStreamOut` as the 0.2 message. */
export function fromOlderStreamOut(message: older.CrdtStreamOut): CrdtStreamOut {
  const m = message.message;
  switch (m.case) {
    case "reply": {
      const stateAction = stateActionFromOlder(m.value.stateAction);
      return create(CrdtStreamOutSchema, {
        message: {
          case: "reply",
          value: {
            commandId: m.value.commandId,
            ...(m.value.clientAction === undefined ? {} : { clientAction: m.value.clientAction }),
            sideEffects: m.value.sideEffects,
            ...(stateAction === undefined ? {} : { stateAction }),
            streamed: m.value.streamed,
          },
        },
      });
    }
    case "streamedMessage":
      return create(CrdtStreamOutSchema, { message: { case: "streamedMessage", value: m.value as never } });
    case "streamCancelledResponse": {
      const stateAction = stateActionFromOlder(m.value.stateAction);
      return create(CrdtStreamOutSchema, {
        message: {
          case: "streamCancelledResponse",
          value: { commandId: m.value.commandId, sideEffects: m.value.sideEffects, ...(stateAction === undefined ? {} : { stateAction }) },
        },
      });
    }
    case "failure":
      return create(CrdtStreamOutSchema, { message: { case: "failure", value: m.value } });
    case undefined:
      return create(CrdtStreamOutSchema, {});
  }
}

/**
 * An older `CrdtStreamIn` (what the proxy sent) as the 0.2 message, for recorders such as
 * the TCK's interceptor. A whole `state` has no 0.2 counterpart (the proxy never sends one)
 * and reads as an empty message.
 */
export function fromOlderStreamIn(message: older.CrdtStreamIn): CrdtStreamIn {
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
      return create(CrdtStreamInSchema, { message: { case: "delta", value: deltaFromOlder(m.value, "all") } });
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
      const translated: SessionCodec<MessageShape<typeof older.CrdtStreamInSchema>, MessageShape<typeof older.CrdtStreamOutSchema>> = {
        async open() {
          const opened = await codec.open();
          // The CRDT runtime never sends pre-encoded messages (only event replay does).
          if (opened.encoded !== undefined && opened.encoded.length > 0) throw new Error("pre-encoded CRDT messages cannot be translated");
          return { messages: opened.messages.map(toOlderStreamIn) };
        },
        command: (command) => toOlderStreamIn(codec.command(command)),
        interpret: (message, callerOf) => codec.interpret(fromOlderStreamOut(message), callerOf),
        get busy() {
          return codec.busy ?? false;
        },
      };
      if (codec.streamCancelled !== undefined) {
        const cancelled = codec.streamCancelled.bind(codec);
        translated.streamCancelled = (commandId) => toOlderStreamIn(cancelled(commandId));
      }
      if (codec.durable !== undefined) {
        const durable = codec.durable.bind(codec);
        translated.durable = () => durable();
      }
      return translated;
    },
  };
}
