import { createSerialRuntime } from "../shared/serial-entity.js";
import type { EntityRuntimeFactory } from "../shared/types.js";
import { valueEntityProtocol } from "./codec.js";

/** Runtime factory for value entities (cloudstate.valueentity.ValueEntity). */
export const createValueEntityRuntime: EntityRuntimeFactory = (context) => createSerialRuntime(valueEntityProtocol(context), context);
