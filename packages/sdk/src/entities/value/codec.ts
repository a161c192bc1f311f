/**
 * Maps value entity results to `cloudstate.valueentity.ValueEntityStreamOut`.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ValueEntityStreamOut } from "@switchboard/protocol";
import { ValueEntityActionSchema, ValueEntityStreamOutSchema } from "@switchboard/protocol";
import { toClientAction, toFailure, toSideEffect } from "../shared/codec.js";
import type { CommandOutcome } from "../shared/outcome.js";
import type { StateAction, ValueEntityResult } from "./instance.js";

/**
 * A top-level `failure`: the proxy fails the current command ("Unexpected Value entity failure")
 * and stops the entity. The SDK closes the stream after sending it.
 */
export function topLevelFailure(description: string, commandId = 0n): ValueEntityStreamOut {
  return create(ValueEntityStreamOutSchema, { message: { case: "failure", value: toFailure(description, commandId) } });
}

function toStateAction(action: StateAction) {
  return create(
    ValueEntityActionSchema,
    action.kind === "update" ? { action: { case: "update", value: { value: action.payload } } } : { action: { case: "delete", value: {} } },
  );
}

/** The `ValueEntityReply` answering command `commandId` (the result must not be a crash). */
export function toValueEntityReply(
  commandId: bigint,
  result: ValueEntityResult & { outcome: Exclude<CommandOutcome, { kind: "crash" }> },
): ValueEntityStreamOut {
  const clientAction = toClientAction(result.outcome, commandId);
  return create(ValueEntityStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId,
        sideEffects: result.sideEffects.map(toSideEffect),
        ...(clientAction === undefined ? {} : { clientAction }),
        ...(result.stateAction === undefined ? {} : { stateAction: toStateAction(result.stateAction) }),
      },
    },
  });
}

/** A reply failing command `commandId` with `description`; the entity keeps running. */
export function failureReply(commandId: bigint, description: string): ValueEntityStreamOut {
  return toValueEntityReply(commandId, { outcome: { kind: "failure", description }, sideEffects: [] });
}
