/**
 * The event-log eventing TCK model services (`cloudstate.tck.model.eventlogeventing`), written
 * with the SDK (the SDK's own protocol tests drive them too): two event-sourced entities
 * emit events (protobuf ones, and JSON ones), and the subscriber action consumes them from the
 * journal (`in.event_log`), reading the emitting entity's id from the CloudEvent subject.
 */
import type { ActionContext, HandlerResult } from "@switchboard/sdk";
import { action, CommandFailure, createJsonAny, eventSourcedEntity, parseJsonAny } from "@switchboard/sdk";
import { eventlogeventing as model } from "@switchboard/protocol/tck";

/** The JSON type name of `EventSourcedEntityTwo`'s events. */
export const JSON_MESSAGE_TYPE = "cloudstate.tck.model.eventlogeventing.JsonMessage";

type Answer = HandlerResult<typeof model.ResponseSchema>;

/** One step of an event: a reply with the entity id, or a forward to `Effect` with the event's metadata. */
function processStep(step: model.ProcessStep | undefined, ctx: ActionContext): Answer {
  const id = ctx.cloudEvent?.subject ?? "";
  switch (step?.step.case) {
    case "reply":
      return { id, message: step.step.value.message };
    case "forward":
      // The CloudEvent metadata goes along, so Effect can read the subject too.
      return ctx.forward(model.EventLogSubscriberModel.method.effect, { id, message: step.step.value.message }, { metadata: ctx.metadata });
    default:
      throw new CommandFailure("No reply or forward");
  }
}

/** `EventLogSubscriberModel`: consumes the events of `eventlogeventing-one` and `eventlogeventing-two`. */
export const eventLogSubscriberModel = action({
  service: model.EventLogSubscriberModel,
  handlers: {
    processEventOne: (event, ctx) => processStep(event.step, ctx),
    async *processEventTwo(event, ctx) {
      for (const step of event.step) yield processStep(step, ctx);
    },
    effect: (request, ctx) => ({ id: ctx.cloudEvent?.subject ?? "", message: request.message }),
    processAnyEvent(event, ctx) {
      const json = parseJsonAny(event) as { message?: unknown };
      return { id: ctx.cloudEvent?.subject ?? "", message: typeof json.message === "string" ? json.message : "" };
    },
  },
});

/** `EventSourcedEntityOne`: emits the request's `EventOne` or `EventTwo` (journal tag `eventlogeventing-one`). */
export const eventSourcedEntityOne = eventSourcedEntity({
  service: model.EventSourcedEntityOne,
  persistenceId: "eventlogeventing-one",
  state: model.ResponseSchema,
  eventTypes: [model.EventOneSchema, model.EventTwoSchema],
  events: {
    EventOne: () => {},
    EventTwo: () => {},
  },
  handlers: {
    emitEvent(request, ctx) {
      if (request.event.case !== undefined) ctx.emit(request.event.value);
      return {};
    },
  },
});

/** `EventSourcedEntityTwo`: emits a JSON event `{"message": …}` (journal tag `eventlogeventing-two`). */
export const eventSourcedEntityTwo = eventSourcedEntity({
  service: model.EventSourcedEntityTwo,
  persistenceId: "eventlogeventing-two",
  state: model.ResponseSchema,
  otherEvents: () => {},
  handlers: {
    emitJsonEvent(request, ctx) {
      ctx.emit(createJsonAny(JSON_MESSAGE_TYPE, { message: request.message }));
      return {};
    },
  },
});
