import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clone, create, createFileRegistry, type DescMessage, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import {
  AnySchema,
  DurationSchema,
  EmptySchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FieldMaskSchema,
  FileDescriptorProtoSchema,
  StringValueSchema,
  StructSchema,
  TimestampSchema,
} from "@bufbuild/protobuf/wkt";
import { domain, shoppingcart } from "@switchboard/protocol/example";
import { cloneMessage, createMessage, decodeMessage, encodeMessage, fallbacks, hasPlan } from "./binary.js";

// A proto3 file with every kind of field the codec plans for, and types it must leave to protobuf-es.
const file = create(FileDescriptorProtoSchema, {
  name: "binary_test.proto",
  package: "binary.test",
  syntax: "proto3",
  enumType: [
    {
      name: "Color",
      value: [
        { name: "ZERO", number: 0 },
        { name: "RED", number: 1 },
        { name: "BLUE", number: 7 },
      ],
    },
  ],
  messageType: [
    {
      name: "Inner",
      field: [
        { name: "name", number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: "name" },
        { name: "n", number: 2, type: Type.INT64, label: Label.OPTIONAL, jsonName: "n" },
      ],
    },
    {
      name: "Kinds",
      // Name, number, type, and for enums and messages the type's name; repeated fields start with "r".
      field: (
        [
          ["s", 1, Type.STRING],
          ["b", 2, Type.BYTES],
          ["f", 3, Type.BOOL],
          ["i32", 4, Type.INT32],
          ["u32", 5, Type.UINT32],
          ["i64", 6, Type.INT64],
          ["u64", 7, Type.UINT64],
          ["d", 8, Type.DOUBLE],
          ["fl", 9, Type.FLOAT],
          ["e", 10, Type.ENUM, ".binary.test.Color"],
          ["inner", 11, Type.MESSAGE, ".binary.test.Inner"],
          ["self", 20, Type.MESSAGE, ".binary.test.Kinds"],
          ["far", 300, Type.INT32],
          ["rs", 12, Type.STRING],
          ["rb", 13, Type.BYTES],
          ["ri32", 14, Type.INT32],
          ["ri64", 15, Type.INT64],
          ["rd", 16, Type.DOUBLE],
          ["rbool", 17, Type.BOOL],
          ["rinner", 18, Type.MESSAGE, ".binary.test.Inner"],
          ["re", 19, Type.ENUM, ".binary.test.Color"],
          ["rf", 21, Type.FLOAT],
          ["ru32", 22, Type.UINT32],
          ["ru64", 23, Type.UINT64],
        ] as [string, number, Type, string?][]
      ).map(([name, number, type, typeName]) => ({
        name,
        number,
        type,
        typeName,
        jsonName: name,
        label: name.startsWith("r") ? Label.REPEATED : Label.OPTIONAL,
      })),
    },
    {
      name: "WithMap",
      field: [{ name: "entries", number: 1, type: Type.MESSAGE, typeName: ".binary.test.WithMap.EntriesEntry", label: Label.REPEATED, jsonName: "entries" }],
      nestedType: [
        {
          name: "EntriesEntry",
          options: { mapEntry: true },
          field: [
            { name: "key", number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: "key" },
            { name: "value", number: 2, type: Type.INT32, label: Label.OPTIONAL, jsonName: "value" },
          ],
        },
      ],
    },
    {
      name: "WithOneof",
      oneofDecl: [{ name: "choice" }],
      field: [
        { name: "a", number: 1, type: Type.STRING, label: Label.OPTIONAL, oneofIndex: 0, jsonName: "a" },
        { name: "b", number: 2, type: Type.INT32, label: Label.OPTIONAL, oneofIndex: 0, jsonName: "b" },
      ],
    },
    {
      name: "WithOptional",
      oneofDecl: [{ name: "_x" }],
      field: [{ name: "x", number: 1, type: Type.INT32, label: Label.OPTIONAL, oneofIndex: 0, proto3Optional: true, jsonName: "x" }],
    },
    {
      // Holds a type protobuf-es must handle: so must it.
      name: "Outer",
      field: [
        { name: "name", number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: "name" },
        { name: "map", number: 2, type: Type.MESSAGE, typeName: ".binary.test.WithMap", label: Label.OPTIONAL, jsonName: "map" },
      ],
    },
  ],
});
const registry = createFileRegistry(file, () => undefined);
const schema = (name: string) => registry.getMessage(`binary.test.${name}`) as DescMessage;
const Kinds = schema("Kinds");
const Inner = schema("Inner");

