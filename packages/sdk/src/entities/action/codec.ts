/**
 * Maps action results to `cloudstate.action.ActionResponse`.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ActionResponse } from "@switchboard/protocol";
import { ActionResponseSchema } from "@switchboard/protocol";
import { toClientAction, toFailure, toSideEffect } from "../shared/codec.js";
import type { CommandResult } from "../shared/outcome.js";

/** The description an action's caller sees when its handler crashed; the error itself is logged. */
export const UNEXPECTED_ERROR = "Unexpected error";

/** An `ActionResponse` failing the call with `description`. */
export function failureResponse(description: string): ActionResponse {
  return create(ActionResponseSchema, { response: { case: "failure", value: toFailure(description) } });
}

/**
 * The `ActionResponse` for one result. A crash becomes the failure "Unexpected error", after
 * `onCrash` has been told the real error.
 */
export function toActionResponse(result: CommandResult, onCrash: (error: unknown) => void): ActionResponse {
  const { outcome } = result;
  if (outcome.kind === "crash") {
    onCrash(outcome.error);
    return failureResponse(UNEXPECTED_ERROR);
  }
  const sideEffects = result.sideEffects.map(toSideEffect);
  const clientAction = toClientAction(outcome);
  if (clientAction === undefined) {
    return create(ActionResponseSchema, { sideEffects });
  }
  // ClientAction and ActionResponse.response share their cases (reply, forward, failure).
  return create(ActionResponseSchema, { response: clientAction.action, sideEffects });
}
