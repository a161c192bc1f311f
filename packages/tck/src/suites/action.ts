/**
 * Actions (upstream `ActionTCK`): 34 model tests and 9 proxy tests. A model request is a
 * list of groups of steps; each group yields one `ActionResponse`.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { SideEffect } from "@switchboard/protocol";
import { ActionProtocol } from "@switchboard/protocol";
import { action as model } from "@switchboard/protocol/tck";
import { check, checkEqual } from "../assertion-error.js";
import { expectMessage } from "../compare.js";
import { expectCallFailure } from "../grpc-client.js";
import { command, failure, forward, noReply, payloadCommand, reply } from "../messages/action.js";
import { pack, sideEffect } from "../messages/common.js";
import { withTimeout } from "../protocol-driver.js";
import { modelTest, proxyTest, type TckSuite } from "../suite.js";

const SERVICE = model.ActionTckModel.typeName;
const SERVICE_TWO = model.ActionTwo.typeName;
const PROTOCOL = ActionProtocol.typeName;

type Step = MessageInitShape<typeof model.ProcessStepSchema>;
type Group = MessageInitShape<typeof model.ProcessGroupSchema>;
type Request = MessageInitShape<typeof model.RequestSchema>;

const group = (...steps: Step[]): Group => ({ steps });
const request = (...groups: Group[]): Request => ({ groups });
const single = (...steps: Step[]): Request => request(group(...steps));
const replyWith = (message: string): Step => ({ step: { case: "reply", value: { message } } });
const forwardTo = (id: string): Step => ({ step: { case: "forward", value: { id } } });
const sideEffectTo = (id: string, synchronous = false): Step => ({ step: { case: "effect", value: { id, synchronous } } });
const failWith = (message: string): Step => ({ step: { case: "fail", value: { message } } });

const payload = (r: Request) => pack(model.RequestSchema, r);
const response = (message = "") => pack(model.ResponseSchema, { message });
const otherRequest = (id: string) => pack(model.OtherRequestSchema, { id });
const processUnary = (r: Request) => command(SERVICE, "ProcessUnary", payload(r));
const processStreamedIn = () => command(SERVICE, "ProcessStreamedIn");
const processStreamedOut = (r: Request) => command(SERVICE, "ProcessStreamedOut", payload(r));
const processStreamed = () => command(SERVICE, "ProcessStreamed");
const streamPayload = (r: Request) => payloadCommand(payload(r));
const serviceTwoCall = (id: string) => command(SERVICE_TWO, "Call", otherRequest(id));
const createSideEffects = (synchronous: boolean, ids: string[]): SideEffect[] =>
  ids.map((id) => sideEffect(SERVICE_TWO, "Call", otherRequest(id), synchronous));
const sideEffects = (...ids: string[]) => createSideEffects(false, ids);
const synchronousSideEffects = (...ids: string[]) => createSideEffects(true, ids);
const forwarded = (id: string, effects: SideEffect[] = []) => forward(SERVICE_TWO, "Call", otherRequest(id), effects);
const modelResponse = (message = "") => create(model.ResponseSchema, { message });

/** The four response kinds of the unary model tests. */
const UNARY_KINDS = [
  { name: "reply", step: (n: string) => replyWith(n), expect: (n: string, e: SideEffect[]) => reply(response(n), e) },
  { name: "no reply", step: undefined, expect: (_n: string, e: SideEffect[]) => noReply(e) },
  { name: "forward", step: (n: string) => forwardTo(n), expect: (n: string, e: SideEffect[]) => forwarded(n, e) },
  { name: "failure", step: (n: string) => failWith(n), expect: (n: string, e: SideEffect[]) => failure(n, e) },
] as const;

/** The four side-effect variants of the unary model tests, with the upstream messages. */
const UNARY_VARIANTS = [
  { suffix: "", value: "one", steps: [] as Step[], effects: [] as SideEffect[] },
  { suffix: " with side effect", value: "two", steps: [sideEffectTo("other")], effects: sideEffects("other") },
  { suffix: " with synchronous side effect", value: "three", steps: [sideEffectTo("another", true)], effects: synchronousSideEffects("another") },
  {
    suffix: " with multiple side effects",
    value: "four",
    steps: [sideEffectTo("a"), sideEffectTo("b"), sideEffectTo("c")],
    effects: sideEffects("a", "b", "c"),
  },
];

