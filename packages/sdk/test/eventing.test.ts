/**
 * Eventing on a real SDK server: an action subscribed to a journal (`in.event_log`) receives the
 * proxy's CloudEvent metadata, JSON events in its `google.protobuf.Any` method, and forwards with
 * the metadata; an event-sourced entity emits JSON events.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { ActionResponse, MetadataEntry } from "@switchboard/protocol";
import { eventlogeventing as model } from "@switchboard/protocol/tck";
import { createJsonAny, parseJsonAny } from "../src/index.js";
import {
  eventLogSubscriberModel,
  eventSourcedEntityOne,
  eventSourcedEntityTwo,
  JSON_MESSAGE_TYPE,
} from "../../../test/conformance/supports/typescript-sdk/eventing.js";
import type { Harness } from "./support/harness.js";
import { startHarness } from "./support/harness.js";
import { payload } from "./support/protocol-client.js";

const SUBSCRIBER = "cloudstate.tck.model.eventlogeventing.EventLogSubscriberModel";

/** The metadata the proxy sends with a journal event (docs/protocol.md#eventing). */
function cloudEventMetadata(event: Any, subject: string): { entries: MetadataEntry[] } {
  const entries: [string, string][] = [
    ["ce-id", "7"],
    ["ce-source", "eventlogeventing-one"],
    ["ce-specversion", "1.0"],
    ["ce-type", event.typeUrl],
    ["Content-Type", "application/vnd.cloudstate.protobuf.any"],
    ["ce-subject", subject],
  ];
  return { entries: entries.map(([key, value]) => ({ key, value: { case: "stringValue", value } }) as MetadataEntry) };
}

function response(r: ActionResponse): { id: string; message: string } | undefined {
  if (r.response.case !== "reply") return undefined;
  const { id, message } = fromBinary(model.ResponseSchema, r.response.value.payload?.value ?? new Uint8Array());
  return { id, message };
}

describe("Eventing on a real SDK server", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([eventLogSubscriberModel, eventSourcedEntityOne, eventSourcedEntityTwo]);
  });
  after(() => h.close());

  it("gives the subscriber the CloudEvent attributes: the subject is the emitting entity's id", async () => {
    const event = payload(model.EventOneSchema, { step: { step: { case: "reply", value: { message: "some message" } } } });
    const r = await h.client.handleUnary({
      serviceName: SUBSCRIBER,
      name: "ProcessEventOne",
      payload: event,
      metadata: cloudEventMetadata(event, "eventlogeventing:1"),
    });
    assert.deepEqual(response(r), { id: "eventlogeventing:1", message: "some message" });
  });

  it("forwards with the event's metadata, so the target reads the subject too", async () => {
    const event = payload(model.EventOneSchema, { step: { step: { case: "forward", value: { message: "fwd" } } } });
    const r = await h.client.handleUnary({
      serviceName: SUBSCRIBER,
      name: "ProcessEventOne",
      payload: event,
      metadata: cloudEventMetadata(event, "eventlogeventing:2"),
    });
    assert.equal(r.response.case, "forward");
    const forward = r.response.case === "forward" ? r.response.value : undefined;
    assert.equal(forward?.commandName, "Effect");
    assert.deepEqual(
      forward?.metadata?.entries.map((e) => e.key),
      ["ce-id", "ce-source", "ce-specversion", "ce-type", "Content-Type", "ce-subject"],
    );
    const effect = await h.client.handleUnary({ serviceName: SUBSCRIBER, name: "Effect", payload: forward?.payload, metadata: forward?.metadata });
    assert.deepEqual(response(effect), { id: "eventlogeventing:2", message: "fwd" });
  });

  it("delivers JSON events as they are to the method taking google.protobuf.Any", async () => {
    const event = createJsonAny(JSON_MESSAGE_TYPE, { message: "some json message" });
    const r = await h.client.handleUnary({
      serviceName: SUBSCRIBER,
      name: "ProcessAnyEvent",
      payload: event,
      metadata: cloudEventMetadata(event, "eventlogeventing:3"),
    });
    assert.deepEqual(response(r), { id: "eventlogeventing:3", message: "some json message" });
  });

  it("lets an event-sourced entity emit JSON events: json.cloudstate.io/ type URL, JSON in bytes field 1", async () => {
    const s = h.client.eventSourced();
    s.send({
      message: { case: "init", value: { serviceName: "cloudstate.tck.model.eventlogeventing.EventSourcedEntityTwo", entityId: "eventlogeventing:4" } },
    });
    s.send({
      message: {
        case: "command",
        value: {
          entityId: "eventlogeventing:4",
          id: 1n,
          name: "EmitJsonEvent",
          payload: payload(model.JsonEventSchema, { id: "eventlogeventing:4", message: "hi" }),
        },
      },
    });
    const out = await s.next();
    const events = out.message.case === "reply" ? out.message.value.events : [];
    assert.equal(events.length, 1);
    assert.equal(events[0]?.typeUrl, `json.cloudstate.io/${JSON_MESSAGE_TYPE}`);
    assert.deepEqual(events[0] === undefined ? undefined : parseJsonAny(events[0]), { message: "hi" });
    s.end();
    await s.ended;
  });
});
