import { create } from "@bufbuild/protobuf";
import {
  type ClientAction,
  type Command,
  type CrdtDelta,
  type CrdtStateAction,
  type CrdtStreamIn,
  CrdtStreamInSchema,
  type CrdtStreamOut,
  CrdtWriteConsistency,
  type SideEffect,
} from "@switchboard/protocol";

/** A change the user function asks for in a `CrdtStateAction`, with its write consistency. */
export type StateChange =
  | { readonly kind: "update"; readonly delta: CrdtDelta; readonly writeConsistency: CrdtWriteConsistency }
  | { readonly kind: "delete"; readonly writeConsistency: CrdtWriteConsistency };

/** One message from the user function on a CRDT entity stream (`CrdtStreamOut`), as the runtime reads it. */
export type CrdtMessage =
  | {
      readonly kind: "reply";
      readonly commandId: bigint;
      readonly clientAction: ClientAction | undefined;
      readonly sideEffects: readonly SideEffect[];
      readonly change: StateChange | undefined;
      /** The user function accepted the command as a streamed call. */
      readonly streamed: boolean;
    }
  | {
      readonly kind: "streamed-message";
      readonly commandId: bigint;
      readonly clientAction: ClientAction | undefined;
      readonly sideEffects: readonly SideEffect[];
      readonly endStream: boolean;
    }
  | { readonly kind: "cancelled-response"; readonly commandId: bigint; readonly sideEffects: readonly SideEffect[]; readonly change: StateChange | undefined }
  | { readonly kind: "failure"; readonly commandId: bigint; readonly description: string }
  | { readonly kind: "empty" };

function changeOf(action: CrdtStateAction | undefined): StateChange | undefined {
  switch (action?.action.case) {
    case "update":
      return { kind: "update", delta: action.action.value, writeConsistency: action.writeConsistency };
    case "delete":
      return { kind: "delete", writeConsistency: action.writeConsistency };
    default:
      // No action, or only a write consistency: nothing changes.
      return undefined;
  }
}

/** Reads a `CrdtStreamOut`. */
export function readCrdtMessage(message: CrdtStreamOut): CrdtMessage {
  const m = message.message;
  switch (m.case) {
    case "reply":
      return {
        kind: "reply",
        commandId: m.value.commandId,
        clientAction: m.value.clientAction,
        sideEffects: m.value.sideEffects,
        change: changeOf(m.value.stateAction),
        streamed: m.value.streamed,
      };
    case "streamedMessage":
      return {
        kind: "streamed-message",
        commandId: m.value.commandId,
        clientAction: m.value.clientAction,
        sideEffects: m.value.sideEffects,
        endStream: m.value.endStream,
      };
    case "streamCancelledResponse":
      return { kind: "cancelled-response", commandId: m.value.commandId, sideEffects: m.value.sideEffects, change: changeOf(m.value.stateAction) };
    case "failure":
      return { kind: "failure", commandId: m.value.commandId, description: m.value.description };
    default:
      return { kind: "empty" };
  }
}

/** `CrdtStreamIn.init`: the first message of every stream; `delta` is the current state from empty, absent when there is none. */
export function initMessage(serviceName: string, entityId: string, delta: CrdtDelta | undefined): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "init", value: { serviceName, entityId, ...(delta === undefined ? {} : { delta }) } } });
}

/** `CrdtStreamIn.command`. */
export function commandMessage(command: Command): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "command", value: command } });
}

/** `CrdtStreamIn.stream_cancelled`: the client cancelled streamed call `id`. */
export function streamCancelledMessage(entityId: string, id: bigint): CrdtStreamIn {
  return create(CrdtStreamInSchema, { message: { case: "streamCancelled", value: { entityId, id } } });
}

/** The name of a write consistency for logs (`LOCAL`, `MAJORITY`, `ALL`, or the number of an unknown value). */
export function writeConsistencyName(level: CrdtWriteConsistency): string {
  return CrdtWriteConsistency[level] ?? String(level);
}
