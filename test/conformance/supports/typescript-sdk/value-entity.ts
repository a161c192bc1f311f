/**
 * The Value entity TCK model services (`cloudstate.tck.model.valueentity`), written with the SDK.
 */
import type { ForwardReply } from "@switchboard/sdk";
import { valueEntity } from "@switchboard/sdk";
import { valueentity as model } from "@switchboard/protocol/tck";

/** `ValueEntityTckModel`: runs the request's actions in order and answers with the state. */
export const valueEntityTckModel = valueEntity({
  service: model.ValueEntityTckModel,
  persistenceId: "value-entity-tck-model",
  state: model.PersistedSchema,
  handlers: {
    process(request, ctx) {
      let forward: ForwardReply | undefined;
      for (const { action } of request.actions) {
        switch (action.case) {
          case "update":
            ctx.updateState({ value: action.value.value });
            break;
          case "delete":
            ctx.deleteState();
            break;
          case "forward":
            forward = ctx.forward(model.ValueEntityTwo.method.call, { id: action.value.id });
            break;
          case "effect":
            ctx.sideEffect(model.ValueEntityTwo.method.call, { id: action.value.id }, { synchronous: action.value.synchronous });
            break;
          case "fail":
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

/** `ValueEntityTwo`: the target of forwards and side effects. */
export const valueEntityTwo = valueEntity({
  service: model.ValueEntityTwo,
  persistenceId: "value-entity-tck-model-two",
  state: model.PersistedSchema,
  handlers: { call: () => ({}) },
});

/** `ValueEntityConfigured`: passivated after 100 ms idle. */
export const valueEntityConfigured = valueEntity({
  service: model.ValueEntityConfigured,
  persistenceId: "value-entity-configured",
  state: model.PersistedSchema,
  passivationTimeoutMs: 100,
  handlers: { call: () => ({}) },
});
