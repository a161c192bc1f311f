/**
 * Maps the SDK's outcome records to the Cloudstate messages shared by all entity protocols
 * (`ClientAction`, `SideEffect`, `Metadata`, `Failure`).
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ClientAction, Failure, Metadata, SideEffect } from "@switchboard/protocol";
import { ClientActionSchema, FailureSchema, MetadataSchema, SideEffectSchema } from "@switchboard/protocol";
import type { MetadataItem } from "../../context/context.js";
import type { CommandOutcome, SideEffectRecord } from "./outcome.js";

/** A Cloudstate `Metadata` message for the entries, or `undefined` when there are none. */
export function toProtocolMetadata(items: readonly MetadataItem[]): Metadata | undefined {
  if (items.length === 0) return undefined;
  return create(MetadataSchema, {
    entries: items.map((item) => ({
      key: item.key,
      value: typeof item.value === "string" ? { case: "stringValue" as const, value: item.value } : { case: "bytesValue" as const, value: item.value },
    })),
  });
}

/** The Cloudstate `SideEffect` for a registered side effect. */
export function toSideEffect(effect: SideEffectRecord): SideEffect {
  const metadata = toProtocolMetadata(effect.metadata);
  return create(SideEffectSchema, {
    serviceName: effect.method.parent.typeName,
    commandName: effect.method.name,
    payload: effect.payload,
    synchronous: effect.synchronous,
    ...(metadata === undefined ? {} : { metadata }),
  });
}

/** A Cloudstate `Failure` with a description (and the command id, on entity streams). */
export function toFailure(description: string, commandId = 0n): Failure {
  return create(FailureSchema, { commandId, description });
}

/**
 * The `ClientAction` for an outcome, or `undefined` for "no reply". A crash has no client action:
 * each protocol handles it in its own way.
 */
export function toClientAction(outcome: Exclude<CommandOutcome, { kind: "crash" }>, commandId = 0n): ClientAction | undefined {
  switch (outcome.kind) {
    case "no-reply":
      return undefined;
    case "reply":
      return create(ClientActionSchema, { action: { case: "reply", value: { payload: outcome.payload } } });
    case "forward": {
      const metadata = toProtocolMetadata(outcome.forward.metadata);
      return create(ClientActionSchema, {
        action: {
          case: "forward",
          value: {
            serviceName: outcome.forward.method.parent.typeName,
            commandName: outcome.forward.method.name,
            payload: outcome.forward.payload,
            ...(metadata === undefined ? {} : { metadata }),
          },
        },
      });
    }
    case "failure":
      return create(ClientActionSchema, { action: { case: "failure", value: toFailure(outcome.description, commandId) } });
    default: {
      const unreachable: never = outcome;
      throw new Error(`unknown outcome ${JSON.stringify(unreachable)}`);
    }
  }
}
