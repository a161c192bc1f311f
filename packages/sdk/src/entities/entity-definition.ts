/**
 * The entity definitions a server accepts, and the Cloudstate entity type of each kind.
 *
 * A new entity kind (views, say) adds its definition to {@link EntityDefinition} and one line to
 * {@link ENTITY_TYPES}; the server's exhaustive switches then show what else it needs.
 *
 * @module
 */
import type { ActionDefinition } from "./action/definition.js";
import type { CrdtEntityDefinition } from "./crdt/definition.js";
import type { EventSourcedEntityDefinition } from "./event-sourced/definition.js";
import type { ValueEntityDefinition } from "./value/definition.js";

/** Any entity definition: made by `action()`, `valueEntity()`, `eventSourcedEntity()` or `crdtEntity()`. */
export type EntityDefinition = ActionDefinition | ValueEntityDefinition | EventSourcedEntityDefinition | CrdtEntityDefinition;

/** The full names of the Cloudstate entity protocols, used as `Entity.entity_type` in discovery. */
export const ENTITY_TYPES = {
  action: "cloudstate.action.ActionProtocol",
  "value-entity": "cloudstate.valueentity.ValueEntity",
  "event-sourced": "cloudstate.eventsourced.EventSourced",
  crdt: "cloudstate.crdt.Crdt",
} as const satisfies Record<EntityDefinition["kind"], string>;