/** A small seeded generator, so that a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(values: readonly T[]): T => values[int(values.length)] as T;
  return { next, int, pick };
}
type Random = ReturnType<typeof random>;

const TEXTS = ["", "a", "c-123", "x".repeat(24), "y".repeat(25), "héllo", "日本語のテキスト", "emoji 🎉", "z".repeat(300), "\u0000\u007f"];
const INT32S = [0, 1, -1, 127, 128, 300, 2 ** 31 - 1, -(2 ** 31), 16384, -300];
const UINT32S = [0, 1, 127, 128, 2 ** 32 - 1, 2 ** 31, 70000];
const INT64S = [0n, 1n, -1n, 127n, 128n, 2n ** 53n, -(2n ** 53n), 2n ** 53n - 1n, 2n ** 63n - 1n, -(2n ** 63n), 12345678901234n];
const UINT64S = [0n, 1n, 128n, 2n ** 64n - 1n, 2n ** 53n, 2n ** 63n];
const DOUBLES = [0, -0, 1.5, -2.25, Number.NaN, Number.POSITIVE_INFINITY, Number.MIN_VALUE, 1e300, 123456789.125];
const FLOATS = [0, 1.5, -2.25, Number.NaN, Number.NEGATIVE_INFINITY, 3.4028234663852886e38, 1e-40];

function bytesOf(r: Random): Uint8Array {
  return Uint8Array.from({ length: r.pick([0, 1, 5, 200]) }, () => r.int(256));
}

function innerOf(r: Random): Message {
  return create(Inner, { name: r.pick(TEXTS), n: r.pick(INT64S) } as never);
}

function kindsOf(r: Random, depth = 0): Message {
  const some = <T>(make: () => T): T[] => Array.from({ length: r.pick([0, 0, 1, 3]) }, make);
  return create(Kinds, {
    s: r.pick(TEXTS),
    b: bytesOf(r),
    f: r.next() < 0.5,
    i32: r.pick(INT32S),
    u32: r.pick(UINT32S),
    i64: r.pick(INT64S),
    u64: r.pick(UINT64S),
    d: r.pick(DOUBLES),
    fl: r.pick(FLOATS),
    e: r.pick([0, 1, 7, 42]),
    far: r.pick(INT32S),
    ...(r.next() < 0.5 ? { inner: innerOf(r) } : {}),
    ...(depth < 2 && r.next() < 0.3 ? { self: kindsOf(r, depth + 1) } : {}),
    rs: some(() => r.pick(TEXTS)),
    rb: some(() => bytesOf(r)),
    ri32: some(() => r.pick(INT32S)),
    ri64: some(() => r.pick(INT64S)),
    rd: some(() => r.pick(DOUBLES)),
    rbool: some(() => r.next() < 0.5),
    rinner: some(() => innerOf(r)),
    re: some(() => r.pick([0, 1, 7])),
    rf: some(() => r.pick(FLOATS)),
    ru32: some(() => r.pick(UINT32S)),
    ru64: some(() => r.pick(UINT64S)),
  } as never);
}

type Outcome = { value: unknown } | { error: string };
function outcome(run: () => unknown): Outcome {
  try {
    return { value: run() };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** Decoding `bytes` gives what fromBinary gives, errors included. */
function assertDecodesLikeProtobufEs(desc: DescMessage, bytes: Uint8Array, note: string): void {
  assert.deepStrictEqual(
    outcome(() => decodeMessage(desc, bytes)),
    outcome(() => fromBinary(desc, bytes)),
    note,
  );
}

/** Copying `message` gives what clone gives, or its error. */
function assertClonesLikeProtobufEs(desc: DescMessage, message: Message, note: string): void {
  assert.deepStrictEqual(
    outcome(() => cloneMessage(desc, message as never)),
    outcome(() => clone(desc, message as never)),
    note,
  );
}

