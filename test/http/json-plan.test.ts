/**
 * The direct JSON → binary encoding of plain `body: "*"` requests writes exactly what
 * protobuf-es's `fromJson` + `toBinary` write, and gives up (so the general path answers,
 * errors included) on everything it does not read the one way the JSON mapping does.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  create,
  createFileRegistry,
  type DescField,
  type DescMessage,
  fromJson,
  type JsonValue,
  mergeFromJson,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { TemplateVariable } from "../../packages/proxy/src/descriptors/http-rules.js";
import { encodePlainJsonRequest } from "../../packages/proxy/src/ingress/http/json-plan.js";
import type { VariableBinding } from "../../packages/proxy/src/ingress/http/route-table.js";

const T = FieldDescriptorProto_Type;
/** Every plain scalar kind, numbered out of order to check that fields are written by number. */
const PLAIN_FIELDS: [string, FieldDescriptorProto_Type, number][] = [
  ["f_string", T.STRING, 14],
  ["f_bool", T.BOOL, 13],
  ["f_double", T.DOUBLE, 1],
  ["f_int32", T.INT32, 3],
  ["f_sint32", T.SINT32, 7],
  ["f_sfixed32", T.SFIXED32, 11],
  ["f_uint32", T.UINT32, 5],
  ["f_fixed32", T.FIXED32, 9],
  ["f_int64", T.INT64, 4],
  ["f_sint64", T.SINT64, 8],
  ["f_sfixed64", T.SFIXED64, 12],
  ["f_uint64", T.UINT64, 6],
  ["f_fixed64", T.FIXED64, 10],
];

function field(name: string, type: FieldDescriptorProto_Type, number: number, extra: object = {}) {
  const jsonName = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return { name, number, type, jsonName, label: FieldDescriptorProto_Label.OPTIONAL, ...extra };
}

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "plan_test.proto",
    package: "plan.test",
    syntax: "proto3",
    messageType: [
      { name: "Plain", field: PLAIN_FIELDS.map(([n, t, no]) => field(n, t, no)) },
      { name: "WithFloat", field: [field("id", T.STRING, 1), field("ratio", T.FLOAT, 2)] },
      { name: "WithBytes", field: [field("id", T.STRING, 1), field("data", T.BYTES, 2)] },
      { name: "WithRepeated", field: [field("id", T.STRING, 1), field("tags", T.STRING, 2, { label: FieldDescriptorProto_Label.REPEATED })] },
      {
        name: "WithOptional",
        field: [field("id", T.STRING, 1), field("note", T.STRING, 2, { proto3Optional: true, oneofIndex: 0 })],
        oneofDecl: [{ name: "_note" }],
      },
      { name: "WithOneof", field: [field("id", T.STRING, 1), field("a", T.STRING, 2, { oneofIndex: 0 })], oneofDecl: [{ name: "choice" }] },
      { name: "WithNested", field: [field("id", T.STRING, 1), field("inner", T.MESSAGE, 2, { typeName: ".plan.test.Plain" })] },
    ],
  }),
  () => undefined,
);

function message(name: string): DescMessage {
  const desc = registry.getMessage(`plan.test.${name}`);
  assert.ok(desc, name);
  return desc;
}

const plain = message("Plain");
const fieldNamed = (desc: DescMessage, name: string) => desc.fields.find((f) => f.name === name) as DescField;

function binding(desc: DescMessage, path: string, value: string): VariableBinding {
  const fields = path.split(".").map((name) => fieldNamed(desc, name));
  const variable: TemplateVariable = { fieldPath: path, fields, start: 1, end: 2, multiSegment: false } as unknown as TemplateVariable;
  return { variable, value };
}

/** What the general path writes: fromJson of the body, each path variable merged over it, toBinary. */
function reference(desc: DescMessage, json: JsonValue, bindings: readonly VariableBinding[]): Uint8Array {
  const msg = fromJson(desc, json, { registry });
  for (const { variable, value } of bindings) mergeFromJson(desc, msg, { [(variable.fields[0] as DescField).jsonName]: value });
  return toBinary(desc, msg);
}

