import { Crdt } from "@switchboard/protocol";
import type { EntityKindModule } from "../kind.js";
import { createSessionRuntime } from "../session/session-runtime.js";
import { crdtProtocol } from "./protocol.js";

/** CRDT entities (cloudstate.crdt.Crdt): concurrent commands and server-streamed calls. */
export const crdtKind: EntityKindModule<"crdt"> = {
  kind: "crdt",
  entityType: Crdt.typeName,
  label: "CRDT entity",
  keyed: true,
  checkMethod: (method) =>
    method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming" ? "client streaming is not allowed for CRDT entities" : undefined,
  createRuntime: ({ store, ...environment }) => createSessionRuntime(crdtProtocol(environment, store), environment),
};
