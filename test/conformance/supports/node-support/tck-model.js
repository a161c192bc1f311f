// The event-sourced TCK model (cloudstate.tck.model, protocols/tck/cloudstate/tck/model/
// eventsourced.proto) written against npm `cloudstate@0.0.3`, as far as that API goes:
//
//   EventSourcedTckModel  persistence id "event-sourced-tck-model", a snapshot every 5 events;
//                         the state is the concatenation of the emitted Persisted values.
//   EventSourcedTwo       the target of forwards and side effects; Call answers an empty Response.
//   EventSourcedConfigured persistence id "event-sourced-configured"; Call answers an empty
//                         Response. cloudstate 0.0.3 cannot declare its 100 ms passivation
//                         strategy (see known-failures.txt).
//
// Start: HOST=127.0.0.1 PORT=8080 node test/conformance/supports/node-support/tck-model.js
// (after setup.mjs).
import { loadCloudstate, serve } from "./runtime.mjs";

const { cloudstate, includeDirs } = loadCloudstate("tck-model");
const { CloudState, EventSourced } = cloudstate;

const PROTO = "cloudstate/tck/model/eventsourced.proto";
const PACKAGE = "cloudstate.tck.model";

const model = new EventSourced([PROTO], `${PACKAGE}.EventSourcedTckModel`, {
  persistenceId: "event-sourced-tck-model",
  snapshotEvery: 5,
  includeDirs,
});
const two = new EventSourced([PROTO], `${PACKAGE}.EventSourcedTwo`, {
  persistenceId: "event-sourced-tck-model-two",
  includeDirs,
});
const configured = new EventSourced([PROTO], `${PACKAGE}.EventSourcedConfigured`, {
  persistenceId: "event-sourced-configured",
  includeDirs,
});

const Persisted = model.lookupType(`${PACKAGE}.Persisted`);
const Response = model.lookupType(`${PACKAGE}.Response`);

// Forwards and side effects need the gRPC method definition (its `path` names the full
// service); 0.0.3 resolves a protobufjs method by its short service name only, which
// never matches a registered entity.
const twoCall = two.grpc.cloudstate.tck.model.EventSourcedTwo.service.Call;

const empty = () => Persisted.create({ value: "" });
// Events append their value; a snapshot (handled by the library) replaces the whole state.
const appended = (event, state) => Persisted.create({ value: state.value + event.value });

model.setInitial(empty);
model.setBehavior(() => ({
  commandHandlers: {
    Process(request, state, ctx) {
      // Events are applied by the library once the handler returns, so the reply tracks the
      // emitted values itself.
      let value = state.value;
      for (const action of request.actions) {
        if (action.emit) {
          ctx.emit(Persisted.create({ value: action.emit.value }));
          value += action.emit.value;
        } else if (action.forward) {
          ctx.thenForward(twoCall, { id: action.forward.id });
        } else if (action.effect) {
          ctx.effect(twoCall, { id: action.effect.id }, Boolean(action.effect.synchronous));
        } else if (action.fail) {
          // Throws: the command fails with this description, its events and effects dropped.
          ctx.fail(action.fail.message);
        }
      }
      // An empty string is left unset: protobufjs would encode an explicit empty field, and the
      // TCK compares the reply's Any payload bytes with the canonical (empty) encoding.
      return Response.create(value === "" ? {} : { message: value });
    },
  },
  eventHandlers: { Persisted: appended },
}));

two.setInitial(empty);
two.setBehavior(() => ({
  commandHandlers: { Call: () => Response.create({}) },
  eventHandlers: {},
}));

configured.setInitial(empty);
configured.setBehavior(() => ({
  commandHandlers: { Call: () => Response.create({}) },
  eventHandlers: {},
}));

serve(new CloudState().addEntity(model, two, configured));