const unaryModelTests = UNARY_KINDS.flatMap((kind) =>
  UNARY_VARIANTS.map((variant) =>
    modelTest(`unary command ${kind.name}${variant.suffix}`, async ({ protocol }) => {
      const steps = kind.step ? [kind.step(variant.value), ...variant.steps] : variant.steps;
      await protocol.actionUnary(processUnary(single(...steps)), kind.expect(variant.value, variant.effects));
    }),
  ),
);

/** Side effects accumulated over three streamed-in messages: `a`, `b` (synchronous), `c`, `d`. */
const accumulated = () => [...sideEffects("a"), ...synchronousSideEffects("b"), ...sideEffects("c", "d")];

/** Streamed-in model test: header, then the given requests, then half-close; one response. */
function streamedIn(name: string, requests: Request[], expected: () => ReturnType<typeof reply>) {
  return modelTest(`streamed-in command ${name}`, async ({ protocol }) => {
    const c = protocol.actionIn().send(processStreamedIn());
    for (const r of requests) c.send(streamPayload(r));
    c.complete();
    await c.expect(expected());
  });
}

/** The groups of the streamed-out and streamed model tests, per response kind. */
const STREAM_KINDS = [
  { name: "replies", first: (n: string) => [replyWith(n)], expect: (n: string, e: SideEffect[]) => reply(response(n), e) },
  { name: "no replies", first: (_n: string) => [] as Step[], expect: (_n: string, e: SideEffect[]) => noReply(e) },
  { name: "forwards", first: (n: string) => [forwardTo(n)], expect: (n: string, e: SideEffect[]) => forwarded(n, e) },
  { name: "failures", first: (n: string) => [failWith(n)], expect: (n: string, e: SideEffect[]) => failure(n, e) },
] as const;

const streamedOutModelTests = STREAM_KINDS.map((kind) =>
  modelTest(`streamed-out command ${kind.name} and side effects`, async ({ protocol }) => {
    const groups = UNARY_VARIANTS.map((v) => group(...kind.first(v.value), ...v.steps));
    const c = protocol.actionOut(processStreamedOut(request(...groups)));
    for (const v of UNARY_VARIANTS) await c.expect(kind.expect(v.value, v.effects));
    await c.expectClosed();
  }),
);

const streamedModelTests = STREAM_KINDS.map((kind) =>
  modelTest(`streamed command ${kind.name} and side effects`, async ({ protocol }) => {
    const c = protocol.action().send(processStreamed());
    for (const v of UNARY_VARIANTS) {
      c.send(streamPayload(single(...kind.first(v.value), ...v.steps)));
      await c.expect(kind.expect(v.value, v.effects));
    }
    c.send(streamPayload(request(group(...kind.first("five")), group(...kind.first("six"), sideEffectTo("other")))));
    await c.expect(kind.expect("five", []));
    await c.expect(kind.expect("six", sideEffects("other")));
    await c.complete();
  }),
);