/** A deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function valueFor(scalar: ScalarType, r: () => number): JsonValue {
  const edge = r() < 0.3;
  const pick = <V>(values: V[]) => values[Math.floor(r() * values.length)] as V;
  switch (scalar) {
    case ScalarType.STRING:
      return edge
        ? pick(["", "é", "日本語", "a\u0000b", "\ud83d\ude00", "\ud83d\ude00\u00e9"])
        : r()
            .toString(36)
            .slice(2, 2 + Math.floor(r() * 12));
    case ScalarType.BOOL:
      return r() < 0.5;
    case ScalarType.DOUBLE:
      return edge ? pick([0, 1e308, -1e-308, 5e-324, 0.1, -2.5]) : (r() - 0.5) * 10 ** Math.floor(r() * 20);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return edge ? pick([0, 1, -1, 2147483647, -2147483648]) : Math.floor((r() - 0.5) * 2 ** 32);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return edge ? pick([0, 1, 4294967295, 2147483648]) : Math.floor(r() * 2 ** 32);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return edge ? pick([0, 1, Number.MAX_SAFE_INTEGER]) : Math.floor(r() * Number.MAX_SAFE_INTEGER);
    default:
      return edge ? pick([0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) : Math.floor((r() - 0.5) * 2 * Number.MAX_SAFE_INTEGER);
  }
}

describe("plain JSON requests straight to binary", () => {
  it("writes what fromJson + toBinary write, for 500 random bodies of every plain kind, by proto or JSON name, with path variables", () => {
    const r = random(20261205);
    for (let i = 0; i < 500; i++) {
      const json: Record<string, JsonValue> = {};
      for (const f of plain.fields) {
        if (r() < 0.3) continue;
        json[r() < 0.5 ? f.name : f.jsonName] = valueFor(f.scalar as ScalarType, r);
      }
      const bindings = r() < 0.5 ? [binding(plain, "f_string", r() < 0.2 ? "" : `key-${i}`)] : [];
      const got = encodePlainJsonRequest(plain, json, bindings);
      assert.ok(got !== undefined, `body ${JSON.stringify(json)} was given up`);
      assert.deepEqual(Buffer.from(got), Buffer.from(reference(plain, json, bindings)), JSON.stringify(json));
    }
  });

  it("writes nothing for an empty body and zero values, and a path variable over the body's value", () => {
    assert.equal(encodePlainJsonRequest(plain, {}, [])?.length, 0);
    const zeros = { fString: "", fBool: false, fDouble: 0, fInt64: 0, fUint32: 0 };
    assert.equal(encodePlainJsonRequest(plain, zeros, [])?.length, 0);
    const bindings = [binding(plain, "f_string", "from-path")];
    const got = encodePlainJsonRequest(plain, { fString: "from-body", fInt32: -5 }, bindings);
    assert.deepEqual(Buffer.from(got ?? []), Buffer.from(reference(plain, { fString: "from-body", fInt32: -5 }, bindings)));
    assert.ok(Buffer.from(got ?? []).includes(Buffer.from("from-path")));
  });

  const givenUp: [string, DescMessage, JsonValue, VariableBinding[]][] = [
    ["an unknown key", plain, { nope: 1 }, []],
    ["a field by both its names", plain, { f_int32: 1, fInt32: 2 }, []],
    ["null", plain, { fString: null }, []],
    ["an int64 as a string", plain, { fInt64: "12" }, []],
    ["an int32 as a string", plain, { fInt32: "12" }, []],
    ["an int32 out of range", plain, { fInt32: 2147483648 }, []],
    ["a negative uint32", plain, { fUint32: -1 }, []],
    ["a uint64 past 2^53", plain, { fUint64: 2 ** 53 }, []],
    ["a fraction for an integer", plain, { fSint32: 1.5 }, []],
    ["-0", plain, { fDouble: -0 }, []],
    ["a number for a string", plain, { fString: 5 }, []],
    ["a string with a lone surrogate", plain, { fString: "a\ud800b" }, []],
    ["a path variable with a lone surrogate", plain, {}, [binding(plain, "f_string", "\udc00")]],
    ["a string for a bool", plain, { fBool: "true" }, []],
    ["a double as a string", plain, { fDouble: "1.5" }, []],
    ["an array body", plain, [1, 2] as JsonValue, []],
    ["a string body", plain, "x", []],
    ["a null body", plain, null, []],
    ["a path variable on a number field", plain, {}, [binding(plain, "f_int32", "7")]],
    ["a float field", message("WithFloat"), { id: "a" }, []],
    ["a bytes field", message("WithBytes"), { id: "a" }, []],
    ["a repeated field", message("WithRepeated"), { id: "a" }, []],
    ["an optional field", message("WithOptional"), { id: "a" }, []],
    ["a oneof", message("WithOneof"), { id: "a" }, []],
    ["a message field", message("WithNested"), { id: "a" }, []],
    [
      "a nested path variable",
      message("WithNested"),
      {},
      [
        {
          variable: {
            fieldPath: "inner.f_string",
            fields: [fieldNamed(message("WithNested"), "inner"), fieldNamed(plain, "f_string")],
          } as unknown as TemplateVariable,
          value: "x",
        },
      ],
    ],
  ];
  for (const [what, desc, json, bindings] of givenUp) {
    it(`gives up on ${what}`, () => {
      assert.equal(encodePlainJsonRequest(desc, json, bindings), undefined);
    });
  }
});
