/**
 * Maps event-sourced results to `cloudstate.eventsourced.EventSourcedStreamOut`.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { EventSourcedStreamOut } from "@switchboard/protocol";
import { EventSourcedStreamOutSchema } from "@switchboard/protocol";
import { toClientAction, toFailure, toSideEffect } from "../shared/codec.js";
import type { CommandOutcome } from "../shared/outcome.js";
import type { EventSourcedResult } from "./instance.js";

/**
 * A top-level `failure`: the proxy fails the current command ("Unexpected entity failure") and
 * stops the entity. The SDK closes the stream after sending it.
 */
export function topLevelFailure(description: string, commandId = 0n): EventSourcedStreamOut {
  return create(EventSourcedStreamOutSchema, { message: { case: "failure", value: toFailure(description, commandId) } });
}

/**
 * The `EventSourcedReply` answering command `commandId` (the result must not be a crash). A
 * failure carries no events, so it never asks for a restart (`Failure.restart` stays false).
 */
export function toEventSourcedReply(
  commandId: bigint,
  result: EventSourcedResult & { outcome: Exclude<CommandOutcome, { kind: "crash" }> },
): EventSourcedStreamOut {
  const clientAction = toClientAction(result.outcome, commandId);
  return create(EventSourcedStreamOutSchema, {
    message: {
      case: "reply",
      value: {
        commandId,
        sideEffects: result.sideEffects.map(toSideEffect),
        events: result.events.map((e) => e.payload),
        ...(clientAction === undefined ? {} : { clientAction }),
        ...(result.snapshot === undefined ? {} : { snapshot: result.snapshot }),
      },
    },
  });
}

/** A reply failing command `commandId` with `description`; the entity keeps running. */
export function failureReply(commandId: bigint, description: string): EventSourcedStreamOut {
  return toEventSourcedReply(commandId, { outcome: { kind: "failure", description }, sideEffects: [], events: [] });
}
