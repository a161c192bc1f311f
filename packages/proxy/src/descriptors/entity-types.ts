/**
 * The four Cloudstate entity types: our short `kind` and the protocol service name
 * used in `ProxyInfo.supported_entity_types` and `Entity.entity_type`.
 */
export const ENTITY_TYPES = Object.freeze({
  action: "cloudstate.action.ActionProtocol",
  "value-entity": "cloudstate.valueentity.ValueEntity",
  "event-sourced": "cloudstate.eventsourced.EventSourced",
  crdt: "cloudstate.crdt.Crdt",
} as const);

/** Short name of an entity type. */
export type EntityKind = keyof typeof ENTITY_TYPES;

/** Human name of each kind, for messages. */
export const ENTITY_KIND_LABEL: Readonly<Record<EntityKind, string>> = {
  action: "Action",
  "value-entity": "Value entity",
  "event-sourced": "Event-sourced entity",
  crdt: "CRDT entity",
};

/** The kind of a protocol entity type name, or undefined for an unknown name. */
export function entityKindOf(entityType: string): EntityKind | undefined {
  for (const [kind, name] of Object.entries(ENTITY_TYPES)) {
    if (name === entityType) return kind as EntityKind;
  }
  return undefined;
}
