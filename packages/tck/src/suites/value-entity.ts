/**
 * Value entities (upstream `EntityTCK`): 19 model tests and 5 proxy tests. The model's
 * state is one `Persisted` value; a command's net state change is sent as one update or
 * delete action.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueEntity } from "@switchboard/protocol";
import { valueentity as model } from "@switchboard/protocol/tck";
import { check, checkEqual } from "../assertion-error.js";
import { expectMessage } from "../compare.js";
import { expectCallFailure } from "../grpc-client.js";
import { pack, sideEffect } from "../messages/common.js";
import { actionFailure, command, deleteState, forward, init, reply, update, type ValueEntityEffects } from "../messages/value-entity.js";
import { entityIds, modelTest, proxyTest, type TckContext, type TckSuite } from "../suite.js";

const SERVICE = model.ValueEntityTckModel.typeName;
const SERVICE_TWO = model.ValueEntityTwo.typeName;
const SERVICE_CONFIGURED = model.ValueEntityConfigured.typeName;
const PROTOCOL = ValueEntity.typeName;

type Action = MessageInitShape<typeof model.RequestActionSchema>;

const updateState = (value: string): Action => ({ action: { case: "update", value: { value } } });
const updateStates = (...values: string[]): Action[] => values.map(updateState);
const deleteAction = (): Action => ({ action: { case: "delete", value: {} } });
const forwardTo = (id: string): Action => ({ action: { case: "forward", value: { id } } });
const sideEffectTo = (id: string, synchronous = false): Action => ({ action: { case: "effect", value: { id, synchronous } } });
const sideEffectsTo = (...ids: string[]): Action[] => ids.map((id) => sideEffectTo(id));
const failWith = (message: string): Action => ({ action: { case: "fail", value: { message } } });

const request = (id: string, actions: Action[] = []) => pack(model.RequestSchema, { id, actions });
const response = (message = "") => pack(model.ResponseSchema, { message });
const persisted = (value: string) => pack(model.PersistedSchema, { value });
const updated = (value: string): ValueEntityEffects => ({ stateAction: update(persisted(value)) });
const deleted = (): ValueEntityEffects => ({ stateAction: deleteState() });
const sideEffects = (synchronous: boolean, ...ids: string[]) => ids.map((id) => sideEffect(SERVICE_TWO, "Call", request(id), synchronous));

async function process(context: TckContext, id: string, actions: Action[], expected: string): Promise<void> {
  const got = await context.client.unary(model.ValueEntityTckModel.method.process, { id, actions });
  expectMessage(model.ResponseSchema, got, create(model.ResponseSchema, { message: expected }), "response from the proxy");
}

const ids = entityIds("entity");

/** The VE area: 19 model tests and 5 proxy tests. */
export const valueEntitySuite: TckSuite = {
  area: "VE",
  tests: [
    modelTest("entity discovery", async (context) => {
      check(
        context.discoveredServices.includes(SERVICE) && context.discoveredServices.includes(SERVICE_TWO),
        "the descriptor set must contain ValueEntityTckModel and ValueEntityTwo",
      );
      checkEqual(context.entity(SERVICE)?.entityType, PROTOCOL, "ValueEntityTckModel entity type");
      checkEqual(context.entity(SERVICE_TWO)?.entityType, PROTOCOL, "ValueEntityTwo entity type");
      checkEqual(context.entity(SERVICE)?.persistenceId, "value-entity-tck-model", "ValueEntityTckModel persistence id");
      checkEqual(context.entity(SERVICE_TWO)?.persistenceId, "value-entity-tck-model-two", "ValueEntityTwo persistence id");
    }),

    modelTest("configured entity", async (context) => {
      check(context.discoveredServices.includes(SERVICE_CONFIGURED), "the descriptor set must contain ValueEntityConfigured");
      const entity = context.entity(SERVICE_CONFIGURED);
      checkEqual(entity?.entityType, PROTOCOL, "ValueEntityConfigured entity type");
      checkEqual(entity?.persistenceId, "value-entity-configured", "ValueEntityConfigured persistence id");
      const strategy = entity?.passivationStrategy?.strategy;
      checkEqual(strategy?.case === "timeout" ? strategy.value.timeout : undefined, 100n, "ValueEntityConfigured passivation timeout (ms)");
    }),

    modelTest("initial empty state", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id)));
      await c.expect(reply(1, response()));
      await c.passivate();
    }),

    modelTest("update state", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, updateStates("A"))));
      await c.expect(reply(1, response("A"), updated("A")));
      c.send(command(2, id, "Process", request(id)));
      await c.expect(reply(2, response("A")));
      await c.passivate();
    }),

    modelTest("delete state", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, updateStates("A"))));
      await c.expect(reply(1, response("A"), updated("A")));
      c.send(command(2, id, "Process", request(id, [deleteAction()])));
      await c.expect(reply(2, response(), deleted()));
      c.send(command(3, id, "Process", request(id)));
      await c.expect(reply(3, response()));
      await c.passivate();
    }),

    modelTest("sub invocations with multiple update states", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, updateStates("A", "B", "C"))));
      await c.expect(reply(1, response("C"), updated("C")));
      c.send(command(2, id, "Process", request(id)));
      await c.expect(reply(2, response("C")));
      await c.passivate();
    }),

    modelTest("sub invocations with multiple update states and delete states", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [...updateStates("A", "B"), deleteAction()])));
      await c.expect(reply(1, response(), deleted()));
      c.send(command(2, id, "Process", request(id)));
      await c.expect(reply(2, response()));
      await c.passivate();
    }),

    modelTest("sub invocations with update, delete and update states", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [updateState("A"), deleteAction(), updateState("B")])));
      await c.expect(reply(1, response("B"), updated("B")));
      c.send(command(2, id, "Process", request(id)));
      await c.expect(reply(2, response("B")));
      await c.passivate();
    }),

    modelTest("rehydration after passivation", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol.valueEntity().send(init(SERVICE, id));
      let n = 0;
      for (const value of ["A", "B", "C", "D"]) {
        n += 1;
        c.send(command(n, id, "Process", request(id, updateStates(value))));
        await c.expect(reply(n, response(value), updated(value)));
      }
      await c.passivate();
      const c2 = protocol
        .valueEntity()
        .send(init(SERVICE, id, persisted("D")))
        .send(command(1, id, "Process", request(id, updateStates("E"))));
      await c2.expect(reply(1, response("E"), updated("E")));
      c2.send(command(2, id, "Process", request(id)));
      await c2.expect(reply(2, response("E")));
      await c2.passivate();
    }),

    modelTest("reply with multiple side effects", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, sideEffectsTo("1", "2", "3"))));
      await c.expect(reply(1, response(), { sideEffects: sideEffects(false, "1", "2", "3") }));
      await c.passivate();
    }),

    modelTest("reply with side effect to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, updateStates("X"))));
      await c.expect(reply(1, response("X"), updated("X")));
      c.send(command(2, id, "Process", request(id, [sideEffectTo(id)])));
      await c.expect(reply(2, response("X"), { sideEffects: sideEffects(false, id) }));
      c.send(command(3, id, "Process", request(id)));
      await c.expect(reply(3, response("X")));
      await c.passivate();
    }),

    modelTest("reply with multiple side effects and state", async ({ protocol }) => {
      const id = ids.next();
      const actions = [...updateStates("A", "B", "C", "D", "E"), ...sideEffectsTo("1", "2", "3")];
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, actions)));
      await c.expect(reply(1, response("E"), { sideEffects: sideEffects(false, "1", "2", "3"), stateAction: update(persisted("E")) }));
      await c.passivate();
    }),

    modelTest("synchronous side effect to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [sideEffectTo(id, true)])));
      await c.expect(reply(1, response(), { sideEffects: sideEffects(true, id) }));
      await c.passivate();
    }),

    modelTest("forward to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, updateStates("X"))));
      await c.expect(reply(1, response("X"), updated("X")));
      c.send(command(2, id, "Process", request(id, [forwardTo(id)])));
      await c.expect(forward(2, SERVICE_TWO, "Call", request(id)));
      c.send(command(3, id, "Process", request(id)));
      await c.expect(reply(3, response("X")));
      await c.passivate();
    }),

    modelTest("forward with updated state to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [updateState("A"), forwardTo(id)])));
      await c.expect(forward(1, SERVICE_TWO, "Call", request(id), updated("A")));
      await c.passivate();
    }),

    modelTest("forward and side effect to second service", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [sideEffectTo(id), forwardTo(id)])));
      await c.expect(forward(1, SERVICE_TWO, "Call", request(id), { sideEffects: sideEffects(false, id) }));
      await c.passivate();
    }),

    modelTest("failure action", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [failWith("expected failure")])));
      await c.expect(actionFailure(1, "expected failure"));
      await c.passivate();
    }),

    modelTest("connection after failure action", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [updateState("A")])));
      await c.expect(reply(1, response("A"), updated("A")));
      c.send(command(2, id, "Process", request(id, [failWith("expected failure")])));
      await c.expect(actionFailure(2, "expected failure"));
      c.send(command(3, id, "Process", request(id)));
      await c.expect(reply(3, response("A")));
      await c.passivate();
    }),

    modelTest("failure action do not allow side effects", async ({ protocol }) => {
      const id = ids.next();
      const c = protocol
        .valueEntity()
        .send(init(SERVICE, id))
        .send(command(1, id, "Process", request(id, [sideEffectTo(id), failWith("expected failure")])));
      await c.expect(actionFailure(1, "expected failure"));
      await c.passivate();
    }),

    proxyTest("state changes", async (context) => {
      const id = ids.next();
      await process(context, id, [], "");
      const connection = await context.interceptor.expectConnection("value-entity");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id)));
      await connection.expectOutgoing(reply(1, response()));

      const steps: [Action[], string, ValueEntityEffects][] = [
        [updateStates("one"), "one", updated("one")],
        [updateStates("two"), "two", updated("two")],
        [[], "two", {}],
        [[deleteAction()], "", deleted()],
        [[], "", {}],
        [updateStates("foo"), "foo", updated("foo")],
        [[deleteAction()], "", deleted()],
      ];
      let n = 1;
      for (const [actions, state, effects] of steps) {
        n += 1;
        await process(context, id, actions, state);
        await connection.expectIncoming(command(n, id, "Process", request(id, actions)));
        await connection.expectOutgoing(reply(n, response(state), effects));
      }
    }),

    proxyTest("forwards and side effects", async (context) => {
      const { interceptor } = context;
      const id = ids.next();
      await process(context, id, updateStates("one"), "one");
      const connection = await interceptor.expectConnection("value-entity");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id, updateStates("one"))));
      await connection.expectOutgoing(reply(1, response("one"), updated("one")));

      await process(context, id, [forwardTo(id)], "");
      await connection.expectIncoming(command(2, id, "Process", request(id, [forwardTo(id)])));
      await connection.expectOutgoing(forward(2, SERVICE_TWO, "Call", request(id)));
      const connection2 = await interceptor.expectConnection("value-entity");
      await connection2.expectIncoming(init(SERVICE_TWO, id));
      await connection2.expectIncoming(command(1, id, "Call", request(id)));
      await connection2.expectOutgoing(reply(1, response()));

      await process(context, id, [sideEffectTo(id)], "one");
      await connection.expectIncoming(command(3, id, "Process", request(id, [sideEffectTo(id)])));
      await connection.expectOutgoing(reply(3, response("one"), { sideEffects: sideEffects(false, id) }));
      await connection2.expectIncoming(command(2, id, "Call", request(id)));
      await connection2.expectOutgoing(reply(2, response()));

      await process(context, id, [], "one");
      await connection.expectIncoming(command(4, id, "Process", request(id)));
      await connection.expectOutgoing(reply(4, response("one")));
    }),

    proxyTest("failures", async (context) => {
      const id = ids.next();
      await process(context, id, updateStates("one"), "one");
      const connection = await context.interceptor.expectConnection("value-entity");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id, updateStates("one"))));
      await connection.expectOutgoing(reply(1, response("one"), updated("one")));

      const failed = await expectCallFailure(
        context.client.unary(model.ValueEntityTckModel.method.process, { id, actions: [failWith("expected failure")] }),
        "the call",
      );
      checkEqual(failed.details, "expected failure", "gRPC status description");
      await connection.expectIncoming(command(2, id, "Process", request(id, [failWith("expected failure")])));
      await connection.expectOutgoing(actionFailure(2, "expected failure"));

      await process(context, id, [], "one");
      await connection.expectIncoming(command(3, id, "Process", request(id)));
      await connection.expectOutgoing(reply(3, response("one")));
    }),

    proxyTest("HTTP API", async (context) => {
      const { interceptor, http } = context;
      const id = ids.next();
      checkEqual(await http.request(`tck/model/entity/${id}`, "{}"), `{"message":""}`, "HTTP response body");
      const connection = await interceptor.expectConnection("value-entity");
      await connection.expectIncoming(init(SERVICE, id));
      await connection.expectIncoming(command(1, id, "Process", request(id)));
      await connection.expectOutgoing(reply(1, response()));

      checkEqual(await http.request("cloudstate.tck.model.valueentity.ValueEntityTwo/Call", `{"id": "${id}"}`), `{"message":""}`, "HTTP response body");
      const two = await interceptor.expectConnection("value-entity");
      await two.expectIncoming(init(SERVICE_TWO, id));
      await two.expectIncoming(command(1, id, "Call", request(id)));
      await two.expectOutgoing(reply(1, response()));

      checkEqual(await http.request(`tck/model/entity/${id}`, `{"actions": [{"update": {"value": "one"}}]}`), `{"message":"one"}`, "HTTP response body");
      await connection.expectIncoming(command(2, id, "Process", request(id, updateStates("one"))));
      await connection.expectOutgoing(reply(2, response("one"), updated("one")));

      checkEqual(
        await http.requestToError(`tck/model/entity/${id}`, `{"actions": [{"fail": {"message": "expected failure"}}]}`),
        "expected failure",
        "HTTP error body",
      );
      await connection.expectIncoming(command(3, id, "Process", request(id, [failWith("expected failure")])));
      await connection.expectOutgoing(actionFailure(3, "expected failure"));

      checkEqual(await http.request(`tck/model/entity/${id}`, `{"actions": [{"update": {"value": "two"}}]}`), `{"message":"two"}`, "HTTP response body");
      await connection.expectIncoming(command(4, id, "Process", request(id, updateStates("two"))));
      await connection.expectOutgoing(reply(4, response("two"), updated("two")));

      checkEqual(await http.request(`tck/model/entity/${id}`, "{}"), `{"message":"two"}`, "HTTP response body");
      await connection.expectIncoming(command(5, id, "Process", request(id)));
      await connection.expectOutgoing(reply(5, response("two")));
    }),

    proxyTest("passivation timeout", async (context) => {
      const id = ids.next();
      context.client.unary(model.ValueEntityConfigured.method.call, { id }).catch(() => {});
      const connection = await context.interceptor.expectConnection("value-entity");
      await connection.expectIncoming(init(SERVICE_CONFIGURED, id));
      await connection.expectIncoming(command(1, id, "Call", request(id)));
      await connection.expectOutgoing(reply(1, response()));
      await connection.expectClosed(2000);
    }),
  ],
};
