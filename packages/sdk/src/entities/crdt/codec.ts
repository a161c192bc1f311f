/**
 * Maps CRDT entity outputs to `cloudstate.crdt.CrdtStreamOut`.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { CrdtStateAction, CrdtStreamOut } from "@switchboard/protocol";
import { CrdtStateActionSchema, CrdtStreamOutSchema } from "@switchboard/protocol";
import { toClientAction, toFailure, toSideEffect } from "../shared/codec.js";
import type { CommandResult } from "../shared/outcome.js";
import type { CrdtOutput, CrdtStateChange } from "./instance.js";

/**
 * A top-level `failure`. With a command id, the proxy fails that command only (the client sees
 * a fixed description, docs/protocol.md#crdt-entities); the SDK sends it on a crash and then closes the stream.
 */
export function topLevelFailure(description: string, commandId = 0n): CrdtStreamOut {
  return create(CrdtStreamOutSchema, { message: { case: "failure", value: toFailure(description, commandId) } });
}

function toStateAction(change: CrdtStateChange): CrdtStateAction {
  return create(CrdtStateActionSchema, {
    action: change.kind === "update" ? { case: "update", value: change.delta } : { case: "delete", value: {} },
    writeConsistency: change.writeConsistency,
  });
}

function clientActionOf(result: CommandResult, commandId: bigint) {
  if (result.outcome.kind === "crash") throw new Error("a crash has no client action");
  return toClientAction(result.outcome, commandId);
}

/** The protocol message of an output that is not a crash. */
export function toCrdtStreamOut(output: Exclude<CrdtOutput, { kind: "crash" }>): CrdtStreamOut {
  switch (output.kind) {
    case "reply": {
      const clientAction = clientActionOf(output.result, output.commandId);
      return create(CrdtStreamOutSchema, {
        message: {
          case: "reply",
          value: {
            commandId: output.commandId,
            sideEffects: output.result.sideEffects.map(toSideEffect),
            streamed: output.streamed,
            ...(clientAction === undefined ? {} : { clientAction }),
            ...(output.stateChange === undefined ? {} : { stateAction: toStateAction(output.stateChange) }),
          },
        },
      });
    }
    case "streamed-message": {
      const clientAction = clientActionOf(output.result, output.commandId);
      return create(CrdtStreamOutSchema, {
        message: {
          case: "streamedMessage",
          value: {
            commandId: output.commandId,
            sideEffects: output.result.sideEffects.map(toSideEffect),
            endStream: output.endStream,
            ...(clientAction === undefined ? {} : { clientAction }),
          },
        },
      });
    }
    case "cancelled-response":
      return create(CrdtStreamOutSchema, {
        message: {
          case: "streamCancelledResponse",
          value: {
            commandId: output.commandId,
            sideEffects: output.sideEffects.map(toSideEffect),
            ...(output.stateChange === undefined ? {} : { stateAction: toStateAction(output.stateChange) }),
          },
        },
      });
    case "failure":
      return topLevelFailure(output.description, output.commandId);
    default: {
      const unknown: never = output;
      throw new Error(`unknown CRDT output ${JSON.stringify(unknown)}`);
    }
  }
}

/** A reply failing command `commandId` with `description`; the entity keeps running. */
export function failureReply(commandId: bigint, description: string): CrdtStreamOut {
  return toCrdtStreamOut({
    kind: "reply",
    commandId,
    result: { outcome: { kind: "failure", description }, sideEffects: [] },
    stateChange: undefined,
    streamed: false,
  });
}
