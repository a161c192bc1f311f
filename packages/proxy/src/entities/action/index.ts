import { ActionProtocol } from "@switchboard/protocol";
import type { EntityKindModule } from "../kind.js";
import { createActionRuntime } from "./runtime.js";

/** Actions (cloudstate.action.ActionProtocol): stateless, every method shape allowed, no entity key. */
export const actionKind: EntityKindModule<"action"> = {
  kind: "action",
  entityType: ActionProtocol.typeName,
  label: "Action",
  keyed: false,
  checkMethod: () => undefined,
  // Actions keep no state: their runtime gets no store port.
  createRuntime: ({ store: _store, ...environment }) => createActionRuntime(environment),
};
