/**
 * Builders of `cloudstate.action` messages, as the upstream testkit's `ActionMessages`.
 */
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { type ActionCommand, ActionCommandSchema, type ActionResponse, ActionResponseSchema, type SideEffect } from "@switchboard/protocol";

/** A command naming the service and method (the header of a stream when `payload` is left out). */
export function command(serviceName: string, name: string, payload?: Any): ActionCommand {
  return create(ActionCommandSchema, { serviceName, name, ...(payload ? { payload } : {}) });
}

/** A command carrying only a payload (the later messages of a stream). */
export function payloadCommand(payload: Any): ActionCommand {
  return create(ActionCommandSchema, { payload });
}

/** A reply. */
export function reply(payload: Any, sideEffects: readonly SideEffect[] = []): ActionResponse {
  return create(ActionResponseSchema, { response: { case: "reply", value: { payload } }, sideEffects: [...sideEffects] });
}

/** A response with no message for the client. */
export function noReply(sideEffects: readonly SideEffect[] = []): ActionResponse {
  return create(ActionResponseSchema, { sideEffects: [...sideEffects] });
}

/** A forward. */
export function forward(serviceName: string, commandName: string, payload: Any, sideEffects: readonly SideEffect[] = []): ActionResponse {
  return create(ActionResponseSchema, { response: { case: "forward", value: { serviceName, commandName, payload } }, sideEffects: [...sideEffects] });
}

/** A failure (command id 0, no restart). */
export function failure(description: string, sideEffects: readonly SideEffect[] = []): ActionResponse {
  return create(ActionResponseSchema, { response: { case: "failure", value: { description } }, sideEffects: [...sideEffects] });
}
