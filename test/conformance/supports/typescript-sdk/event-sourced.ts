/**
 * The Event sourced TCK model services (`cloudstate.tck.model`), written with the SDK. The state
 * is the concatenation of the `Persisted` events' values, snapshotted every 5 events.
 */
import type { ForwardReply } from "@switchboard/sdk";
import { eventSourcedEntity } from "@switchboard/sdk";
import { eventsourced as model } from "@switchboard/protocol/tck";

/** `EventSourcedTckModel`: runs the request's actions in order and answers with the state. */
export const eventSourcedTckModel = eventSourcedEntity({
  service: model.EventSourcedTckModel,
  persistenceId: "event-sourced-tck-model",
  state: model.PersistedSchema,
  snapshotEvery: 5,
  eventTypes: [model.PersistedSchema],
  events: {
    Persisted: (state, event) => ({ value: state.value + event.value }),
  },
  handlers: {
    process(request, ctx) {
      let forward: ForwardReply | undefined;
      for (const { action } of request.actions) {
        switch (action.case) {
          case "emit":
            ctx.emit(model.PersistedSchema, { value: action.value.value });
            break;
          case "forward":
            forward = ctx.forward(model.EventSourcedTwo.method.call, { id: action.value.id });
            break;
          case "effect":
            ctx.sideEffect(model.EventSourcedTwo.method.call, { id: action.value.id }, { synchronous: action.value.synchronous });
            break;
          case "fail":
            // Drops the events emitted so far: the SDK never sends events with a failure.
            ctx.fail(action.value.message);
            break;
          case undefined:
            break;
        }
      }
      return forward ?? { message: ctx.state.value };
    },
  },
});

/** `EventSourcedTwo`: the target of forwards and side effects. */
export const eventSourcedTwo = eventSourcedEntity({
  service: model.EventSourcedTwo,
  persistenceId: "event-sourced-tck-model-two",
  state: model.PersistedSchema,
  handlers: { call: () => ({}) },
});

/** `EventSourcedConfigured`: passivated after 100 ms idle. */
export const eventSourcedConfigured = eventSourcedEntity({
  service: model.EventSourcedConfigured,
  persistenceId: "event-sourced-configured",
  state: model.PersistedSchema,
  snapshotEvery: 5,
  passivationTimeoutMs: 100,
  handlers: { call: () => ({}) },
});
