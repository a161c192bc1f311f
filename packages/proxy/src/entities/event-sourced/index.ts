import { EventSourced } from "@switchboard/protocol";
import type { EntityKindModule } from "../kind.js";
import { unaryOnly } from "../kind.js";
import { createSessionRuntime } from "../session/session-runtime.js";
import { eventSourcedProtocol } from "./codec.js";

/** Event-sourced entities (cloudstate.eventsourced.EventSourced): serial commands, events journaled. */
export const eventSourcedKind: EntityKindModule<"event-sourced"> = {
  kind: "event-sourced",
  entityType: EventSourced.typeName,
  label: "Event-sourced entity",
  keyed: true,
  checkMethod: unaryOnly,
  createRuntime: ({ store, ...environment }) => createSessionRuntime(eventSourcedProtocol(environment, store), environment),
};
