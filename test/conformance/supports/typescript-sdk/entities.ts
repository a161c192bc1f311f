/**
 * Every entity of the TypeScript SDK's TCK user function: all the Cloudstate TCK model services
 * (event sourced, value entity, action, CRDT, event-log eventing) and the shopping cart sample,
 * written with `@switchboard/sdk`.
 */
import type { EntityDefinition } from "@switchboard/sdk";
import { shoppingCart } from "../../../../examples/shopping-cart/src/shopping-cart.js";
import { actionTckModel, actionTwo } from "./action.js";
import { crdtConfigured, crdtTckModel, crdtTwo } from "./crdt.js";
import { eventSourcedConfigured, eventSourcedTckModel, eventSourcedTwo } from "./event-sourced.js";
import { eventLogSubscriberModel, eventSourcedEntityOne, eventSourcedEntityTwo } from "./eventing.js";
import { valueEntityConfigured, valueEntityTckModel, valueEntityTwo } from "./value-entity.js";

/** The 16 entities, in the order go-support's TCK binary registers its 15 (plus the cart). */
export const entities: readonly EntityDefinition[] = [
  eventSourcedTckModel,
  eventSourcedTwo,
  eventSourcedConfigured,
  shoppingCart,
  actionTckModel,
  actionTwo,
  crdtTckModel,
  crdtTwo,
  crdtConfigured,
  valueEntityTckModel,
  valueEntityTwo,
  valueEntityConfigured,
  eventLogSubscriberModel,
  eventSourcedEntityOne,
  eventSourcedEntityTwo,
];

/** The Action and Value entity model entities (the SDK's own tests drive these groups separately). */
export const tckModelEntities: readonly EntityDefinition[] = [actionTckModel, actionTwo, valueEntityTckModel, valueEntityTwo, valueEntityConfigured];

/** The event-sourced model entities. */
export const eventSourcedModelEntities: readonly EntityDefinition[] = [eventSourcedTckModel, eventSourcedTwo, eventSourcedConfigured];

/** The CRDT model entities. */
export const crdtModelEntities: readonly EntityDefinition[] = [crdtTckModel, crdtTwo, crdtConfigured];
