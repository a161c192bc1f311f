/**
 * Event sourced entities (upstream `EventSourcedEntityTCK`): 21 model tests against the
 * user function and 5 proxy tests through the proxy. The model keeps as state the
 * concatenation of its `Persisted` events and snapshots every 5 events.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { EventSourced, type EventSourcedStreamOut } from "@switchboard/protocol";
import { eventsourced as model } from "@switchboard/protocol/tck";
import { check, checkEqual } from "../assertion-error.js";
import { expectMessage } from "../compare.js";
import { expectCallFailure } from "../grpc-client.js";
import { pack, sideEffect } from "../messages/common.js";
import { actionFailure, command, type EventSourcedEffects, event, forward, init, mergeEffects, reply, snapshot } from "../messages/event-sourced.js";
import { entityIds, modelTest, proxyTest, type TckContext, type TckSuite } from "../suite.js";

const SERVICE = model.EventSourcedTckModel.typeName;
const SERVICE_TWO = model.EventSourcedTwo.typeName;
const SERVICE_CONFIGURED = model.EventSourcedConfigured.typeName;
const PROTOCOL = EventSourced.typeName;

type Action = MessageInitShape<typeof model.RequestActionSchema>;

const emit = (value: string): Action => ({ action: { case: "emit", value: { value } } });
const emits = (...values: string[]): Action[] => values.map(emit);
const forwardTo = (id: string): Action => ({ action: { case: "forward", value: { id } } });
const sideEffectTo = (id: string, synchronous = false): Action => ({ action: { case: "effect", value: { id, synchronous } } });
const sideEffectsTo = (...ids: string[]): Action[] => ids.map((id) => sideEffectTo(id));
const failWith = (message: string): Action => ({ action: { case: "fail", value: { message } } });

/** The model `Request` as a command payload. */
const request = (id: string, actions: Action[] = []) => pack(model.RequestSchema, { id, actions });
/** The model `Response` as a reply payload. */
const response = (message = "") => pack(model.ResponseSchema, { message });
const persisted = (value: string) => pack(model.PersistedSchema, { value });
const events = (...values: string[]): EventSourcedEffects => ({ events: values.map(persisted) });
const snapshotAndEvents = (snapshotValue: string, ...values: string[]): EventSourcedEffects => ({
  events: values.map(persisted),
  snapshot: persisted(snapshotValue),
});
const createSideEffects = (synchronous: boolean, ids: string[]): EventSourcedEffects => ({
  sideEffects: ids.map((id) => sideEffect(SERVICE_TWO, "Call", request(id), synchronous)),
});
const sideEffects = (...ids: string[]) => createSideEffects(false, ids);
const synchronousSideEffects = (...ids: string[]) => createSideEffects(true, ids);

/** Calls `EventSourcedTckModel.Process` on the proxy and checks the response message. */
async function process(context: TckContext, id: string, actions: Action[], expected: string): Promise<void> {
  const got = await context.client.unary(model.EventSourcedTckModel.method.process, { id, actions });
  expectMessage(model.ResponseSchema, got, create(model.ResponseSchema, { message: expected }), "response from the proxy");
}

/** Expects a failed call with `description`. */
async function processFails(context: TckContext, id: string, actions: Action[], description: string): Promise<void> {
  const failed = await expectCallFailure(context.client.unary(model.EventSourcedTckModel.method.process, { id, actions }), "the call");
  checkEqual(failed.details, description, "gRPC status description");
}

const ids = entityIds("entity");

