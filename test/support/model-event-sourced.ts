/**
 * The event-sourced TCK model written directly against the protocol, added to the
 * model user function: state is the concatenation of the `Persisted` events' values,
 * a snapshot every 5 events. Like go-support, a failing command that emitted events
 * asks for a restart (`Failure.restart`) unless `restartOnFailure` is off.
 */
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { type EventSourcedStreamIn, EventSourcedStreamInSchema, EventSourcedStreamOutSchema, SideEffectSchema } from "@switchboard/protocol";
import { eventlogeventing, eventsourced } from "@switchboard/protocol/tck";
import { EmptySchema } from "@bufbuild/protobuf/wkt";

/** Triggers for misbehaviour, as the message of a `fail` action. */
export const ES_TRIGGERS = {
  snapshotWithoutEvents: "!snapshot-without-events",
  emptyEventType: "!empty-event-type",
  topLevelFailure: "!top-level-failure",
} as const;

/** Recorded event-sourced streams and knobs. */
export interface EventSourcedModelState {
  readonly esStreams: { messages: EventSourcedStreamIn[]; ended: boolean }[];
  restartOnFailure: boolean;
}

function codec(schema: DescMessage) {
  return {
    serialize: (v: unknown) => Buffer.from(toBinary(schema, v as MessageShape<DescMessage>)),
    deserialize: (b: Buffer) => fromBinary(schema, b),
  };
}

