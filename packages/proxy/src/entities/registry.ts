import type { EntityKind } from "../descriptors/entity-types.js";
import { createCrdtRuntime } from "./crdt/index.js";
import { createEventSourcedRuntime } from "./event-sourced/index.js";
import type { EntityRuntimeFactory } from "./shared/types.js";
import { createValueEntityRuntime } from "./value/index.js";

/**
 * Runtimes of the stateful entity types this build supports. Actions are stateless and
 * handled by the router directly. A kind missing here is accepted at discovery with a
 * warning, and its methods answer UNIMPLEMENTED.
 */
export const ENTITY_RUNTIMES: Partial<Record<Exclude<EntityKind, "action">, EntityRuntimeFactory>> = {
  "value-entity": createValueEntityRuntime,
  crdt: createCrdtRuntime,
  "event-sourced": createEventSourcedRuntime,
};