/** Encoding `message` gives toBinary's bytes, or its error. */
function assertEncodesLikeProtobufEs(desc: DescMessage, message: Message, note: string): void {
  assert.deepStrictEqual(
    outcome(() => encodeMessage(desc, message as never)),
    outcome(() => toBinary(desc, message as never)),
    note,
  );
}

describe("user message codec", () => {
  it("plans for proto3 messages of plain fields, and leaves maps, oneofs, optional scalars, wrappers and Struct to protobuf-es", () => {
    assert.equal(hasPlan(Kinds), true);
    assert.equal(hasPlan(Inner), true);
    for (const s of [
      shoppingcart.AddLineItemSchema,
      shoppingcart.CartSchema,
      domain.ItemAddedSchema,
      domain.CartSchema,
      TimestampSchema,
      EmptySchema,
      FieldMaskSchema,
      AnySchema,
    ]) {
      assert.equal(hasPlan(s), true, s.typeName);
    }
    for (const name of ["WithMap", "WithOneof", "WithOptional", "Outer"]) assert.equal(hasPlan(schema(name)), false, name);
    assert.equal(hasPlan(StringValueSchema), false);
    assert.equal(hasPlan(StructSchema), false);
  });

  it("writes toBinary's bytes and reads fromBinary's message for random messages of every field kind", () => {
    const r = random(20261204);
    const before = { ...fallbacks };
    for (let i = 0; i < 400; i++) {
      const message = kindsOf(r);
      const bytes = toBinary(Kinds, message);
      assert.deepStrictEqual(encodeMessage(Kinds, message), bytes, `message ${i}`);
      assert.deepStrictEqual(decodeMessage(Kinds, bytes), fromBinary(Kinds, bytes), `message ${i}`);
      // From a Buffer too: bytes fields are views of the input, as protobuf-es returns them.
      const buffer = Buffer.concat([Buffer.from([9, 9]), bytes]).subarray(2);
      assert.deepStrictEqual(decodeMessage(Kinds, buffer), fromBinary(Kinds, buffer), `message ${i} from a Buffer`);
    }
    // All of them were the plan's work, none protobuf-es's.
    assert.deepStrictEqual(fallbacks, before);
  });

  it("agrees with protobuf-es on the examples' messages and well-known types", () => {
    const cases: [DescMessage, Message][] = [
      [shoppingcart.AddLineItemSchema, create(shoppingcart.AddLineItemSchema, { userId: "u-1", productId: "p-9", name: "Gizmo", quantity: 3 })],
      [
        domain.CartSchema,
        create(domain.CartSchema, {
          items: [
            { productId: "a", name: "A", quantity: 1 },
            { productId: "b", name: "Bé", quantity: -2 },
          ],
        }),
      ],
      [TimestampSchema, create(TimestampSchema, { seconds: 1_733_300_000n, nanos: 500 })],
      [DurationSchema, create(DurationSchema, { seconds: -5n, nanos: -1 })],
      [FieldMaskSchema, create(FieldMaskSchema, { paths: ["a.b", "c"] })],
      [AnySchema, create(AnySchema, { typeUrl: "type.googleapis.com/x.Y", value: new Uint8Array([1, 2, 3]) })],
      [EmptySchema, create(EmptySchema)],
      [schema("WithMap"), create(schema("WithMap"), { entries: { a: 1, b: 2 } } as never)],
      [schema("Outer"), create(schema("Outer"), { name: "o", map: { entries: { k: 5 } } } as never)],
      [StringValueSchema, create(StringValueSchema, { value: "wrapped" })],
    ];
    for (const [desc, message] of cases) {
      const bytes = toBinary(desc, message);
      assert.deepStrictEqual(encodeMessage(desc, message as never), bytes, desc.typeName);
      assert.deepStrictEqual(decodeMessage(desc, bytes), fromBinary(desc, bytes), desc.typeName);
    }
  });

  it("reads what it does not plan for as protobuf-es does: unknown fields, merged message fields, unpacked lists, bad UTF-8", () => {
    const base = toBinary(Kinds, create(Kinds, { s: "x", inner: { name: "a" }, ri32: [1, 2] } as never));
    // Each case, and whether the plan reads it (valid input it expects) or protobuf-es does.
    const cases: [string, number[], boolean][] = [
      ["an unknown varint field", [...base, 0xa8, 0x06, 0x01], false], // field 101
      ["an unknown field at the start", [0xa8, 0x06, 0x01, ...base], false],
      ["a message field twice (merged)", [...base, 0x5a, 0x04, 0x10, 0x05, 0x0a, 0x00], false],
      ["a packed list sent unpacked", [...base, 0x70, 0x03, 0x70, 0x04], true],
      ["a packed list in two parts", [...base, 0x72, 0x01, 0x09], true],
      ["a string field with a varint wire type", [0x08, 0x01], false],
      ["a varint field with a length wire type", [0x22, 0x01, 0x01], false],
      ["invalid UTF-8", [0x0a, 0x02, 0xc3, 0x28], false],
      ["valid non-ASCII UTF-8", [0x0a, 0x02, 0xc3, 0xa9], true],
      ["an over-long varint", [0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], false],
      ["field number 0", [0x00, 0x01], false],
      ["an end-group tag", [0x0c], false],
      ["a length past the end", [0x0a, 0x05, 0x61], false],
      ["a negative int32 as ten bytes", [0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], true],
      ["an int32 as a five-byte varint past 32 bits", [0x20, 0xff, 0xff, 0xff, 0xff, 0x7f], true],
      ["a bool as a large varint", [0x18, 0x80, 0x80, 0x80, 0x80, 0x10], true],
      ["an enum value not declared", [0x50, 0x63], true],
    ];
    for (const [note, bytes, planned] of cases) {
      const before = fallbacks.decode;
      assertDecodesLikeProtobufEs(Kinds, Uint8Array.from(bytes), note);
      assert.equal(fallbacks.decode - before, planned ? 0 : 1, `${note}: ${planned ? "read by the plan" : "left to protobuf-es"}`);
    }
  });

  it("fails or succeeds as protobuf-es does on every truncation and on random corruptions", () => {
    const r = random(7);
    for (let i = 0; i < 60; i++) {
      const bytes = toBinary(Kinds, kindsOf(r));
      for (let end = 0; end < bytes.length; end++) assertDecodesLikeProtobufEs(Kinds, bytes.subarray(0, end), `message ${i} cut at ${end}`);
      for (let j = 0; j < 20 && bytes.length > 0; j++) {
        const broken = Uint8Array.from(bytes);
        broken[r.int(broken.length)] = r.int(256);
        assertDecodesLikeProtobufEs(Kinds, broken, `message ${i}, corruption ${j}`);
      }
    }
  });

  it("writes or refuses values of the wrong type or range as protobuf-es does", () => {
    const valid = () => create(Kinds, { s: "ok", inner: { name: "in" } } as never) as Message & Record<string, unknown>;
    const changes: [string, (m: Record<string, unknown>) => void][] = [
      ["int32 past its range", (m) => (m.i32 = 2 ** 31)],
      ["int32 not an integer", (m) => (m.i32 = 1.5)],
      ["uint32 negative", (m) => (m.u32 = -1)],
      ["int64 as a number", (m) => (m.i64 = 5)],
      ["int64 as a string", (m) => (m.i64 = "12")],
      ["int64 past its range", (m) => (m.i64 = 2n ** 63n)],
      ["uint64 negative", (m) => (m.u64 = -1n)],
      ["float past its range", (m) => (m.fl = 1e39)],
      ["a string field holding a number", (m) => (m.s = 5)],
      ["a bytes field holding a string", (m) => (m.b = "abc")],
      ["a bool field holding a number", (m) => (m.f = 1)],
      ["an enum value not declared", (m) => (m.e = 42)],
      ["a list holding a wrong item", (m) => (m.ri32 = [1, "2"])],
      ["a message field of another type", (m) => (m.inner = create(TimestampSchema, { seconds: 1n }))],
      ["a message field that is a plain object", (m) => (m.inner = { name: "plain" })],
      ["unknown fields to write back", (m) => (m.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }])],
      ["unknown fields on a nested message", (m) => ((m.inner as Record<string, unknown>).$unknown = [{ no: 9, wireType: 0, data: new Uint8Array([2]) }])],
    ];
    for (const [note, change] of changes) {
      const message = valid();
      change(message);
      assertEncodesLikeProtobufEs(Kinds, message, note);
    }
    assertEncodesLikeProtobufEs(Kinds, create(Inner, { name: "not a Kinds" }), "a message of another type");
    // A getter that encodes another message while this one is being encoded.
    const reentrant = create(Kinds, { inner: { name: "in", n: 5n }, ri64: [1n, 2n] } as never);
    const other = create(Kinds, { inner: { name: "a longer name than the outer one" } } as never);
    Object.defineProperty(reentrant, "far", { enumerable: true, get: () => encodeMessage(Kinds, other as never).length });
    assert.deepStrictEqual(encodeMessage(Kinds, reentrant as never), toBinary(Kinds, reentrant));
    for (const [note, change] of changes) {
      const message = valid();
      change(message);
      assertClonesLikeProtobufEs(Kinds, message, note);
    }
  });

  it("copies messages as clone does, sharing nothing mutable with the original", () => {
    const r = random(42);
    const before = fallbacks.clone;
    for (let i = 0; i < 300; i++) {
      const message = kindsOf(r) as Message & Record<string, unknown>;
      const copy = cloneMessage(Kinds, message) as Message & Record<string, unknown>;
      assert.deepStrictEqual(copy, clone(Kinds, message), `message ${i}`);
      for (const name of ["rs", "rb", "ri32", "rinner"]) assert.notEqual(copy[name], message[name], `message ${i}: ${name} is a new list`);
      if ((message.b as Uint8Array).byteLength > 0)
        assert.notEqual((copy.b as Uint8Array).buffer, (message.b as Uint8Array).buffer, `message ${i}: bytes are copied`);
      if (message.inner !== undefined) assert.notEqual(copy.inner, message.inner, `message ${i}: nested messages are copied`);
    }
    assert.equal(fallbacks.clone, before);
    const cart = create(domain.CartSchema, { items: [{ productId: "a", name: "A", quantity: 2 }] });
    assert.deepStrictEqual(cloneMessage(domain.CartSchema, cart), clone(domain.CartSchema, cart));
    const withMap = create(schema("WithMap"), { entries: { a: 1 } } as never);
    assert.deepStrictEqual(cloneMessage(schema("WithMap"), withMap as never), clone(schema("WithMap"), withMap));
  });

  it("creates messages from init objects as create does", () => {
    const inner = create(Inner, { name: "kept" } as never);
    const inits: [string, DescMessage, Record<string, unknown> | undefined][] = [
      ["nothing", Kinds, undefined],
      ["an empty object", Kinds, {}],
      ["scalars, and null or undefined left out", Kinds, { s: "x", i32: 5, i64: 7n, d: -0, f: true, e: 7, u32: null, b: undefined }],
      ["plain objects for message fields", Kinds, { inner: { name: "a", n: 3n }, self: { s: "deep", self: { i32: 1 } } }],
      ["a message kept as it is", Kinds, { inner }],
      ["a message of another type as an init object", Kinds, { inner: create(TimestampSchema, { seconds: 1n }) }],
      ["arrays of numbers for bytes", Kinds, { b: [1, 2, 3], rb: [[4], new Uint8Array([5])] }],
      ["lists of plain objects and messages", Kinds, { rinner: [{ name: "p" }, inner], ri32: [1, 2], rs: ["a"] }],
      ["values of the wrong type, assigned as they are", Kinds, { s: 5, inner: "not a message", ri32: "not a list", i64: 3 }],
      ["unknown properties, ignored", Kinds, { nope: 1 }],
      ["a cart", domain.CartSchema, { items: [{ productId: "a", name: "A", quantity: 1 }] }],
      ["a type left to protobuf-es", schema("WithMap"), { entries: { a: 1 } }],
    ];
    for (const [note, desc, init] of inits) {
      assert.deepStrictEqual(createMessage(desc, init as never), create(desc, init as never), note);
    }
    const made = createMessage(Kinds, { inner, rinner: [inner] } as never) as Record<string, unknown>;
    assert.equal(made.inner, inner, "messages are kept, not copied");
    assert.equal((made.rinner as unknown[])[0], inner);
    const message = create(Kinds, { s: "same" } as never);
    assert.equal(createMessage(Kinds, message as never), message, "a message of the type is returned as it is");
  });
});