/** The ES area: 21 model tests and 5 proxy tests. */
export const eventSourcedSuite: TckSuite = {
  area: "ES",
  tests: [
    modelTest("event sourced entity discovery", async (context) => {
      check(
        context.discoveredServices.includes(SERVICE) && context.discoveredServices.includes(SERVICE_TWO),
        "the descriptor set must contain EventSourcedTckModel and EventSourcedTwo",
      );
      checkEqual(context.entity(SERVICE)?.entityType, PROTOCOL, "EventSourcedTckModel entity type");
      checkEqual(context.entity(SERVICE_TWO)?.entityType, PROTOCOL, "EventSourcedTwo entity type");
      checkEqual(context.entity(SERVICE)?.persistenceId, "event-sourced-tck-model", "EventSourcedTckModel persistence id");
    }),

    modelTest("event sourced configured entity", async (context) => {
      check(context.discoveredServices.includes(SERVICE_CONFIGURED), "the descriptor set must contain EventSourcedConfigured");
      const entity = context.entity(SERVICE_CONFIGURED);
      checkEqual(entity?.entityType, PROTOCOL, "EventSourcedConfigured entity type");
      checkEqual(entity?.persistenceId, "event-sourced-configured", "EventSourcedConfigured persistence id");
      const strategy = entity?.passivationStrategy?.strategy;
      checkEqual(strategy?.case === "timeout" ? strategy.value.timeout : undefined, 100n, "EventSourcedConfigured passivation timeout (ms)");
    }),

    modelTest("initial empty state", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id)));
      await c.expect(reply(1, response()));
      await c.passivate();
    }),

    modelTest("single emitted event", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, emits("A"))));
      await c.expect(reply(1, response("A"), events("A")));
      c.send(command(2, id, "Process", request(id)));
      await c.expect(reply(2, response("A")));
      await c.passivate();
    }),

    modelTest("multiple emitted events", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, emits("A", "B", "C"))));
      await c.expect(reply(1, response("ABC"), events("A", "B", "C")));
      c.send(command(2, id, "Process", request(id)));
      await c.expect(reply(2, response("ABC")));
      await c.passivate();
    }),

    modelTest("multiple emitted events and snapshots", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol.eventSourced().send(init(SERVICE, id));
      const steps: [string[], string, EventSourcedEffects][] = [
        [["A"], "A", events("A")],
        [["B"], "AB", events("B")],
        [["C"], "ABC", events("C")],
        [["D"], "ABCD", events("D")],
        [["E"], "ABCDE", snapshotAndEvents("ABCDE", "E")],
        [["F", "G", "H"], "ABCDEFGH", events("F", "G", "H")],
        [["I", "J"], "ABCDEFGHIJ", snapshotAndEvents("ABCDEFGHIJ", "I", "J")],
        [["K"], "ABCDEFGHIJK", events("K")],
        [[], "ABCDEFGHIJK", {}],
      ];
      let n = 0;
      for (const [values, state, effects] of steps) {
        n += 1;
        c.send(command(n, id, "Process", request(id, emits(...values))));
        await c.expect(reply(n, response(state), effects));
      }
      await c.passivate();
    }),

    modelTest("initial snapshot", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id, snapshot(5, persisted("ABCDE"))))
        .send(command(1, id, "Process", request(id)));
      await c.expect(reply(1, response("ABCDE")));
      await c.passivate();
    }),

    modelTest("initial snapshot and events", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id, snapshot(5, persisted("ABCDE"))))
        .send(event(6, persisted("F")))
        .send(event(7, persisted("G")))
        .send(command(1, id, "Process", request(id)));
      await c.expect(reply(1, response("ABCDEFG")));
      await c.passivate();
    }),

    modelTest("rehydration after passivation", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, emits("A", "B", "C"))));
      await c.expect(reply(1, response("ABC"), events("A", "B", "C")));
      c.send(command(2, id, "Process", request(id, emits("D", "E"))));
      await c.expect(reply(2, response("ABCDE"), snapshotAndEvents("ABCDE", "D", "E")));
      c.send(command(3, id, "Process", request(id, emits("F"))));
      await c.expect(reply(3, response("ABCDEF"), events("F")));
      c.send(command(4, id, "Process", request(id, emits("G"))));
      await c.expect(reply(4, response("ABCDEFG"), events("G")));
      await c.passivate();
      const c2 = protocol
        .eventSourced()
        .send(init(SERVICE, id, snapshot(5, persisted("ABCDE"))))
        .send(event(6, persisted("F")))
        .send(event(7, persisted("G")))
        .send(command(1, id, "Process", request(id)));
      await c2.expect(reply(1, response("ABCDEFG")));
      await c2.passivate();
    }),

    modelTest("forward to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, emits("A", "B", "C"))));
      await c.expect(reply(1, response("ABC"), events("A", "B", "C")));
      c.send(command(2, id, "Process", request(id, [forwardTo(id)])));
      await c.expect(forward(2, SERVICE_TWO, "Call", request(id)));
      c.send(command(3, id, "Process", request(id)));
      await c.expect(reply(3, response("ABC")));
      await c.passivate();
    }),

    modelTest("forward with emitted events", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [emit("A"), forwardTo(id)])));
      await c.expect(forward(1, SERVICE_TWO, "Call", request(id), events("A")));
      await c.passivate();
    }),

    modelTest("forward with emitted events and snapshot", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, emits("A", "B", "C"))));
      await c.expect(reply(1, response("ABC"), events("A", "B", "C")));
      c.send(command(2, id, "Process", request(id, [emit("D"), emit("E"), forwardTo(id)])));
      await c.expect(forward(2, SERVICE_TWO, "Call", request(id), snapshotAndEvents("ABCDE", "D", "E")));
      await c.passivate();
    }),

    modelTest("reply with side effect to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, emits("A", "B", "C"))));
      await c.expect(reply(1, response("ABC"), events("A", "B", "C")));
      c.send(command(2, id, "Process", request(id, [sideEffectTo(id)])));
      await c.expect(reply(2, response("ABC"), sideEffects(id)));
      c.send(command(3, id, "Process", request(id)));
      await c.expect(reply(3, response("ABC")));
      await c.passivate();
    }),

    modelTest("synchronous side effect to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [sideEffectTo(id, true)])));
      await c.expect(reply(1, response(), synchronousSideEffects(id)));
      await c.passivate();
    }),

    modelTest("forward and side effect to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [sideEffectTo(id), forwardTo(id)])));
      await c.expect(forward(1, SERVICE_TWO, "Call", request(id), sideEffects(id)));
      await c.passivate();
    }),

    modelTest("reply with multiple side effects", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, sideEffectsTo("1", "2", "3"))));
      await c.expect(reply(1, response(), sideEffects("1", "2", "3")));
      await c.passivate();
    }),

    modelTest("reply with multiple side effects, events, and snapshot", async ({ protocol }) => {
      const id = ids.next();
      const actions = [...emits("A", "B", "C", "D", "E"), ...sideEffectsTo("1", "2", "3")];
      const effects = mergeEffects(snapshotAndEvents("ABCDE", "A", "B", "C", "D", "E"), sideEffects("1", "2", "3"));
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, actions)));
      await c.expect(reply(1, response("ABCDE"), effects));
      await c.passivate();
    }),

    modelTest("failure action", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [failWith("expected failure")])));
      await c.expect(actionFailure(1, "expected failure"));
      await c.passivate();
    }),

    modelTest("connection after failure action", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [emit("A")])));
      await c.expect(reply(1, response("A"), events("A")));
      c.send(command(2, id, "Process", request(id, [failWith("expected failure")])));
      await c.expect(actionFailure(2, "expected failure"));
      c.send(command(3, id, "Process", request(id)));
      await c.expect(reply(3, response("A")));
      await c.passivate();
    }),

    modelTest("failure actions do not retain emitted events (may request entity restart)", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, emits("A", "B", "C"))));
      await c.expect(reply(1, response("ABC"), events("A", "B", "C")));
      c.send(command(2, id, "Process", request(id, [emit("4"), emit("5"), failWith("failure 1")])));
      const message = await c.expectMessage();
      const action = message.message.case === "reply" ? message.message.value.clientAction?.action : undefined;
      check(action?.case === "failure", () => `expected a failure reply, got ${JSON.stringify(message.message.case)}`);
      const failure = action.value;
      checkEqual(failure.commandId, 2n, "failure command id");
      checkEqual(failure.description, "failure 1", "failure description");
      if (failure.restart) {
        // The language support asks for a restart after a failure that emitted events.
        await c.passivate();
        const c2 = protocol
          .eventSourced()
          .send(init(SERVICE, id))
          .send(event(1, persisted("A")))
          .send(event(2, persisted("B")))
          .send(event(3, persisted("C")))
          .send(command(1, id, "Process", request(id, emits("D"))));
        await c2.expect(reply(1, response("ABCD"), events("D")));
        c2.send(command(2, id, "Process", request(id, [emit("6"), failWith("failure 2"), emit("7")])));
        await c2.expect(actionFailure(2, "failure 2", true));
        await c2.passivate();
        const c3 = protocol
          .eventSourced()
          .send(init(SERVICE, id))
          .send(event(1, persisted("A")))
          .send(event(2, persisted("B")))
          .send(event(3, persisted("C")))
          .send(event(4, persisted("D")))
          .send(command(1, id, "Process", request(id, emits("E"))));
        await c3.expect(reply(1, response("ABCDE"), snapshotAndEvents("ABCDE", "E")));
        await c3.passivate();
      } else {
        // The language support drops the failed command's events itself.
        c.send(command(3, id, "Process", request(id, emits("D"))));
        await c.expect(reply(3, response("ABCD"), events("D")));
        c.send(command(4, id, "Process", request(id, [emit("6"), failWith("failure 2"), emit("7")])));
        await c.expect(actionFailure(4, "failure 2"));
        c.send(command(5, id, "Process", request(id, emits("E"))));
        await c.expect(reply(5, response("ABCDE"), snapshotAndEvents("ABCDE", "E")));
        await c.passivate();
      }
    }),

    modelTest("failure actions do not allow side effects", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .eventSourced()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [sideEffectTo(id), failWith("expected failure")])));
      await c.expect(actionFailure(1, "expected failure"));
      await c.passivate();
    }),

    proxyTest("state changes", async (context) => {
      const { interceptor } = context;
      const id = ids.next();
      await process(context, id, [], "");
      const connection = await interceptor.expectConnection("event-sourced");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id)));
      await connection.expectOutgoing(reply(1, response()));

      const steps: [string[], string, EventSourcedEffects][] = [
        [["A"], "A", events("A")],
        [["B", "C", "D"], "ABCD", events("B", "C", "D")],
        [["E"], "ABCDE", snapshotAndEvents("ABCDE", "E")],
        [["F", "G", "H", "I"], "ABCDEFGHI", events("F", "G", "H", "I")],
        [["J", "K"], "ABCDEFGHIJK", snapshotAndEvents("ABCDEFGHIJK", "J", "K")],
      ];
      let n = 1;
      for (const [values, state, effects] of steps) {
        n += 1;
        await process(context, id, emits(...values), state);
        await connection.expectIncoming(command(n, id, "Process", request(id, emits(...values))));
        await connection.expectOutgoing(reply(n, response(state), effects));
      }
    }),

    proxyTest("forwards and side effects", async (context) => {
      const { interceptor } = context;
      const id = ids.next();
      await process(context, id, emits("one"), "one");
      const connection = await interceptor.expectConnection("event-sourced");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id, emits("one"))));
      await connection.expectOutgoing(reply(1, response("one"), events("one")));

      await process(context, id, [forwardTo(id)], "");
      await connection.expectIncoming(command(2, id, "Process", request(id, [forwardTo(id)])));
      await connection.expectOutgoing(forward(2, SERVICE_TWO, "Call", request(id)));
      const connection2 = await interceptor.expectConnection("event-sourced");
      await connection2.expectIncoming(init(SERVICE_TWO, id));
      await connection2.expectIncoming(command(1, id, "Call", request(id)));
      await connection2.expectOutgoing(reply(1, response()));

      await process(context, id, [sideEffectTo(id)], "one");
      await connection.expectIncoming(command(3, id, "Process", request(id, [sideEffectTo(id)])));
      await connection.expectOutgoing(reply(3, response("one"), sideEffects(id)));
      await connection2.expectIncoming(command(2, id, "Call", request(id)));
      await connection2.expectOutgoing(reply(2, response()));

      await process(context, id, [], "one");
      await connection.expectIncoming(command(4, id, "Process", request(id)));
      await connection.expectOutgoing(reply(4, response("one")));
    }),

    proxyTest("failures", async (context) => {
      const { interceptor } = context;
      const id = ids.next();
      await process(context, id, emits("1", "2", "3"), "123");
      const connection = await interceptor.expectConnection("event-sourced");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id, emits("1", "2", "3"))));
      await connection.expectOutgoing(reply(1, response("123"), events("1", "2", "3")));

      await processFails(context, id, [failWith("expected failure")], "expected failure");
      await connection.expectIncoming(command(2, id, "Process", request(id, [failWith("expected failure")])));
      await connection.expectOutgoing(actionFailure(2, "expected failure"));

      await process(context, id, [], "123");
      await connection.expectIncoming(command(3, id, "Process", request(id)));
      await connection.expectOutgoing(reply(3, response("123")));

      const emitAndFail = [emit("4"), failWith("another failure"), emit("5")];
      await processFails(context, id, emitAndFail, "another failure");
      await connection.expectIncoming(command(4, id, "Process", request(id, emitAndFail)));
      const failure = failureOf(await connection.expectOutgoingMessage());
      checkEqual(failure.commandId, 4n, "failure command id");
      checkEqual(failure.description, "another failure", "failure description");
      if (failure.restart) {
        await connection.expectClosed();
        const connection2 = await interceptor.expectConnection("event-sourced");
        await connection2.expectIncoming(init(SERVICE, id));
        await connection2.expectIncoming(event(1, persisted("1")));
        await connection2.expectIncoming(event(2, persisted("2")));
        await connection2.expectIncoming(event(3, persisted("3")));
        await process(context, id, emits("4", "5"), "12345");
        await connection2.expectIncoming(command(1, id, "Process", request(id, emits("4", "5"))));
        await connection2.expectOutgoing(reply(1, response("12345"), snapshotAndEvents("12345", "4", "5")));
      } else {
        await process(context, id, emits("4", "5"), "12345");
        await connection.expectIncoming(command(5, id, "Process", request(id, emits("4", "5"))));
        await connection.expectOutgoing(reply(5, response("12345"), snapshotAndEvents("12345", "4", "5")));
      }
    }),

    proxyTest("HTTP API", async (context) => {
      const { interceptor, http } = context;
      const id = ids.next();
      checkEqual(await http.request(`tck/model/eventsourced/${id}`, "{}"), `{"message":""}`, "HTTP response body");
      const connection = await interceptor.expectConnection("event-sourced");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id)));
      await connection.expectOutgoing(reply(1, response()));

      checkEqual(await http.request("cloudstate.tck.model.EventSourcedTwo/Call", `{"id": "${id}"}`), `{"message":""}`, "HTTP response body");
      const two = await interceptor.expectConnection("event-sourced");
      await two.expectIncoming(init(SERVICE_TWO, id));
      await two.expectIncoming(command(1, id, "Call", request(id)));
      await two.expectOutgoing(reply(1, response()));

      checkEqual(await http.request(`tck/model/eventsourced/${id}`, `{"actions": [{"emit": {"value": "x"}}]}`), `{"message":"x"}`, "HTTP response body");
      await connection.expectIncoming(command(2, id, "Process", request(id, emits("x"))));
      await connection.expectOutgoing(reply(2, response("x"), events("x")));

      checkEqual(
        await http.requestToError(`tck/model/eventsourced/${id}`, `{"actions": [{"fail": {"message": "expected failure"}}]}`),
        "expected failure",
        "HTTP error body",
      );
      await connection.expectIncoming(command(3, id, "Process", request(id, [failWith("expected failure")])));
      await connection.expectOutgoing(actionFailure(3, "expected failure"));

      checkEqual(await http.request(`tck/model/eventsourced/${id}`, `{"actions": [{"emit": {"value": "y"}}]}`), `{"message":"xy"}`, "HTTP response body");
      await connection.expectIncoming(command(4, id, "Process", request(id, emits("y"))));
      await connection.expectOutgoing(reply(4, response("xy"), events("y")));

      checkEqual(
        await http.requestToError(`tck/model/eventsourced/${id}`, `{"actions": [{"emit": {"value": "z"}}, {"fail": {"message": "emit then fail"}}]}`),
        "emit then fail",
        "HTTP error body",
      );
      await connection.expectIncoming(command(5, id, "Process", request(id, [emit("z"), failWith("emit then fail")])));
      const failure = failureOf(await connection.expectOutgoingMessage());
      checkEqual(failure.commandId, 5n, "failure command id");
      checkEqual(failure.description, "emit then fail", "failure description");
      if (failure.restart) {
        await connection.expectClosed();
        const connection2 = await interceptor.expectConnection("event-sourced");
        await connection2.expectIncoming(init(SERVICE, id));
        await connection2.expectIncoming(event(1, persisted("x")));
        await connection2.expectIncoming(event(2, persisted("y")));
        checkEqual(await http.request(`tck/model/eventsourced/${id}`, `{"actions": [{"emit": {"value": "z"}}]}`), `{"message":"xyz"}`, "HTTP response body");
        await connection2.expectIncoming(command(1, id, "Process", request(id, emits("z"))));
        await connection2.expectOutgoing(reply(1, response("xyz"), events("z")));
      } else {
        checkEqual(await http.request(`tck/model/eventsourced/${id}`, `{"actions": [{"emit": {"value": "z"}}]}`), `{"message":"xyz"}`, "HTTP response body");
        await connection.expectIncoming(command(6, id, "Process", request(id, emits("z"))));
        await connection.expectOutgoing(reply(6, response("xyz"), events("z")));
      }
    }),

    proxyTest("passivation timeout", async (context) => {
      const id = ids.next();
      // Not awaited, as upstream: only the recorded stream matters.
      context.client.unary(model.EventSourcedConfigured.method.call, { id }).catch(() => {});
      const connection = await context.interceptor.expectConnection("event-sourced");
      await connection.expectIncoming(init(SERVICE_CONFIGURED, id));
      await connection.expectIncoming(command(1, id, "Call", request(id)));
      await connection.expectOutgoing(reply(1, response()));
      // The 100 ms strategy must close the stream within 2 s.
      await connection.expectClosed(2000);
    }),
  ],
};

/** The client-action failure of an outgoing reply, or a readable error. */
function failureOf(message: EventSourcedStreamOut) {
  const action = message.message.case === "reply" ? message.message.value.clientAction?.action : undefined;
  check(action?.case === "failure", () => `expected a reply with a client-action failure, got ${message.message.case ?? "nothing"}`);
  return action.value;
}
