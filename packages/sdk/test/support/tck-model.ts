/**
 * The Cloudstate TCK model services for Actions and Value entities (protocols/tck/cloudstate/tck/model), written
 * with the SDK. The SDK's protocol tests drive them, and they show the SDK can express the
 * models the conformance run needs.
 *
 * Test-only conventions on top of the TCK: a `fail` step whose message starts with `crash:`
 * throws a plain Error (a crash, not a failure), and with `throw:` it throws the CommandFailure
 * instead of returning it; a `reply` step with message `!wrong-type` returns a message of the
 * wrong type.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { action as actionModel, valueentity } from "@switchboard/protocol/tck";
import type { ActionContext, HandlerResult } from "../../src/index.js";
import { action, CommandFailure, valueEntity } from "../../src/index.js";

type ActionResult = HandlerResult<typeof actionModel.ResponseSchema>;

/** Runs one group of action steps; the last reply, forward or fail decides the answer. */
function processGroup(group: actionModel.ProcessGroup, ctx: ActionContext): ActionResult {
  let result: ActionResult;
  for (const { step } of group.steps) {
    switch (step.case) {
      case "reply":
        result =
          step.value.message === "!wrong-type"
            ? (create(actionModel.OtherRequestSchema, { id: "x" }) as unknown as ActionResult)
            : { message: step.value.message };
        break;
      case "forward":
        result = ctx.forward(actionModel.ActionTwo.method.call, { id: step.value.id });
        break;
      case "fail":
        if (step.value.message.startsWith("crash:")) throw new Error(step.value.message.slice("crash:".length));
        if (step.value.message.startsWith("throw:")) throw new CommandFailure(step.value.message.slice("throw:".length));
        // Returned, not thrown: the TCK expects a failure response to keep its side effects.
        result = new CommandFailure(step.value.message);
        break;
      case "effect":
        ctx.sideEffect(actionModel.ActionTwo.method.call, { id: step.value.id }, { synchronous: step.value.synchronous });
        break;
      case undefined:
        break;
    }
  }
  return result;
}

function processRequest(request: actionModel.Request, ctx: ActionContext): ActionResult {
  let result: ActionResult;
  for (const group of request.groups) {
    const groupResult = processGroup(group, ctx);
    if (groupResult !== undefined) result = groupResult;
  }
  return result;
}

/** `cloudstate.tck.model.action.ActionTckModel`: all four streaming shapes. */
export const actionTckModel = action({
  service: actionModel.ActionTckModel,
  handlers: {
    processUnary: (request, ctx) => processRequest(request, ctx),
    async processStreamedIn(requests, ctx) {
      let result: ActionResult;
      for await (const request of requests) {
        const r = processRequest(request, ctx);
        if (r !== undefined) result = r;
      }
      return result;
    },
    async *processStreamedOut(request, ctx) {
      for (const group of request.groups) yield processGroup(group, ctx);
    },
    async *processStreamed(requests, ctx) {
      for await (const request of requests) {
        for (const group of request.groups) yield processGroup(group, ctx);
      }
    },
  },
});

/** `cloudstate.tck.model.action.ActionTwo`: replies with the `x-echo` header (empty without it). */
export const actionTwo = action({
  service: actionModel.ActionTwo,
  handlers: {
    call: (_request, ctx) => ({ message: ctx.metadata.get("x-echo") ?? "" }),
  },
});

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

/** Every model entity. */
export const tckModelEntities = [actionTckModel, actionTwo, valueEntityTckModel, valueEntityTwo, valueEntityConfigured];
