import { Crdt } from "@switchboard/protocol";
import type { EntityKindModule } from "../kind.js";
import { createSessionRuntime } from "../session/session-runtime.js";
import { crdtProtocol } from "./protocol.js";
import { crdtProtocolBefore02, speaksCrdtBefore02 } from "./wire-before-0.2.js";

/**
 * CRDT entities (cloudstate.crdt.Crdt): concurrent commands and server-streamed calls. A
 * user function that reported a 0.x protocol below 0.2 gets the CRDT wire of its time
 * (`wire-before-0.2.ts`).
 */
export const crdtKind: EntityKindModule<"crdt"> = {
  kind: "crdt",
  entityType: Crdt.typeName,
  label: "CRDT entity",
  keyed: true,
  checkMethod: (method) =>
    method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming" ? "client streaming is not allowed for CRDT entities" : undefined,
  createRuntime: ({ store, ...environment }) => {
    const protocol = crdtProtocol(environment, store);
    const version = environment.service.protocolVersion;
    return version !== undefined && speaksCrdtBefore02(version.major, version.minor)
      ? createSessionRuntime(crdtProtocolBefore02(protocol), environment)
      : createSessionRuntime(protocol, environment);
  },
};
