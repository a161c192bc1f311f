import { ValueEntity } from "@switchboard/protocol";
import type { EntityKindModule } from "../kind.js";
import { unaryOnly } from "../kind.js";
import { createSessionRuntime } from "../session/session-runtime.js";
import { valueEntityProtocol } from "./codec.js";

/** Value entities (cloudstate.valueentity.ValueEntity): serial commands, the latest state stored. */
export const valueEntityKind: EntityKindModule<"value-entity"> = {
  kind: "value-entity",
  entityType: ValueEntity.typeName,
  label: "Value entity",
  keyed: true,
  checkMethod: unaryOnly,
  createRuntime: ({ store, ...environment }) => createSessionRuntime(valueEntityProtocol(environment, store), environment),
};
