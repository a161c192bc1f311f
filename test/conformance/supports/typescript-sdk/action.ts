/**
 * The Action TCK model services (`cloudstate.tck.model.action`), written with the SDK: each
 * request group yields one answer, made of its steps (reply, forward, fail, side effect).
 *
 * The SDK's own protocol tests drive them too, with conventions the TCK never uses: a `fail` step whose message starts with `crash:`
 * throws a plain Error (a crash, not a failure), and with `throw:` it throws the CommandFailure
 * instead of returning it; a `reply` step with message `!wrong-type` returns a message of the
 * wrong type.
 */
import { create } from "@bufbuild/protobuf";
import { action as actionModel } from "@switchboard/protocol/tck";
import type { ActionContext, HandlerResult } from "@switchboard/sdk";
import { action, CommandFailure } from "@switchboard/sdk";

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
