import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { MetadataSchema, type MetadataEntry } from "@switchboard/protocol";
import { mesh } from "@switchboard/protocol/cluster";
import type { RemoteCommand } from "../types.js";
import type { EntityOutcome } from "../../entities/shared/types.js";

/**
 * Mapping between the core's types and the mesh messages (`switchboard.cluster.Mesh`,
 * protocols/cluster). Entity outcomes are the Cloudstate messages themselves, so they
 * cross the wire without re-encoding anything but their envelope.
 */

/** The mesh service's full name. */
export const MESH_SERVICE = mesh.Mesh.typeName;

/** Request paths of the mesh methods. */
export const MESH_PATHS = {
  handle: `/${MESH_SERVICE}/Handle`,
  handleStreamed: `/${MESH_SERVICE}/HandleStreamed`,
  gossip: `/${MESH_SERVICE}/Gossip`,
  exchange: `/${MESH_SERVICE}/Exchange`,
} as const;

/** Default bound on one mesh message (a forwarded command or outcome, a gossip batch): 16 MiB. */
export const DEFAULT_MESH_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** A forwarded command as the mesh carries it: the core's command plus the call's metadata, when it has any. */
export type MeshCommand = RemoteCommand & { readonly metadata?: readonly MetadataEntry[] };

/** The wire form of a command (the deadline and cancellation travel as HTTP/2 header and reset). */
export function commandToWire(command: MeshCommand): mesh.RemoteCommand {
  return create(mesh.RemoteCommandSchema, {
    service: command.service,
    method: command.method,
    entityId: command.entityId,
    payload: command.payload,
    ...(command.metadata !== undefined && command.metadata.length > 0 ? { metadata: create(MetadataSchema, { entries: [...command.metadata] }) } : {}),
  });
}

/** A command read from the wire, with the deadline and signal of the stream that carried it. */
export function commandFromWire(message: mesh.RemoteCommand, deadline: number | undefined, signal: AbortSignal): MeshCommand {
  return {
    service: message.service,
    method: message.method,
    entityId: message.entityId,
    payload: message.payload ?? create(AnySchema),
    signal,
    ...(deadline !== undefined ? { deadline } : {}),
    ...(message.metadata !== undefined && message.metadata.entries.length > 0 ? { metadata: message.metadata.entries } : {}),
  };
}

export function outcomeToWire(outcome: EntityOutcome): mesh.EntityOutcome {
  return create(mesh.EntityOutcomeSchema, {
    ...(outcome.clientAction !== undefined ? { clientAction: outcome.clientAction } : {}),
    sideEffects: [...outcome.sideEffects],
  });
}

export function outcomeFromWire(message: mesh.EntityOutcome): EntityOutcome {
  return { clientAction: message.clientAction, sideEffects: message.sideEffects };
}
