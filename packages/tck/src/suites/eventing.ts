/**
 * Event-log eventing (upstream `EventingTCK`): 3 proxy tests. An event sourced entity emits
 * an event; the proxy delivers it to the subscriber action with the `ce-*` metadata, and the
 * model subscriber answers with the entity id it read from `ce-subject`.
 */
import { create, equals, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { ActionResponse } from "@switchboard/protocol";
import { eventlogeventing as model } from "@switchboard/protocol/tck";
import { check, checkEqual } from "../assertion-error.js";
import { describeMessage } from "../describe.js";
import { proxyTest, type TckContext, type TckSuite } from "../suite.js";

type Step = MessageInitShape<typeof model.ProcessStepSchema>["step"];

/** Fires `EventSourcedEntityOne.EmitEvent` without waiting, as upstream. */
function emitEventOne(context: TckContext, id: string, step: NonNullable<Step>): void {
  context.client.unary(model.EventSourcedEntityOne.method.emitEvent, { id, event: { case: "eventOne", value: { step: { step } } } }).catch(() => {});
}

/** Expects the entity's stream: `init(EventSourcedEntityOne, id)`, a command, a reply. */
async function verifyEventSourcedInitCommandReply(context: TckContext, id: string, service: string): Promise<void> {
  const connection = await context.interceptor.expectConnection("event-sourced");
  const init = await connection.expectIncomingMessage();
  check(init.message.case === "init", () => `expected init, got ${init.message.case ?? "an empty message"}`);
  checkEqual(init.message.value.serviceName, service, "init service name");
  checkEqual(init.message.value.entityId, id, "init entity id");
  const command = await connection.expectIncomingMessage();
  check(command.message.case === "command", () => `expected a command, got ${command.message.case ?? "an empty message"}`);
  const reply = await connection.expectOutgoingMessage();
  check(reply.message.case === "reply", () => `expected a reply, got ${reply.message.case ?? "an empty message"}`);
}

/** Expects the subscriber's `handleUnary` call carrying `step` in an `EventOne`, and returns its response. */
async function verifySubscriberCommandResponse(context: TckContext, step: NonNullable<Step>): Promise<ActionResponse> {
  const subscriber = await context.interceptor.expectConnection("action-unary");
  const eventOne = fromBinary(model.EventOneSchema, subscriber.command.payload?.value ?? new Uint8Array());
  const expected = create(model.ProcessStepSchema, { step });
  check(
    eventOne.step !== undefined && equals(model.ProcessStepSchema, eventOne.step, expected),
    () =>
      `expected the subscriber's event to carry ${describeMessage(model.ProcessStepSchema, expected)}, got ${describeMessage(model.EventOneSchema, eventOne)}`,
  );
  return subscriber.expectResponse();
}

/** Decodes the subscriber's reply as a model `Response` and checks it. */
function checkSubscriberReply(response: ActionResponse, id: string, message: string): void {
  check(response.response.case === "reply", () => `expected the subscriber to reply, got ${response.response.case ?? "no response"}`);
  const parsed = fromBinary(model.ResponseSchema, response.response.value.payload?.value ?? new Uint8Array());
  checkEqual(parsed.id, id, "subscriber response id (from ce-subject)");
  checkEqual(parsed.message, message, "subscriber response message");
}

/** The Eventing area: 3 proxy tests of event-log subscriptions. */
export const eventingSuite: TckSuite = {
  area: "Eventing",
  tests: [
    proxyTest("consume an event", async (context) => {
      const id = "eventlogeventing:1";
      const step = { case: "reply", value: { message: "some message" } } as const;
      emitEventOne(context, id, step);
      await verifyEventSourcedInitCommandReply(context, id, model.EventSourcedEntityOne.typeName);
      checkSubscriberReply(await verifySubscriberCommandResponse(context, step), id, "some message");
    }),

    proxyTest("forward a consumed event", async (context) => {
      const id = "eventlogeventing:2";
      const step = { case: "forward", value: { message: "some message" } } as const;
      emitEventOne(context, id, step);
      await verifyEventSourcedInitCommandReply(context, id, model.EventSourcedEntityOne.typeName);
      const response = await verifySubscriberCommandResponse(context, step);
      check(response.response.case === "forward", () => `expected the subscriber to forward, got ${response.response.case ?? "no response"}`);
      const effect = await context.interceptor.expectConnection("action-unary");
      checkEqual(effect.command.name, "Effect", "forwarded command name");
    }),

    proxyTest("process json events", async (context) => {
      const id = "eventlogeventing:3";
      context.client.unary(model.EventSourcedEntityTwo.method.emitJsonEvent, { id, message: "some json message" }).catch(() => {});
      const connection = await context.interceptor.expectConnection("event-sourced");
      const init = await connection.expectIncomingMessage();
      check(init.message.case === "init", () => `expected init, got ${init.message.case ?? "an empty message"}`);
      checkEqual(init.message.value.serviceName, model.EventSourcedEntityTwo.typeName, "init service name");
      checkEqual(init.message.value.entityId, id, "init entity id");
      const command = await connection.expectIncomingMessage();
      check(command.message.case === "command", () => `expected a command, got ${command.message.case ?? "an empty message"}`);
      const reply = await connection.expectOutgoingMessage();
      check(reply.message.case === "reply", () => `expected a reply, got ${reply.message.case ?? "an empty message"}`);
      checkEqual(reply.message.value.events.length, 1, "number of events in the reply");
      const typeUrl = reply.message.value.events[0]?.typeUrl ?? "";
      check(typeUrl.startsWith("json.cloudstate.io/"), () => `expected a JSON event type url, got ${typeUrl}`);

      const subscriber = await context.interceptor.expectConnection("action-unary");
      checkSubscriberReply(await subscriber.expectResponse(), id, "some json message");
    }),
  ],
};
