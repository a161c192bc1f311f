/**
 * Turns what a handler returned (or threw) into a {@link CommandResult}.
 *
 * @module
 */
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { isMessage } from "@bufbuild/protobuf";
import { asForwardCall } from "../../context/context-impl.js";
import { isCommandFailure } from "../../errors.js";
import { packAny } from "../../serde/any.js";
import { createMessage } from "../../serde/binary.js";
import type { CommandOutcome, CommandResult } from "./outcome.js";

/**
 * The outcome for a handler's return value. `where` names the handler in error messages.
 *
 * A reply is packed here, so a message that cannot be encoded is a crash of this command rather
 * than an error later in the transport.
 */
export function resolveOutcome(output: DescMessage, value: unknown, where: string): CommandOutcome {
  if (value === undefined || value === null) {
    return { kind: "no-reply" };
  }
  const forward = asForwardCall(value);
  if (forward !== undefined) {
    return { kind: "forward", forward };
  }
  if (isCommandFailure(value)) {
    return { kind: "failure", description: value.message };
  }
  if (typeof value !== "object" || Array.isArray(value) || value instanceof Error) {
    const got = value instanceof Error ? "an Error (throw it instead)" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    return {
      kind: "crash",
      error: new TypeError(`${where} returned ${got}; expected a ${output.typeName} message, a plain object to create one from, ctx.forward(...) or undefined`),
    };
  }
  if (isMessage(value) && value.$typeName !== output.typeName) {
    return {
      kind: "crash",
      error: new TypeError(`${where} returned a ${value.$typeName} message; expected ${output.typeName}`),
    };
  }
  try {
    const message = createMessage(output, value as MessageInitShape<DescMessage>);
    return { kind: "reply", message, payload: packAny(output, message) };
  } catch (error) {
    return { kind: "crash", error };
  }
}

/** The result of a handler that threw: a failure for a CommandFailure, else a crash. No side effects. */
export function resultOfThrown(error: unknown): CommandResult {
  return isCommandFailure(error)
    ? { outcome: { kind: "failure", description: error.message }, sideEffects: [] }
    : { outcome: { kind: "crash", error }, sideEffects: [] };
}

/** The text of an unknown thrown value, for logs and top-level failures. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
