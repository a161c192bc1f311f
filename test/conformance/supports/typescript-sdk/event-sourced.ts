/**
 * The event-sourced TCK model services (`cloudstate.tck.model`), written with the SDK: the state
 * is the concatenation of the `Persisted` events' values, snapshotted every 5 events.
 *
 * The SDK's own protocol tests drive them too, with conventions the TCK never uses: a `fail` step whose message starts with `crash:`
 * throws a plain Error (a crash, not a failure); an `emit` step whose value starts with `json:`
 * emits a JSON event (folded in by `otherEvents`); an `emit` step whose value is `!boom` emits
 * an event whose handler throws.
 */
import { eventsourced as model } from "@switchboard/protocol/tck";
import type { ForwardReply } from "@switchboard/sdk";
import { createJsonAny, eventSourcedEntity, parseJsonAny } from "@switchboard/sdk";

/** `cloudstate.tck.model.EventSourcedTckModel`. */
export const eventSourcedTckModel = eventSourcedEntity({
  service: model.EventSourcedTckModel,
  persistenceId: "event-sourced-tck-model",
  state: model.PersistedSchema,
  snapshotEvery: 5,
  eventTypes: [model.PersistedSchema],
  events: {
    Persisted(state, event) {
      if (event.value === "!boom") throw new Error("the event handler broke");
      state.value += event.value;
    },
  },
  otherEvents: (state, event) => ({ value: state.value + (parseJsonAny(event) as { text: string }).text }),
  handlers: {
    process(request, ctx) {
      let forward: ForwardReply | undefined;
      for (const { action } of request.actions) {
        switch (action.case) {
          case "emit":
            if (action.value.value.startsWith("json:")) ctx.emit(createJsonAny("test.Text", { text: action.value.value.slice("json:".length) }));
            else ctx.emit(model.PersistedSchema, { value: action.value.value });
            break;
          case "forward":
            forward = ctx.forward(model.EventSourcedTwo.method.call, { id: action.value.id });
            break;
          case "effect":
            ctx.sideEffect(model.EventSourcedTwo.method.call, { id: action.value.id }, { synchronous: action.value.synchronous });
            break;
          case "fail":
            if (action.value.message.startsWith("crash:")) throw new Error(action.value.message.slice("crash:".length));
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

/** `cloudstate.tck.model.EventSourcedTwo`. */
export const eventSourcedTwo = eventSourcedEntity({
  service: model.EventSourcedTwo,
  persistenceId: "event-sourced-tck-model-two",
  state: model.PersistedSchema,
  handlers: { call: () => ({}) },
});

/** `cloudstate.tck.model.EventSourcedConfigured`: 100 ms passivation, never snapshots. */
export const eventSourcedConfigured = eventSourcedEntity({
  service: model.EventSourcedConfigured,
  persistenceId: "event-sourced-configured",
  state: model.PersistedSchema,
  snapshotEvery: 0,
  passivationTimeoutMs: 100,
  handlers: { call: () => ({}) },
});
