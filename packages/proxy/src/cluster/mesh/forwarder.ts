import { mesh } from "@switchboard/protocol/cluster";
import type { EntityOutcome } from "../../entities/shared/types.js";
import type { Forwarder, RemoteCommand, RemoteNode } from "../types.js";
import { createMeshClient, type MeshClient, type MeshClientOptions } from "./client.js";
import { commandToWire, MESH_PATHS, type MeshCommand, outcomeFromWire } from "./wire.js";

/** Options of {@link createMeshForwarder}. */
export interface MeshForwarderOptions extends MeshClientOptions {
  /** A client shared with the gossip replicas (one session per peer for both); default: a client of its own. */
  readonly client?: MeshClient;
}

/** A {@link Forwarder} over the mesh; `close` drops its sessions (calls in flight fail UNAVAILABLE). */
export type MeshForwarder = Forwarder & { close(): void };

const optionsOf = (command: RemoteCommand) => ({
  ...(command.deadline !== undefined ? { deadline: command.deadline } : {}),
  ...(command.signal !== undefined ? { signal: command.signal } : {}),
});

/**
 * The {@link Forwarder} of a cluster node: sends a command to the node that owns its
 * entity over that node's internal port (`switchboard.cluster.Mesh/Handle`, or
 * `HandleStreamed` for server-streamed CRDT calls), with the command's deadline and
 * cancellation, and answers with the owner's outcome. One HTTP/2 session per peer, reused
 * and dialled again after a failure. A peer that cannot be reached, or that goes away
 * while the call is in flight, fails the call with UNAVAILABLE naming the node: never a
 * silent success.
 */
export function createMeshForwarder(options: MeshForwarderOptions): MeshForwarder {
  const owned = options.client === undefined;
  const client = options.client ?? createMeshClient(options);
  return {
    async forward(target: RemoteNode, command: RemoteCommand): Promise<EntityOutcome> {
      const answer = await client.unary(
        target,
        MESH_PATHS.handle,
        mesh.RemoteCommandSchema,
        commandToWire(command as MeshCommand),
        mesh.EntityOutcomeSchema,
        optionsOf(command),
      );
      return outcomeFromWire(answer);
    },
    forwardStreamed(target: RemoteNode, command: RemoteCommand): AsyncIterable<EntityOutcome> {
      const messages = client.serverStream(
        target,
        MESH_PATHS.handleStreamed,
        mesh.RemoteCommandSchema,
        commandToWire(command as MeshCommand),
        mesh.EntityOutcomeSchema,
        optionsOf(command),
      );
      return {
        async *[Symbol.asyncIterator]() {
          for await (const message of messages) yield outcomeFromWire(message);
        },
      };
    },
    close() {
      if (owned) client.close();
    },
  };
}
