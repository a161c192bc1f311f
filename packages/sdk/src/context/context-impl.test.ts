import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { MetadataSchema } from "@switchboard/protocol";
import { action as actionModel } from "@switchboard/protocol/tck";
import { CommandFailure, isCommandFailure } from "../errors.js";
import { ActionContextImpl, asForwardCall, cloudEventOf, createMetadata, metadataFromProtocol, metadataItemsFromInit } from "./context-impl.js";

describe("Metadata", () => {
  const metadata = metadataFromProtocol(
    create(MetadataSchema, {
      entries: [
        { key: "X-Trace", value: { case: "stringValue", value: "a" } },
        { key: "x-trace", value: { case: "stringValue", value: "b" } },
        { key: "token-bin", value: { case: "bytesValue", value: new Uint8Array([1, 2]) } },
        { key: "empty" },
      ],
    }),
  );

  it("reads string values case-insensitively, in order", () => {
    assert.equal(metadata.get("x-TRACE"), "a");
    assert.deepEqual(metadata.getAll("X-Trace"), ["a", "b"]);
    assert.equal(metadata.get("missing"), undefined);
    assert.deepEqual(metadata.getAll("token-bin"), []);
  });

  it("reads bytes values separately, and skips entries without a value", () => {
    assert.deepEqual(metadata.getBytes("Token-Bin"), new Uint8Array([1, 2]));
    assert.equal(metadata.getBytes("x-trace"), undefined);
    assert.equal(metadata.has("TOKEN-BIN"), true);
    assert.equal(metadata.has("empty"), false);
    assert.equal(metadata.entries().length, 3);
  });

  it("is empty without a Metadata message", () => {
    assert.deepEqual(metadataFromProtocol(undefined).entries(), []);
  });
});

describe("ActionContextImpl", () => {
  const ctx = new ActionContextImpl(createMetadata(), new AbortController().signal);

  it("makes forward replies the runtime recognises, with the request packed", () => {
    const reply = ctx.forward(actionModel.ActionTwo.method.call, { id: "x" }, { metadata: { "x-a": "1" } });
    assert.equal(reply.kind, "forward");
    const call = asForwardCall(reply);
    assert.ok(call);
    assert.equal(call.payload.typeUrl, "type.googleapis.com/cloudstate.tck.model.action.OtherRequest");
    assert.deepEqual(call.metadata, [{ key: "x-a", value: "1" }]);
    assert.equal(asForwardCall({ kind: "forward" }), undefined, "a look-alike object is not a forward");
  });

  it("collects side effects until taken", () => {
    ctx.sideEffect(actionModel.ActionTwo.method.call, { id: "1" });
    ctx.sideEffect(actionModel.ActionTwo.method.call, { id: "2" }, { synchronous: true });
    assert.deepEqual(
      ctx.takeSideEffects().map((e) => e.synchronous),
      [false, true],
    );
    assert.deepEqual(ctx.takeSideEffects(), []);
  });

  it("fails by throwing a CommandFailure", () => {
    assert.throws(
      () => ctx.fail("nope"),
      (e: unknown) => isCommandFailure(e) && e instanceof CommandFailure && e.message === "nope",
    );
  });
});

describe("CloudEvent attributes", () => {
  it("reads the ce-* metadata of an event, and is undefined without any", () => {
    const ctx = new ActionContextImpl(
      createMetadata([
        { key: "ce-id", value: "12" },
        { key: "ce-source", value: "shopping-cart" },
        { key: "ce-specversion", value: "1.0" },
        { key: "ce-type", value: "type.googleapis.com/com.example.ItemAdded" },
        { key: "Content-Type", value: "application/vnd.cloudstate.protobuf.any" },
        { key: "ce-subject", value: "cart-7" },
      ]),
      new AbortController().signal,
    );
    assert.deepEqual(ctx.cloudEvent, {
      id: "12",
      source: "shopping-cart",
      specVersion: "1.0",
      type: "type.googleapis.com/com.example.ItemAdded",
      subject: "cart-7",
      time: undefined,
      dataSchema: undefined,
      dataContentType: "application/vnd.cloudstate.protobuf.any",
    });
    assert.equal(cloudEventOf(createMetadata([{ key: "x-user", value: "u" }])), undefined);
  });

  it("passes a Metadata view on to forwards and side effects", () => {
    const metadata = createMetadata([
      { key: "ce-subject", value: "s" },
      { key: "token-bin", value: new Uint8Array([1]) },
    ]);
    assert.deepEqual(metadataItemsFromInit(metadata), metadata.entries());
    assert.deepEqual(metadataItemsFromInit({ a: "1" }), [{ key: "a", value: "1" }]);
  });
});
