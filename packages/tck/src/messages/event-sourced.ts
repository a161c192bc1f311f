/**
 * Builders of `cloudstate.eventsourced` stream messages, as the upstream testkit's
 * `EventSourcedMessages`.
 */
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  type ClientAction,
  type EventSourcedSnapshot,
  EventSourcedSnapshotSchema,
  type EventSourcedStreamIn,
  EventSourcedStreamInSchema,
  type EventSourcedStreamOut,
  EventSourcedStreamOutSchema,
  type SideEffect,
} from "@switchboard/protocol";
import { clientActionFailure, clientActionForward, clientActionReply } from "./common.js";

/** What a reply carries besides its client action. */
export interface EventSourcedEffects {
  readonly events?: readonly Any[];
  readonly snapshot?: Any;
  readonly sideEffects?: readonly SideEffect[];
}

/** Merges effects: events and side effects concatenated, the first snapshot kept. */
export function mergeEffects(a: EventSourcedEffects, b: EventSourcedEffects): EventSourcedEffects {
  const snapshot = a.snapshot ?? b.snapshot;
  return {
    events: [...(a.events ?? []), ...(b.events ?? [])],
    sideEffects: [...(a.sideEffects ?? []), ...(b.sideEffects ?? [])],
    ...(snapshot ? { snapshot } : {}),
  };
}

/** `init` for a new entity, or with a snapshot. */
export function init(serviceName: string, entityId: string, snapshot?: EventSourcedSnapshot): EventSourcedStreamIn {
  return create(EventSourcedStreamInSchema, { message: { case: "init", value: { serviceName, entityId, ...(snapshot ? { snapshot } : {}) } } });
}

/** A snapshot for `init`. */
export function snapshot(sequence: number, payload: Any): EventSourcedSnapshot {
  return create(EventSourcedSnapshotSchema, { snapshotSequence: BigInt(sequence), snapshot: payload });
}

/** A replayed journal event. */
export function event(sequence: number, payload: Any): EventSourcedStreamIn {
  return create(EventSourcedStreamInSchema, { message: { case: "event", value: { sequence: BigInt(sequence), payload } } });
}

/** A command (no metadata, not streamed). */
export function command(id: number, entityId: string, name: string, payload: Any): EventSourcedStreamIn {
  return create(EventSourcedStreamInSchema, { message: { case: "command", value: { entityId, id: BigInt(id), name, payload } } });
}

/** A reply with `clientAction` and `effects`. */
export function replyAction(id: number, clientAction: ClientAction | undefined, effects: EventSourcedEffects = {}): EventSourcedStreamOut {
  return create(EventSourcedStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId: BigInt(id),
        ...(clientAction ? { clientAction } : {}),
        sideEffects: [...(effects.sideEffects ?? [])],
        events: [...(effects.events ?? [])],
        ...(effects.snapshot ? { snapshot: effects.snapshot } : {}),
      },
    },
  });
}

/** A reply to the client. */
export function reply(id: number, payload: Any, effects: EventSourcedEffects = {}): EventSourcedStreamOut {
  return replyAction(id, clientActionReply(payload), effects);
}

/** A forward. */
export function forward(id: number, service: string, commandName: string, payload: Any, effects: EventSourcedEffects = {}): EventSourcedStreamOut {
  return replyAction(id, clientActionForward(service, commandName, payload), effects);
}

/** A client-visible failure of command `id`. */
export function actionFailure(id: number, description: string, restart = false): EventSourcedStreamOut {
  return replyAction(id, clientActionFailure(id, description, restart));
}
