import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AnySchema, DurationSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { packAny, unpackAny } from "./any.js";

describe("packAny / unpackAny", () => {
  it("round-trips with the type.googleapis.com type URL", () => {
    const any = packAny(DurationSchema, create(DurationSchema, { seconds: 5n }));
    assert.equal(any.typeUrl, "type.googleapis.com/google.protobuf.Duration");
    const back = unpackAny(DurationSchema, any);
    assert.ok("value" in back);
    assert.equal(back.value.seconds, 5n);
  });

  it("reads an absent Any, or an empty type URL, as the schema", () => {
    const absent = unpackAny(DurationSchema, undefined);
    assert.ok("value" in absent && absent.value.seconds === 0n);
    const untyped = unpackAny(DurationSchema, create(AnySchema, { value: packAny(DurationSchema, create(DurationSchema, { nanos: 7 })).value }));
    assert.ok("value" in untyped && untyped.value.nanos === 7);
  });

  it("accepts any host, but only the same type name", () => {
    const bytes = packAny(DurationSchema, create(DurationSchema, { seconds: 1n })).value;
    assert.ok("value" in unpackAny(DurationSchema, create(AnySchema, { typeUrl: "example.com/google.protobuf.Duration", value: bytes })));
    const wrong = unpackAny(TimestampSchema, create(AnySchema, { typeUrl: "type.googleapis.com/google.protobuf.Duration", value: bytes }));
    assert.deepEqual(wrong, {
      error: "expected a type.googleapis.com/google.protobuf.Timestamp payload, got type.googleapis.com/google.protobuf.Duration",
    });
    assert.ok("error" in unpackAny(DurationSchema, create(AnySchema, { typeUrl: "google.protobuf.Duration", value: bytes })));
    assert.ok("error" in unpackAny(DurationSchema, create(AnySchema, { typeUrl: "p.cloudstate.io/string", value: bytes })));
  });

  it("reports bytes that do not decode", () => {
    const bad = unpackAny(DurationSchema, create(AnySchema, { typeUrl: "type.googleapis.com/google.protobuf.Duration", value: new Uint8Array([0x08]) }));
    assert.ok("error" in bad);
    assert.match(bad.error, /^cannot decode the google\.protobuf\.Duration payload: /);
  });
});

describe("unpackAny into google.protobuf.Any", () => {
  it("gives the payload itself, whatever its type (methods taking Any, eventing subscribers)", () => {
    const json = create(AnySchema, { typeUrl: "json.cloudstate.io/T", value: new Uint8Array([10, 2, 123, 125]) });
    const unpacked = unpackAny(AnySchema, json);
    assert.ok("value" in unpacked);
    assert.equal(unpacked.value, json);
    // An Any packed in an Any is unpacked once.
    const wrapped = packAny(AnySchema, json);
    const inner = unpackAny(AnySchema, wrapped);
    assert.ok("value" in inner && inner.value.typeUrl === "json.cloudstate.io/T");
  });
});
