/**
 * Builders of `cloudstate.valueentity` stream messages, as the upstream testkit's
 * `ValueEntityMessages`.
 */
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  type ClientAction,
  type SideEffect,
  type ValueEntityAction,
  ValueEntityActionSchema,
  type ValueEntityStreamIn,
  ValueEntityStreamInSchema,
  type ValueEntityStreamOut,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import { clientActionFailure, clientActionForward, clientActionReply } from "./common.js";

/** What a reply carries besides its client action. */
export interface ValueEntityEffects {
  readonly sideEffects?: readonly SideEffect[];
  readonly stateAction?: ValueEntityAction;
}

/** `init` with `state` always present: empty for a new entity, or holding `value`. */
export function init(serviceName: string, entityId: string, value?: Any): ValueEntityStreamIn {
  return create(ValueEntityStreamInSchema, { message: { case: "init", value: { serviceName, entityId, state: value ? { value } : {} } } });
}

/** A command (no metadata). */
export function command(id: number, entityId: string, name: string, payload: Any): ValueEntityStreamIn {
  return create(ValueEntityStreamInSchema, { message: { case: "command", value: { entityId, id: BigInt(id), name, payload } } });
}

function replyAction(id: number, clientAction: ClientAction, effects: ValueEntityEffects): ValueEntityStreamOut {
  return create(ValueEntityStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId: BigInt(id),
        clientAction,
        sideEffects: [...(effects.sideEffects ?? [])],
        ...(effects.stateAction ? { stateAction: effects.stateAction } : {}),
      },
    },
  });
}

/** A reply to the client. */
export function reply(id: number, payload: Any, effects: ValueEntityEffects = {}): ValueEntityStreamOut {
  return replyAction(id, clientActionReply(payload), effects);
}

/** A forward. */
export function forward(id: number, service: string, commandName: string, payload: Any, effects: ValueEntityEffects = {}): ValueEntityStreamOut {
  return replyAction(id, clientActionForward(service, commandName, payload), effects);
}

/** A client-visible failure of command `id`. */
export function actionFailure(id: number, description: string): ValueEntityStreamOut {
  return replyAction(id, clientActionFailure(id, description), {});
}

/** An `update` state action. */
export function update(value: Any): ValueEntityAction {
  return create(ValueEntityActionSchema, { action: { case: "update", value: { value } } });
}

/** A `delete` state action. */
export function deleteState(): ValueEntityAction {
  return create(ValueEntityActionSchema, { action: { case: "delete", value: {} } });
}
