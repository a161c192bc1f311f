/**
 * The Value entity TCK model services (`cloudstate.tck.model.valueentity`), written with the SDK.
 *
 * The SDK's own protocol tests drive them too, with one convention the TCK never uses: a `fail`
 * action whose message starts with `crash:` throws a plain Error (a crash, not a failure).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { valueEntity } from "@switchboard/sdk";
import { valueentity } from "@switchboard/protocol/tck";

/** `cloudstate.tck.model.valueentity.ValueEntityTckModel`. */
export const valueEntityTckModel = valueEntity({
  service: valueentity.ValueEntityTckModel,
  persistenceId: "value-entity-tck-model",
  state: valueentity.PersistedSchema,
  handlers: {
    process(request, ctx) {
      let forward: ReturnType<typeof ctx.forward> | undefined;
      for (const { action: step } of request.actions) {
        switch (step.case) {
          case "update":
            ctx.updateState({ value: step.value.value });
            break;
          case "delete":
            ctx.deleteState();
            break;
          case "forward":
            forward = ctx.forward(valueentity.ValueEntityTwo.method.call, { id: step.value.id });
            break;
          case "effect":
            ctx.sideEffect(valueentity.ValueEntityTwo.method.call, { id: step.value.id }, { synchronous: step.value.synchronous });
            break;
          case "fail":
            if (step.value.message.startsWith("crash:")) throw new Error(step.value.message.slice("crash:".length));
            ctx.fail(step.value.message);
            break;
          case undefined:
            break;
        }
      }
      const reply: MessageInitShape<typeof valueentity.ResponseSchema> = { message: ctx.state.value };
      return forward ?? reply;
    },
  },
});

/** `cloudstate.tck.model.valueentity.ValueEntityTwo`. */
export const valueEntityTwo = valueEntity({
  service: valueentity.ValueEntityTwo,
  persistenceId: "value-entity-tck-model-two",
  state: valueentity.PersistedSchema,
  handlers: { call: () => ({}) },
});

/** `cloudstate.tck.model.valueentity.ValueEntityConfigured`: 100 ms passivation. */
export const valueEntityConfigured = valueEntity({
  service: valueentity.ValueEntityConfigured,
  persistenceId: "value-entity-configured",
  state: valueentity.PersistedSchema,
  passivationTimeoutMs: 100,
  handlers: { call: () => ({}) },
});
