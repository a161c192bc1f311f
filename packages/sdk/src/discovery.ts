/**
 * What the user function tells the proxy at discovery (`cloudstate.EntityDiscovery/discover`):
 * its descriptors, its entities and itself.
 *
 * @module
 */
import type { DescFile } from "@bufbuild/protobuf";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { EntitySpec } from "@switchboard/protocol";
import { EntitySpecSchema, PROTOCOL_MAJOR_VERSION, PROTOCOL_MINOR_VERSION } from "@switchboard/protocol";
import type { EntityDefinition } from "./entities/entity-definition.js";
import { ENTITY_TYPES } from "./entities/entity-definition.js";
import { SDK_NAME, SDK_VERSION } from "./version.js";

/** Informational fields of `ServiceInfo`. */
export interface ServiceInfoOptions {
  serviceName?: string;
  serviceVersion?: string;
}

/**
 * The files to describe `entities`, with every transitive import: each entity's service file,
 * each value entity's and event-sourced entity's state file, and each event type's file (the
 * proxy does not need those, but tools reading the set can then decode stored state and
 * journals). Deduplicated by file name, dependencies before dependents.
 */
export function collectFiles(entities: readonly EntityDefinition[]): DescFile[] {
  const files: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dependency of file.dependencies) visit(dependency);
    files.push(file);
  };
  for (const entity of entities) {
    visit(entity.service.file);
    if (entity.kind === "value-entity") visit(entity.state.file);
    if (entity.kind === "event-sourced") {
      visit(entity.state.file);
      for (const type of entity.eventTypes) visit(type.file);
    }
  }
  return files;
}

/** A serialized `google.protobuf.FileDescriptorSet` of `files`, in order. */
export function createFileDescriptorSet(files: readonly DescFile[]): Uint8Array {
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: files.map((f) => f.proto) }));
}

/** The `passivation_strategy` of an entity with this timeout, if it has one. */
function passivation(timeoutMs: number | undefined) {
  return timeoutMs === undefined ? {} : { passivationStrategy: { strategy: { case: "timeout" as const, value: { timeout: BigInt(timeoutMs) } } } };
}

/**
 * The `EntitySpec` answering `discover`: the descriptor set (with all its
 * imports, docs/protocol.md#discovery), one `Entity` per definition, and `ServiceInfo` with protocol version 0.2.
 */
export function createEntitySpec(entities: readonly EntityDefinition[], info: ServiceInfoOptions = {}): EntitySpec {
  return create(EntitySpecSchema, {
    proto: createFileDescriptorSet(collectFiles(entities)),
    entities: entities.map((entity) => {
      const base = { entityType: ENTITY_TYPES[entity.kind], serviceName: entity.service.typeName };
      switch (entity.kind) {
        case "action":
          return base;
        case "value-entity":
        case "event-sourced":
        case "crdt":
          return {
            ...base,
            persistenceId: entity.persistenceId,
            ...passivation(entity.passivationTimeoutMs),
          };
        default: {
          const unknown: never = entity;
          throw new Error(`unknown entity kind ${JSON.stringify(unknown)}`);
        }
      }
    }),
    serviceInfo: {
      serviceName: info.serviceName ?? "",
      serviceVersion: info.serviceVersion ?? "",
      serviceRuntime: `node ${process.versions.node}`,
      supportLibraryName: SDK_NAME,
      supportLibraryVersion: SDK_VERSION,
      protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
      protocolMinorVersion: PROTOCOL_MINOR_VERSION,
    },
  });
}
