import { createSerialRuntime } from "../shared/serial-entity.js";
import type { EntityRuntimeFactory } from "../shared/types.js";
import { eventSourcedProtocol } from "./codec.js";

/** Runtime factory for event-sourced entities (cloudstate.eventsourced.EventSourced). */
export const createEventSourcedRuntime: EntityRuntimeFactory = (context) => createSerialRuntime(eventSourcedProtocol(context), context);
