import { actionKind } from "./action/index.js";
import { crdtKind } from "./crdt/index.js";
import { eventSourcedKind } from "./event-sourced/index.js";
import type { EntityKindModule } from "./kind.js";
import { valueEntityKind } from "./value/index.js";

/**
 * Every entity kind this build knows, one module each. Adding a state model is one
 * folder under `entities/` exporting an {@link EntityKindModule} and one line here.
 */
export const ENTITY_KINDS = [actionKind, valueEntityKind, eventSourcedKind, crdtKind] as const;

/** Short name of an entity kind. */
export type EntityKind = (typeof ENTITY_KINDS)[number]["kind"];

const BY_KIND = new Map<string, EntityKindModule>(ENTITY_KINDS.map((module) => [module.kind, module]));
const BY_TYPE = new Map<string, EntityKindModule<EntityKind>>(ENTITY_KINDS.map((module) => [module.entityType, module]));

/** The module of a kind. */
export function kindModule(kind: EntityKind): EntityKindModule<EntityKind> {
  return BY_KIND.get(kind) as EntityKindModule<EntityKind>;
}

/** The module of a protocol entity type name, or undefined for an unknown name. */
export function kindOfEntityType(entityType: string): EntityKindModule<EntityKind> | undefined {
  return BY_TYPE.get(entityType);
}
