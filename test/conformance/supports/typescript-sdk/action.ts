/**
 * The Action TCK model services (`cloudstate.tck.model.action`), written with the SDK: each
 * request group yields one answer, made of its steps (reply, forward, fail, side effect).
 */
import type { ActionContext, HandlerResult } from "@switchboard/sdk";
import { action, CommandFailure } from "@switchboard/sdk";
import { action as model } from "@switchboard/protocol/tck";

type Answer = HandlerResult<typeof model.ResponseSchema>;

/** One group of steps: the last reply, forward or fail decides the answer; side effects accumulate. */
function processGroup(group: model.ProcessGroup, ctx: ActionContext): Answer {
  let answer: Answer;
  for (const { step } of group.steps) {
    switch (step.case) {
      case "reply":
        answer = { message: step.value.message };
        break;
      case "forward":
        answer = ctx.forward(model.ActionTwo.method.call, { id: step.value.id });
        break;
      case "fail":
        // Returned, not thrown: the TCK expects a failure response to keep its side effects.
        answer = new CommandFailure(step.value.message);
        break;
      case "effect":
        ctx.sideEffect(model.ActionTwo.method.call, { id: step.value.id }, { synchronous: step.value.synchronous });
        break;
      case undefined:
        break;
    }
  }
  return answer;
}

/** Every group of a request; the last group with an answer decides. */
function processRequest(request: model.Request, ctx: ActionContext): Answer {
  let answer: Answer;
  for (const group of request.groups) {
    const groupAnswer = processGroup(group, ctx);
    if (groupAnswer !== undefined) answer = groupAnswer;
  }
  return answer;
}

/** `ActionTckModel`: the four streaming shapes. */
export const actionTckModel = action({
  service: model.ActionTckModel,
  handlers: {
    processUnary: (request, ctx) => processRequest(request, ctx),
    async processStreamedIn(requests, ctx) {
      let answer: Answer;
      for await (const request of requests) {
        const requestAnswer = processRequest(request, ctx);
        if (requestAnswer !== undefined) answer = requestAnswer;
      }
      return answer;
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

/** `ActionTwo`: the target of forwards and side effects; it answers an empty response. */
export const actionTwo = action({
  service: model.ActionTwo,
  handlers: {
    call: () => ({}),
  },
});
