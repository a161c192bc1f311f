import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { valueentity } from "@switchboard/protocol/tck";
import { anyKey, codecs, createJsonAny, isJsonAny, jsonTypeOf, parseJsonAny } from "./codecs.js";

describe("codecs", () => {
  it("write primitives as field 1 under p.cloudstate.io/, defaults as empty bytes", () => {
    const cases: [string, { encode(v: never): { typeUrl: string; value: Uint8Array }; decode(a: never): unknown }, unknown][] = [
      ["string", codecs.string, "héllo"],
      ["bytes", codecs.bytes, new Uint8Array([1, 2, 3])],
      ["bool", codecs.bool, true],
      ["int32", codecs.int32, -5],
      ["int64", codecs.int64, 1n << 40n],
      ["float", codecs.float, 1.5],
      ["double", codecs.double, Math.PI],
    ];
    for (const [name, codec, value] of cases) {
      const any = codec.encode(value as never);
      assert.equal(any.typeUrl, `p.cloudstate.io/${name}`);
      assert.deepEqual(codec.decode(any as never), value);
    }
    assert.deepEqual(codecs.string.encode("").value, new Uint8Array(), "a default value encodes as empty bytes");
    assert.deepEqual(codecs.string.encode("a").value, toBinary(StringValueSchema, create(StringValueSchema, { value: "a" })));
  });

  it("write messages under type.googleapis.com/, and refuse another type", () => {
    const codec = codecs.message(valueentity.PersistedSchema);
    const any = codec.encode(create(valueentity.PersistedSchema, { value: "x" }));
    assert.equal(any.typeUrl, "type.googleapis.com/cloudstate.tck.model.valueentity.Persisted");
    assert.equal(codec.decode(any).value, "x");
    assert.throws(
      () => codec.decode(codecs.string.encode("x")),
      /expected a type\.googleapis\.com\/cloudstate\.tck\.model\.valueentity\.Persisted value, got p\.cloudstate\.io\/string/,
    );
    assert.throws(() => codecs.int64.decode(create(AnySchema)), /got an Any without type URL/);
  });

  it("write JSON as UTF-8 in bytes field 1 under json.cloudstate.io/<type>", () => {
    const any = createJsonAny("com.example.Message", { message: "hi", n: 2 });
    assert.equal(any.typeUrl, "json.cloudstate.io/com.example.Message");
    // Field 1, length-delimited, then the JSON text.
    assert.equal(any.value[0], 0x0a);
    assert.equal(new TextDecoder().decode(any.value.subarray(2)), `{"message":"hi","n":2}`);
    assert.deepEqual(parseJsonAny(any), { message: "hi", n: 2 });
    assert.ok(isJsonAny(any));
    assert.equal(jsonTypeOf(any), "com.example.Message");
    assert.equal(jsonTypeOf(codecs.string.encode("x")), undefined);
    const typed = codecs.json<{ a: number }>("T");
    assert.deepEqual(typed.decode(typed.encode({ a: 1 })), { a: 1 });
    assert.throws(() => typed.decode(createJsonAny("U", {})), /expected a json\.cloudstate\.io\/T value, got json\.cloudstate\.io\/U/);
    assert.throws(() => parseJsonAny(codecs.string.encode("x")), /expected a json\.cloudstate\.io\/… value/);
    assert.throws(() => createJsonAny("T", undefined), /cannot be written as JSON/);
    assert.throws(() => codecs.json(""), /must not be empty/);
  });

  it("key equal encodings equally", () => {
    assert.equal(anyKey(codecs.string.encode("a")), anyKey(codecs.string.encode("a")));
    assert.notEqual(anyKey(codecs.string.encode("a")), anyKey(codecs.bytes.encode(new TextEncoder().encode("a"))));
  });
});
