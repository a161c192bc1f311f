import { create } from "@bufbuild/protobuf";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import {
  EventSourced,
  EventSourcedInitSchema,
  EventSourcedSnapshotSchema,
  type EventSourcedStreamInSchema,
  EventSourcedStreamInSchema as StreamIn,
  type EventSourcedStreamOut,
  type EventSourcedStreamOutSchema,
} from "@switchboard/protocol";
import type { AnyValue, JournalEvent, JournalStore } from "../../store/types.js";
import type { Interpreted, SessionProtocol } from "../session/entity-session.js";
import type { RuntimeEnvironment } from "../shared/types.js";

/** The journal id of an entity: `<persistence_id>|<entity_id>` (as the reference proxy). */
export function journalIdOf(persistenceId: string, entityId: string): string {
  return `${persistenceId}|${entityId}`;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[offset++] = value;
  return offset;
}

/**
 * The replayed events as encoded `EventSourcedStreamIn{event: EventSourcedEvent{sequence,
 * payload}}` messages, written into one buffer in one pass (one view per message).
 * Replaying a long journal without building a message object (or a writer) per event is
 * what keeps activation fast.
 */
export function encodeReplay(events: readonly JournalEvent[]): Uint8Array[] {
  const typeUrls = new Map<string, Buffer>();
  const sizes: number[] = [];
  let total = 0;
  for (const event of events) {
    let typeUrl = typeUrls.get(event.payload.typeUrl);
    if (typeUrl === undefined) {
      typeUrl = Buffer.from(event.payload.typeUrl, "utf8");
      typeUrls.set(event.payload.typeUrl, typeUrl);
    }
    const value = event.payload.value.byteLength;
    // proto3 leaves out empty bytes, and so do we, to write exactly what protobuf-es writes.
    const any = 1 + varintSize(typeUrl.length) + typeUrl.length + (value === 0 ? 0 : 1 + varintSize(value) + value);
    const inner = 1 + varintSize(event.seq) + 1 + varintSize(any) + any;
    const message = 1 + varintSize(inner) + inner;
    sizes.push(any, inner, message);
    total += message;
  }
  const out = Buffer.allocUnsafe(total);
  const messages: Uint8Array[] = [];
  let at = 0;
  events.forEach((event, i) => {
    const any = sizes[i * 3] as number;
    const inner = sizes[i * 3 + 1] as number;
    const message = sizes[i * 3 + 2] as number;
    const typeUrl = typeUrls.get(event.payload.typeUrl) as Buffer;
    const start = at;
    out[at++] = 0x12; // EventSourcedStreamIn.event (2, length-delimited)
    at = writeVarint(out, at, inner);
    out[at++] = 0x08; // EventSourcedEvent.sequence (1, varint)
    at = writeVarint(out, at, event.seq);
    out[at++] = 0x12; // EventSourcedEvent.payload (2, length-delimited)
    at = writeVarint(out, at, any);
    out[at++] = 0x0a; // Any.type_url (1)
    at = writeVarint(out, at, typeUrl.length);
    typeUrl.copy(out, at);
    at += typeUrl.length;
    if (event.payload.value.byteLength > 0) {
      out[at++] = 0x12; // Any.value (2)
      at = writeVarint(out, at, event.payload.value.byteLength);
      out.set(event.payload.value, at);
      at += event.payload.value.byteLength;
    }
    messages.push(out.subarray(start, start + message));
  });
  return messages;
}

function toAny(value: AnyValue): Any {
  return create(AnySchema, { typeUrl: value.typeUrl, value: value.value });
}

/**
 * The event-sourced protocol (cloudstate.eventsourced.EventSourced/handle). Activation
 * sends `init` with the latest snapshot, then every later journal event with its
 * sequence number. A reply's events (and snapshot) are appended in one transaction
 * before its caller is answered. A client failure with `restart` stores nothing and
 * restarts the stream from the journal; without `restart` its events are stored (the
 * user function already applied them, as in the reference proxy).
 */
export function eventSourcedProtocol(
  context: RuntimeEnvironment,
  store: JournalStore,
): SessionProtocol<typeof EventSourcedStreamInSchema, typeof EventSourcedStreamOutSchema> {
  const { service } = context;
  return {
    method: EventSourced.method.handle,
    label: "Event-sourced entity",
    scheduling: "serial",
    activate(entityId, writer) {
      const journalId = journalIdOf(service.persistenceId, entityId);
      /** Highest sequence number in the journal, as this activation knows it. */
      let sequence = 0;
      const where = `Event-sourced entity ${service.name} (${entityId})`;
      return {
        async open() {
          const snapshot = await store.loadSnapshot(journalId);
          const events = await store.readEvents(journalId, snapshot?.seq ?? 0);
          sequence = events.at(-1)?.seq ?? snapshot?.seq ?? 0;
          const init = create(EventSourcedInitSchema, {
            serviceName: service.name,
            entityId,
            ...(snapshot === undefined
              ? {}
              : { snapshot: create(EventSourcedSnapshotSchema, { snapshotSequence: BigInt(snapshot.seq), snapshot: toAny(snapshot.payload) }) }),
          });
          return { messages: [create(StreamIn, { message: { case: "init", value: init } })], encoded: encodeReplay(events) };
        },
        command(command) {
          return { $typeName: "cloudstate.eventsourced.EventSourcedStreamIn", message: { case: "command", value: command } };
        },
        interpret(raw): Interpreted {
          const message = (raw as EventSourcedStreamOut).message;
          if (message.case === "failure") return { kind: "failure", commandId: message.value.commandId, description: message.value.description };
          if (message.case !== "reply") return { kind: "violation", message: `${where} sent an empty message` };
          const reply = message.value;
          const outcome = { clientAction: reply.clientAction, sideEffects: reply.sideEffects };
          const action = reply.clientAction?.action;
          if (action?.case === "failure" && action.value.restart) {
            // The user function asks to start over: nothing of this reply is stored.
            return { kind: "reply", commandId: reply.commandId, outcome, restart: true };
          }
          if (reply.events.length === 0) {
            if (reply.snapshot !== undefined)
              return { kind: "violation", message: `${where} sent a snapshot without events in its reply to command ${reply.commandId}` };
            return { kind: "reply", commandId: reply.commandId, outcome };
          }
          const bad = reply.events.findIndex((event) => event.typeUrl === "");
          if (bad >= 0)
            return { kind: "violation", message: `${where} sent event ${bad + 1} of its reply to command ${reply.commandId} with an empty type URL` };
          if (reply.snapshot !== undefined && reply.snapshot.typeUrl === "") {
            return { kind: "violation", message: `${where} sent a snapshot with an empty type URL in its reply to command ${reply.commandId}` };
          }
          const events = reply.events.map((event) => ({ typeUrl: event.typeUrl, value: event.value }));
          const snapshot = reply.snapshot === undefined ? undefined : { typeUrl: reply.snapshot.typeUrl, value: reply.snapshot.value };
          return {
            kind: "reply",
            commandId: reply.commandId,
            outcome,
            persist: async () => {
              await store.append({
                journalId,
                tag: service.persistenceId,
                firstSeq: sequence + 1,
                events,
                writer,
                ...(snapshot === undefined ? {} : { snapshot }),
              });
              sequence += events.length;
            },
          };
        },
      };
    },
  };
}
