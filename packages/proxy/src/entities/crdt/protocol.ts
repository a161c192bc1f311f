import { Crdt, type CrdtStreamInSchema, type CrdtStreamOutSchema, CrdtWriteConsistency } from "@switchboard/protocol";
import type { ReplicatedDelta, WriteConsistency } from "../../cluster/types.js";
import type { Interpreted, SessionProtocol } from "../session/entity-session.js";
import type { CrdtStore } from "../../store/types.js";
import type { RuntimeEnvironment } from "../shared/types.js";
import { commandMessage, initMessage, readCrdtMessage, type StateChange, streamCancelledMessage, writeConsistencyName } from "./codec.js";
import { applyDelta, type CrdtState, initDelta, type Replica } from "./state.js";
import { createStateWriter } from "./state-writer.js";
import { decodeCrdtState, encodeCrdtState } from "./storage-format.js";

function consistencyOf(level: CrdtWriteConsistency): WriteConsistency {
  return level === CrdtWriteConsistency.ALL ? "all" : level === CrdtWriteConsistency.MAJORITY ? "majority" : "local";
}

/**
 * The CRDT protocol (cloudstate.crdt.Crdt/handle), run by a concurrent session: `init`
 * carries the stored CRDT as a delta from empty. Commands are not serialized: replies
 * are matched by id in whatever order they come. A reply's state action is applied to
 * the proxy's CRDT (its delta checked against the CRDT's type) and made durable before
 * its caller gets the outcome; the proxy sends the user function no delta after `init`,
 * since on one node every change is its own. Streamed messages, too, are relayed only
 * once every change before them is durable, so no client sees a state a crash could
 * take back. With other replicas, each change is published to them and the reply also
 * waits for the write consistency the user function asked for.
 *
 * `delete` removes the stored state and closes the stream; the next command starts the
 * entity again, empty. (The reference proxy answers `Entity deleted` until the entity
 * actor passivates, an artefact of Akka's never-reusable deleted keys; with the row gone
 * from the store, a new start is what value entities do too. A cluster build needs a
 * tombstone so that a stale replica cannot bring the old state back.)
 */
export function crdtProtocol(context: RuntimeEnvironment, store: CrdtStore): SessionProtocol<typeof CrdtStreamInSchema, typeof CrdtStreamOutSchema> {
  const { service, replicas, logger } = context;
  const { persistenceId } = service;
  const replica: Replica = { nodeId: replicas.nodeId, now: () => BigInt(Date.now()), members: () => replicas.members() };
  return {
    method: Crdt.method.handle,
    label: "CRDT entity",
    scheduling: "concurrent",
    activate(entityId) {
      const where = `CRDT entity ${service.name} (${entityId})`;
      let state: CrdtState | undefined;
      let deleted = false;
      const writer = createStateWriter(
        () => (state === undefined ? undefined : encodeCrdtState(state)),
        (bytes) => store.putCrdt(persistenceId, entityId, bytes),
      );
      /** The write (and replication) a change needs before its caller is answered. */
      const durable = (version: number, replicated: ReplicatedDelta | undefined, level: WriteConsistency) => () =>
        replicated === undefined || level === "local"
          ? writer.durable(version)
          : writer.durable(version).then(() => replicas.awaitConsistency(level, replicated));
      /** Applies a state action to the proxy's CRDT; a violation when its delta does not fit. */
      const apply = (change: StateChange | undefined, commandId: bigint): { persist: () => Promise<void>; deleted: boolean } | { violation: string } => {
        if (change === undefined || deleted) {
          // The reference proxy's rule: once deleted, the entity stays deleted; later updates are dropped.
          if (change !== undefined) logger.debug("state action after delete ignored", { entityId, commandId, action: change.kind });
          const version = writer.version;
          return { persist: () => writer.durable(version), deleted: false };
        }
        if (logger.enabled("debug")) {
          logger.debug("CRDT state action", { entityId, commandId, action: change.kind, writeConsistency: writeConsistencyName(change.writeConsistency) });
        }
        if (change.kind === "delete") {
          state = undefined;
          deleted = true;
          return { persist: durable(writer.changed(), undefined, "local"), deleted: true };
        }
        const applied = applyDelta(state, change.delta, replica);
        if (applied.kind === "rejected") return { violation: `${where} sent an invalid delta for command ${commandId}: ${applied.reason}` };
        state = applied.state;
        const version = writer.changed();
        let replicated: ReplicatedDelta | undefined;
        if (replicas.members().length > 1) {
          replicated = { persistenceId, entityId, delta: encodeCrdtState(applied.delta) };
          replicas.publish(replicated);
        }
        return { persist: durable(version, replicated, consistencyOf(change.writeConsistency)), deleted: false };
      };
      return {
        async open() {
          const bytes = await store.getCrdt(persistenceId, entityId);
          state = bytes === undefined ? undefined : decodeCrdtState(bytes, `persistence id "${persistenceId}" entity "${entityId}"`);
          return { messages: [initMessage(service.name, entityId, state === undefined ? undefined : initDelta(state, replica))] };
        },
        command: commandMessage,
        streamCancelled: (commandId) => streamCancelledMessage(entityId, commandId),
        interpret(raw, callerOf): Interpreted {
          const message = readCrdtMessage(raw);
          switch (message.kind) {
            case "reply": {
              const { commandId } = message;
              const caller = callerOf(commandId);
              if (caller === undefined) return { kind: "violation", message: `${where} replied to command ${commandId}, which is not in flight` };
              if (message.streamed && caller !== "streamed") {
                return {
                  kind: "violation",
                  message: `${where} sent a streamed reply to command ${commandId}, which is not a streamed call`,
                  culprit: commandId,
                };
              }
              const applied = apply(message.change, commandId);
              if ("violation" in applied) return { kind: "violation", message: applied.violation, culprit: commandId };
              return {
                kind: "reply",
                commandId,
                outcome: { clientAction: message.clientAction, sideEffects: message.sideEffects },
                persist: applied.persist,
                streamed: message.streamed,
                deleted: applied.deleted,
              };
            }
            case "streamed-message":
              return {
                kind: "streamed",
                commandId: message.commandId,
                endStream: message.endStream,
                after: () => writer.durable(),
                ...(message.clientAction !== undefined || message.sideEffects.length > 0
                  ? { outcome: { clientAction: message.clientAction, sideEffects: message.sideEffects } }
                  : {}),
              };
            case "cancelled-response": {
              // The user function applied the change whatever we think of the id, so apply it too to stay in step.
              const applied = apply(message.change, message.commandId);
              if ("violation" in applied) return { kind: "violation", message: applied.violation, culprit: message.commandId };
              return {
                kind: "cancelled",
                commandId: message.commandId,
                outcome: { clientAction: undefined, sideEffects: message.sideEffects },
                persist: applied.persist,
                deleted: applied.deleted,
              };
            }
            case "failure":
              return { kind: "failure", commandId: message.commandId, description: message.description, after: () => writer.durable() };
            case "empty":
              return { kind: "violation", message: `${where} sent an empty message` };
          }
        },
        durable: () => writer.durable(),
        get busy() {
          return writer.busy;
        },
      };
    },
  };
}