/** Registers cloudstate.eventsourced.EventSourced on `server`, recording into `state`. */
export function addEventSourcedModel(server: grpc.Server, state: EventSourcedModelState): void {
  const input = codec(EventSourcedStreamInSchema);
  const output = codec(EventSourcedStreamOutSchema);
  const handle: grpc.handleBidiStreamingCall<EventSourcedStreamIn, unknown> = (call) => {
    const recorded = { messages: [] as EventSourcedStreamIn[], ended: false };
    state.esStreams.push(recorded);
    let service = "";
    let value = "";
    let sequence = 0;
    const reply = (commandId: bigint, fields: Record<string, unknown>) =>
      call.write(create(EventSourcedStreamOutSchema, { message: { case: "reply", value: { commandId, ...fields } } }));
    call.on("data", (message: EventSourcedStreamIn) => {
      recorded.messages.push(message);
      const m = message.message;
      if (m.case === "init") {
        service = m.value.serviceName;
        const snap = m.value.snapshot;
        if (snap?.snapshot) {
          value = anyUnpack(snap.snapshot, eventsourced.PersistedSchema)?.value ?? "";
          sequence = Number(snap.snapshotSequence);
        }
        return;
      }
      if (m.case === "event") {
        value += m.value.payload ? (anyUnpack(m.value.payload, eventsourced.PersistedSchema)?.value ?? "") : "";
        sequence = Number(m.value.sequence);
        return;
      }
      if (m.case !== "command") return;
      const command = m.value;
      const empty = () => anyPack(eventsourced.ResponseSchema, create(eventsourced.ResponseSchema, { message: "" }));
      if (service.endsWith("EventSourcedEntityOne") || service.endsWith("EventSourcedEntityTwo")) {
        // Eventing model: emit the request's event (a protobuf event, or JSON in an Any) and reply Empty.
        const empty = { payload: anyPack(EmptySchema, create(EmptySchema)) };
        let event: { typeUrl: string; value: Uint8Array } | undefined;
        if (service.endsWith("EventSourcedEntityOne")) {
          const request = command.payload ? anyUnpack(command.payload, eventlogeventing.EmitEventRequestSchema) : undefined;
          const e = request?.event;
          if (e?.case === "eventOne") event = anyPack(eventlogeventing.EventOneSchema, e.value);
          else if (e?.case === "eventTwo") event = anyPack(eventlogeventing.EventTwoSchema, e.value);
        } else {
          const request = command.payload ? anyUnpack(command.payload, eventlogeventing.JsonEventSchema) : undefined;
          const json = new TextEncoder().encode(JSON.stringify({ id: request?.id, message: request?.message }));
          // JSON in bytes field 1 (tag 0x0a), as the Any convention for JSON values says.
          const value = new Uint8Array([0x0a, ...varint(json.length), ...json]);
          event = { typeUrl: "json.cloudstate.io/JsonEvent", value };
        }
        reply(command.id, { clientAction: { action: { case: "reply", value: empty } }, events: event ? [event] : [] });
        return;
      }
      if (!service.endsWith("EventSourcedTckModel")) {
        reply(command.id, { clientAction: { action: { case: "reply", value: { payload: empty() } } } });
        return;
      }
      const request = command.payload ? anyUnpack(command.payload, eventsourced.RequestSchema) : undefined;
      const emitted: string[] = [];
      const sideEffects = [];
      let forward: string | undefined;
      for (const a of request?.actions ?? []) {
        const act = a.action;
        if (act.case === "emit") emitted.push(act.value.value);
        else if (act.case === "forward") forward = act.value.id;
        else if (act.case === "effect")
          sideEffects.push(
            create(SideEffectSchema, {
              serviceName: "cloudstate.tck.model.EventSourcedTwo",
              commandName: "Call",
              payload: anyPack(eventsourced.RequestSchema, create(eventsourced.RequestSchema, { id: act.value.id })),
              synchronous: act.value.synchronous,
            }),
          );
        else if (act.case === "fail") {
          const text = act.value.message;
          const persisted = (v: string) => anyPack(eventsourced.PersistedSchema, create(eventsourced.PersistedSchema, { value: v }));
          if (text === ES_TRIGGERS.snapshotWithoutEvents) {
            reply(command.id, { clientAction: { action: { case: "reply", value: { payload: empty() } } }, snapshot: persisted(value) });
            return;
          }
          if (text === ES_TRIGGERS.emptyEventType) {
            reply(command.id, { clientAction: { action: { case: "reply", value: { payload: empty() } } }, events: [{ typeUrl: "", value: new Uint8Array() }] });
            return;
          }
          if (text === ES_TRIGGERS.topLevelFailure) {
            call.write(create(EventSourcedStreamOutSchema, { message: { case: "failure", value: { commandId: command.id, description: "boom" } } }));
            return;
          }
          // A failure: this model drops the command's events itself (restart asks the proxy to replay).
          reply(command.id, {
            clientAction: {
              action: { case: "failure", value: { commandId: command.id, description: text, restart: state.restartOnFailure && emitted.length > 0 } },
            },
          });
          return;
        }
      }
      const before = sequence;
      for (const e of emitted) value += e;
      sequence += emitted.length;
      const events = emitted.map((v) => anyPack(eventsourced.PersistedSchema, create(eventsourced.PersistedSchema, { value: v })));
      const snapshot =
        Math.floor(sequence / 5) > Math.floor(before / 5) ? anyPack(eventsourced.PersistedSchema, create(eventsourced.PersistedSchema, { value })) : undefined;
      const clientAction = forward
        ? {
            action: {
              case: "forward",
              value: {
                serviceName: "cloudstate.tck.model.EventSourcedTwo",
                commandName: "Call",
                payload: anyPack(eventsourced.RequestSchema, create(eventsourced.RequestSchema, { id: forward })),
              },
            },
          }
        : { action: { case: "reply", value: { payload: anyPack(eventsourced.ResponseSchema, create(eventsourced.ResponseSchema, { message: value })) } } };
      reply(command.id, { clientAction, sideEffects, events, ...(snapshot ? { snapshot } : {}) });
    });
    call.on("end", () => {
      recorded.ended = true;
      call.end();
    });
    call.on("error", () => {});
  };
  server.addService(
    {
      handle: {
        path: "/cloudstate.eventsourced.EventSourced/handle",
        requestStream: true,
        responseStream: true,
        requestSerialize: input.serialize,
        requestDeserialize: input.deserialize,
        responseSerialize: output.serialize,
        responseDeserialize: output.deserialize,
      },
    },
    { handle } as grpc.UntypedServiceImplementation,
  );
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
