import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import type { ActionResponse } from "@switchboard/protocol";
import { action as model } from "@switchboard/protocol/tck";
import type { Harness } from "./support/harness.js";
import { startHarness } from "./support/harness.js";
import { payload } from "./support/protocol-client.js";
import { tckModelEntities } from "../../../test/conformance/supports/typescript-sdk/entities.js";

const MODEL = "cloudstate.tck.model.action.ActionTckModel";
const TWO = "cloudstate.tck.model.action.ActionTwo";

type Step = MessageInitShape<typeof model.ProcessStepSchema>;
const reply = (message: string): Step => ({ step: { case: "reply", value: { message } } });
const forward = (id: string): Step => ({ step: { case: "forward", value: { id } } });
const fail = (message: string): Step => ({ step: { case: "fail", value: { message } } });
const effect = (id: string, synchronous = false): Step => ({ step: { case: "effect", value: { id, synchronous } } });
const request = (...groups: Step[][]) => payload(model.RequestSchema, { groups: groups.map((steps) => ({ steps })) });

/** A compact view of a response: what kind, its text, and its side effects. */
function view(response: ActionResponse) {
  const effects = response.sideEffects.map((e) => {
    assert.equal(e.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.action.OtherRequest");
    const id = fromBinary(model.OtherRequestSchema, e.payload?.value ?? new Uint8Array()).id;
    return `${e.serviceName}/${e.commandName}(${id})${e.synchronous ? " sync" : ""}`;
  });
  switch (response.response.case) {
    case "reply": {
      assert.equal(response.response.value.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.action.Response");
      const message = fromBinary(model.ResponseSchema, response.response.value.payload?.value ?? new Uint8Array()).message;
      return { reply: message, effects };
    }
    case "forward": {
      const f = response.response.value;
      assert.equal(f.payload?.typeUrl, "type.googleapis.com/cloudstate.tck.model.action.OtherRequest");
      const id = fromBinary(model.OtherRequestSchema, f.payload?.value ?? new Uint8Array()).id;
      return { forward: `${f.serviceName}/${f.commandName}(${id})`, effects };
    }
    case "failure":
      return { failure: response.response.value.description, effects };
    case undefined:
      return { noReply: true, effects };
  }
}

describe("ActionProtocol on a real SDK server", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(tckModelEntities);
  });
  after(() => h.close());

  const unary = (...groups: Step[][]) => h.client.handleUnary({ serviceName: MODEL, name: "ProcessUnary", payload: request(...groups) });

  describe("handleUnary", () => {
    it("replies", async () => {
      assert.deepEqual(view(await unary([reply("one")])), { reply: "one", effects: [] });
    });

    it("answers without a reply", async () => {
      assert.deepEqual(view(await unary([])), { noReply: true, effects: [] });
    });

    it("forwards to another service, packing the request as its input type", async () => {
      assert.deepEqual(view(await unary([forward("other")])), { forward: `${TWO}/Call(other)`, effects: [] });
    });

    it("fails with the description", async () => {
      assert.deepEqual(view(await unary([fail("expected failure")])), { failure: "expected failure", effects: [] });
    });

    it("sends side effects in order, synchronous flag included, with a reply", async () => {
      const response = await unary([reply("r"), effect("a"), effect("b", true), effect("c")]);
      assert.deepEqual(view(response), {
        reply: "r",
        effects: [`${TWO}/Call(a)`, `${TWO}/Call(b) sync`, `${TWO}/Call(c)`],
      });
    });

    it("sends side effects with a forward and with no reply", async () => {
      assert.deepEqual(view(await unary([forward("f"), effect("e", true)])), {
        forward: `${TWO}/Call(f)`,
        effects: [`${TWO}/Call(e) sync`],
      });
      assert.deepEqual(view(await unary([effect("e")])), { noReply: true, effects: [`${TWO}/Call(e)`] });
    });

    it("keeps side effects with a returned failure, drops them with a thrown one", async () => {
      assert.deepEqual(view(await unary([effect("e"), fail("returned")])), { failure: "returned", effects: [`${TWO}/Call(e)`] });
      assert.deepEqual(view(await unary([effect("e"), fail("throw:thrown")])), { failure: "thrown", effects: [] });
    });

    it("answers a crash with 'Unexpected error' and logs the real error", async () => {
      assert.deepEqual(view(await unary([effect("e"), fail("crash:kaboom")])), { failure: "Unexpected error", effects: [] });
      const logged = h.logs.find((l) => l.level === "error" && l.error instanceof Error && l.error.message === "kaboom");
      assert.ok(logged, "the crash is logged with its error");
      assert.match(logged.message, /ActionTckModel\.ProcessUnary/);
    });

    it("treats a reply of the wrong message type as a crash", async () => {
      assert.deepEqual(view(await unary([reply("!wrong-type")])), { failure: "Unexpected error", effects: [] });
      assert.ok(
        h.logs.some((l) => l.error instanceof TypeError && /OtherRequest message; expected cloudstate\.tck\.model\.action\.Response/.test(l.error.message)),
      );
    });

    it("passes the request metadata to the handler", async () => {
      const response = await h.client.handleUnary({
        serviceName: TWO,
        name: "Call",
        payload: payload(model.OtherRequestSchema, { id: "x" }),
        metadata: { entries: [{ key: "X-Echo", value: { case: "stringValue", value: "hello" } }] },
      });
      assert.deepEqual(view(response), { reply: "hello", effects: [] });
    });

    it("reads an absent payload as the empty request", async () => {
      assert.deepEqual(view(await h.client.handleUnary({ serviceName: MODEL, name: "ProcessUnary" })), { noReply: true, effects: [] });
    });
  });

  describe("bad commands", () => {
    it("fails an unknown method with a clear message", async () => {
      const response = await h.client.handleUnary({ serviceName: MODEL, name: "Nope", payload: request() });
      assert.equal(response.response.case, "failure");
      assert.match(response.response.value.description, /Unknown method "Nope" on action cloudstate\.tck\.model\.action\.ActionTckModel/);
      assert.match(response.response.value.description, /ProcessUnary, ProcessStreamedIn, ProcessStreamedOut, ProcessStreamed/);
    });

    it("fails an unknown service", async () => {
      const response = await h.client.handleUnary({ serviceName: "a.B", name: "C", payload: request() });
      assert.equal(response.response.case, "failure");
      assert.match(response.response.value.description, /No action is registered for service "a\.B"/);
    });

    it("fails a payload of the wrong type URL", async () => {
      const response = await h.client.handleUnary({
        serviceName: MODEL,
        name: "ProcessUnary",
        payload: payload(model.OtherRequestSchema, { id: "x" }),
      });
      assert.equal(response.response.case, "failure");
      assert.equal(
        response.response.value.description,
        "Invalid request for cloudstate.tck.model.action.ActionTckModel.ProcessUnary: expected a type.googleapis.com/cloudstate.tck.model.action.Request payload, got type.googleapis.com/cloudstate.tck.model.action.OtherRequest",
      );
    });

    it("fails a payload that does not decode", async () => {
      const response = await h.client.handleUnary({
        serviceName: MODEL,
        name: "ProcessUnary",
        payload: { typeUrl: "type.googleapis.com/cloudstate.tck.model.action.Request", value: new Uint8Array([0x0a, 0x05, 0x01]) },
      });
      assert.equal(response.response.case, "failure");
      assert.match(response.response.value.description, /cannot decode the cloudstate\.tck\.model\.action\.Request payload/);
    });

    it("fails a method called through the RPC of another shape", async () => {
      const response = await h.client.handleUnary({ serviceName: MODEL, name: "ProcessStreamed", payload: request() });
      assert.equal(response.response.case, "failure");
      assert.match(response.response.value.description, /is a bidi_streaming method; it is called with handleStreamed, not handleUnary/);
    });
  });

  describe("handleStreamedIn", () => {
    it("takes a header without payload, then requests, and answers once with the accumulated side effects", async () => {
      const response = await h.client.handleStreamedIn([
        { serviceName: MODEL, name: "ProcessStreamedIn" },
        { payload: request([effect("a")]) },
        { payload: request([effect("b", true), reply("two")]) },
        { payload: request([effect("c")]) },
      ]);
      assert.deepEqual(view(response), {
        reply: "two",
        effects: [`${TWO}/Call(a)`, `${TWO}/Call(b) sync`, `${TWO}/Call(c)`],
      });
    });

    it("answers without a reply when only the header comes", async () => {
      assert.deepEqual(view(await h.client.handleStreamedIn([{ serviceName: MODEL, name: "ProcessStreamedIn" }])), {
        noReply: true,
        effects: [],
      });
    });

    it("forwards and fails", async () => {
      const forwarded = await h.client.handleStreamedIn([{ serviceName: MODEL, name: "ProcessStreamedIn" }, { payload: request([forward("f")]) }]);
      assert.deepEqual(view(forwarded), { forward: `${TWO}/Call(f)`, effects: [] });
      const failed = await h.client.handleStreamedIn([
        { serviceName: MODEL, name: "ProcessStreamedIn" },
        { payload: request([effect("a")]) },
        { payload: request([fail("expected failure")]) },
      ]);
      assert.deepEqual(view(failed), { failure: "expected failure", effects: [`${TWO}/Call(a)`] });
    });

    it("fails when a later payload has the wrong type", async () => {
      const response = await h.client.handleStreamedIn([
        { serviceName: MODEL, name: "ProcessStreamedIn" },
        { payload: payload(model.OtherRequestSchema, { id: "x" }) },
      ]);
      assert.equal(response.response.case, "failure");
      assert.match(response.response.value.description, /expected a type\.googleapis\.com\/cloudstate\.tck\.model\.action\.Request payload/);
    });
  });

  describe("handleStreamedOut", () => {
    it("answers one response per group, each with its own side effects, then completes", async () => {
      const { status, rest } = await h.client.handleStreamedOut({
        serviceName: MODEL,
        name: "ProcessStreamedOut",
        payload: request([reply("A"), effect("a")], [effect("b", true)], [forward("C")], [fail("D"), effect("d")]),
      });
      assert.equal(status.code, 0);
      assert.deepEqual(rest.map(view), [
        { reply: "A", effects: [`${TWO}/Call(a)`] },
        { noReply: true, effects: [`${TWO}/Call(b) sync`] },
        { forward: `${TWO}/Call(C)`, effects: [] },
        { failure: "D", effects: [`${TWO}/Call(d)`] },
      ]);
    });

    it("ends the stream after a thrown failure", async () => {
      const { status, rest } = await h.client.handleStreamedOut({
        serviceName: MODEL,
        name: "ProcessStreamedOut",
        payload: request([reply("A")], [effect("x"), fail("throw:stop")], [reply("never")]),
      });
      assert.equal(status.code, 0);
      assert.deepEqual(rest.map(view), [
        { reply: "A", effects: [] },
        { failure: "stop", effects: [] },
      ]);
    });
  });

  describe("handleStreamed", () => {
    it("answers each request as it arrives, and completes when the proxy does", async () => {
      const call = h.client.handleStreamed();
      call.send({ serviceName: MODEL, name: "ProcessStreamed" });
      call.send({ payload: request([reply("X")]) });
      assert.deepEqual(view(await call.next()), { reply: "X", effects: [] });
      call.send({ payload: request([reply("Y"), effect("y")], [forward("Z")]) });
      assert.deepEqual(view(await call.next()), { reply: "Y", effects: [`${TWO}/Call(y)`] });
      assert.deepEqual(view(await call.next()), { forward: `${TWO}/Call(Z)`, effects: [] });
      call.send({ payload: request([effect("only")]) });
      assert.deepEqual(view(await call.next()), { noReply: true, effects: [`${TWO}/Call(only)`] });
      call.send({ payload: request([fail("F")]) });
      assert.deepEqual(view(await call.next()), { failure: "F", effects: [] });
      call.end();
      const end = await call.ended;
      assert.equal(end.status.code, 0);
      assert.deepEqual(end.rest, []);
    });

    it("answers an unknown method with a failure and ends the call", async () => {
      const call = h.client.handleStreamed();
      call.send({ serviceName: MODEL, name: "Missing" });
      const response = await call.next();
      assert.equal(response.response.case, "failure");
      assert.match(response.response.value.description, /Unknown method "Missing"/);
      const end = await call.ended;
      assert.equal(end.status.code, 0);
    });

    it("survives the proxy cancelling the call", async () => {
      const call = h.client.handleStreamed();
      call.send({ serviceName: MODEL, name: "ProcessStreamed" });
      call.send({ payload: request([reply("X")]) });
      await call.next();
      call.cancel();
      const end = await call.ended;
      assert.equal(end.status.code, 1); // CANCELLED
      // The server keeps serving.
      assert.deepEqual(view(await unary([reply("after")])), { reply: "after", effects: [] });
    });
  });
});