/** The Action area: 34 model tests and 9 proxy tests. */
export const actionSuite: TckSuite = {
  area: "Action",
  tests: [
    modelTest("action entity discovery", async (context) => {
      check(
        context.discoveredServices.includes(SERVICE) && context.discoveredServices.includes(SERVICE_TWO),
        "the descriptor set must contain ActionTckModel and ActionTwo",
      );
      checkEqual(context.entity(SERVICE)?.entityType, PROTOCOL, "ActionTckModel entity type");
      checkEqual(context.entity(SERVICE_TWO)?.entityType, PROTOCOL, "ActionTwo entity type");
    }),
    ...unaryModelTests,
    streamedIn("reply", [single(replyWith("one"))], () => reply(response("one"))),
    streamedIn(
      "reply with side effects",
      [single(replyWith("two"), sideEffectTo("a")), single(sideEffectTo("b", true)), single(sideEffectTo("c"), sideEffectTo("d"))],
      () => reply(response("two"), accumulated()),
    ),
    streamedIn("no reply (no requests)", [], () => noReply()),
    streamedIn("no reply", [single()], () => noReply()),
    streamedIn("no reply with side effects", [single(sideEffectTo("a")), single(sideEffectTo("b", true)), single(sideEffectTo("c"), sideEffectTo("d"))], () =>
      noReply(accumulated()),
    ),
    streamedIn("forward", [single(forwardTo("one"))], () => forwarded("one")),
    streamedIn(
      "forward with side effects",
      [single(forwardTo("two"), sideEffectTo("a")), single(sideEffectTo("b", true)), single(sideEffectTo("c"), sideEffectTo("d"))],
      () => forwarded("two", accumulated()),
    ),
    streamedIn("failure", [single(failWith("one"))], () => failure("one")),
    streamedIn(
      "failure with side effects",
      [single(failWith("two"), sideEffectTo("a")), single(sideEffectTo("b", true)), single(sideEffectTo("c"), sideEffectTo("d"))],
      () => failure("two", accumulated()),
    ),
    ...streamedOutModelTests,
    ...streamedModelTests,

    proxyTest("unary command processing", async ({ client, interceptor }) => {
      const got = await client.unary(model.ActionTckModel.method.processUnary, single(replyWith("one")));
      expectMessage(model.ResponseSchema, got, modelResponse("one"), "response from the proxy");
      const connection = await interceptor.expectConnection("action-unary");
      connection.expectIncoming(processUnary(single(replyWith("one"))));
      await connection.expectOutgoing(reply(response("one")));
    }),

    proxyTest("streamed-in command processing", async ({ client, interceptor }) => {
      const call = client.clientStream(model.ActionTckModel.method.processStreamedIn);
      call.send(single(replyWith("two"))).complete();
      expectMessage(model.ResponseSchema, await withTimeout(call.response, "the streamed-in response"), modelResponse("two"), "response from the proxy");
      const connection = await interceptor.expectConnection("action-streamed-in");
      await connection.expectIncoming(processStreamedIn());
      await connection.expectIncoming(streamPayload(single(replyWith("two"))));
      await connection.expectInComplete();
      await connection.expectOutgoing(reply(response("two")));
    }),

    proxyTest("streamed-out command processing", async ({ client, interceptor }) => {
      const streamedOutRequest = request(group(replyWith("A")), group(replyWith("B")), group(replyWith("C")));
      const responses = client.serverStream(model.ActionTckModel.method.processStreamedOut, streamedOutRequest);
      for (const message of ["A", "B", "C"])
        expectMessage(model.ResponseSchema, await responses.next(), modelResponse(message), "streamed response from the proxy");
      await responses.expectComplete();
      const connection = await interceptor.expectConnection("action-streamed-out");
      await connection.expectIncoming(processStreamedOut(streamedOutRequest));
      for (const message of ["A", "B", "C"]) await connection.expectOutgoing(reply(response(message)));
      await connection.expectOutComplete();
    }),

    proxyTest("streamed command processing", async ({ client, interceptor }) => {
      const call = client.bidi(model.ActionTckModel.method.processStreamed);
      call
        .send(single(replyWith("X")))
        .send(single(replyWith("Y")))
        .send(single(replyWith("Z")))
        .complete();
      for (const message of ["X", "Y", "Z"]) expectMessage(model.ResponseSchema, await call.next(), modelResponse(message), "streamed response from the proxy");
      await call.expectComplete();
      const connection = await interceptor.expectConnection("action-streamed");
      await connection.expectIncoming(processStreamed());
      for (const message of ["X", "Y", "Z"]) {
        await connection.expectIncoming(streamPayload(single(replyWith(message))));
        await connection.expectOutgoing(reply(response(message)));
      }
      await connection.expectComplete();
    }),

    proxyTest("unary forwards and side effects", async ({ client, interceptor }) => {
      expectMessage(
        model.ResponseSchema,
        await client.unary(model.ActionTckModel.method.processUnary, single(forwardTo("other"))),
        modelResponse(),
        "response from the proxy",
      );
      const first = await interceptor.expectConnection("action-unary");
      first.expectIncoming(processUnary(single(forwardTo("other"))));
      await first.expectOutgoing(forwarded("other"));
      const second = await interceptor.expectConnection("action-unary");
      second.expectIncoming(serviceTwoCall("other"));
      await second.expectOutgoing(reply(response()));

      expectMessage(
        model.ResponseSchema,
        await client.unary(model.ActionTckModel.method.processUnary, single(replyWith(""), sideEffectTo("another"))),
        modelResponse(),
        "response from the proxy",
      );
      const third = await interceptor.expectConnection("action-unary");
      third.expectIncoming(processUnary(single(replyWith(""), sideEffectTo("another"))));
      await third.expectOutgoing(reply(response(), sideEffects("another")));
      const fourth = await interceptor.expectConnection("action-unary");
      fourth.expectIncoming(serviceTwoCall("another"));
      await fourth.expectOutgoing(reply(response()));
    }),

    proxyTest("streamed forwards and side effects", async ({ client, interceptor }) => {
      const call = client.bidi(model.ActionTckModel.method.processStreamed);
      call.send(single(forwardTo("one")));
      expectMessage(model.ResponseSchema, await call.next(), modelResponse(), "streamed response from the proxy");
      const connection = await interceptor.expectConnection("action-streamed");
      await connection.expectIncoming(processStreamed());
      await connection.expectIncoming(streamPayload(single(forwardTo("one"))));
      await connection.expectOutgoing(forwarded("one"));
      const forwardCall = await interceptor.expectConnection("action-unary");
      forwardCall.expectIncoming(serviceTwoCall("one"));
      await forwardCall.expectOutgoing(reply(response()));

      call.send(single(sideEffectTo("two")));
      await connection.expectIncoming(streamPayload(single(sideEffectTo("two"))));
      await connection.expectOutgoing(noReply(sideEffects("two")));
      const effectCall = await interceptor.expectConnection("action-unary");
      effectCall.expectIncoming(serviceTwoCall("two"));
      await effectCall.expectOutgoing(reply(response()));

      call.complete();
      await call.expectComplete();
      await connection.expectComplete();
    }),

    proxyTest("unary failures", async ({ client, interceptor }) => {
      const failed = await expectCallFailure(client.unary(model.ActionTckModel.method.processUnary, single(failWith("expected failure"))), "the call");
      checkEqual(failed.details, "expected failure", "gRPC status description");
      const connection = await interceptor.expectConnection("action-unary");
      connection.expectIncoming(processUnary(single(failWith("expected failure"))));
      await connection.expectOutgoing(failure("expected failure"));
    }),

    proxyTest("streamed failures", async ({ client, interceptor }) => {
      const call = client.bidi(model.ActionTckModel.method.processStreamed);
      // The proxy opens the call to the user function, header first, as soon as the client call starts.
      const connection = await interceptor.expectConnection("action-streamed");
      await connection.expectIncoming(processStreamed());
      call.send(single(failWith("expected failure")));
      const failed = await call.expectError();
      checkEqual(failed.details, "expected failure", "gRPC status description");
      // The failed call is over: nothing more arrives on it (upstream: the request stream is cancelled).
      await call.expectNone(100);
      await connection.expectIncoming(streamPayload(single(failWith("expected failure"))));
      await connection.expectOutgoing(failure("expected failure"));
    }),

    proxyTest("unary HTTP API", async ({ http, interceptor }) => {
      checkEqual(
        await http.request("tck/model/action/unary", `{"groups": [{"steps": [{"reply": {"message": "foo"}}]}]}`),
        `{"message":"foo"}`,
        "HTTP response body",
      );
      const connection = await interceptor.expectConnection("action-unary");
      connection.expectIncoming(processUnary(single(replyWith("foo"))));
      await connection.expectOutgoing(reply(response("foo")));

      checkEqual(await http.requestToError("tck/model/action/unary", `{"groups": [{"steps": [{"fail": {"message": "boom"}}]}]}`), "boom", "HTTP error body");
      const failed = await interceptor.expectConnection("action-unary");
      failed.expectIncoming(processUnary(single(failWith("boom"))));
      await failed.expectOutgoing(failure("boom"));
    }),
  ],
};
