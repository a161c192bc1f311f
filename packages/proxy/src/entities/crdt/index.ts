import type { EntityRuntimeFactory } from "../shared/types.js";
import { createCrdtEntityRuntime } from "./runtime.js";

/** Runtime factory for CRDT entities (cloudstate.crdt.Crdt), on a single node. */
export const createCrdtRuntime: EntityRuntimeFactory = (context) => createCrdtEntityRuntime(context);
