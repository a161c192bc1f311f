import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import {
  type ActionCommand,
  ActionCommandSchema,
  type ActionResponse,
  ActionResponseSchema,
  MetadataEntrySchema,
  MetadataSchema,
  ProxyInfoSchema,
} from "@switchboard/protocol";
import { frameMessage } from "../internal/grpc-framing.js";
import { decoderFor, encodeActionCommandFrame, frameEncoderFor, readActionResponse } from "./wire.js";

const bytes = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const entry = (key: string, value: string | Uint8Array | undefined) =>
  create(MetadataEntrySchema, {
    key,
    value: value === undefined ? { case: undefined } : typeof value === "string" ? { case: "stringValue", value } : { case: "bytesValue", value },
  });

const COMMANDS: Array<[string, ActionCommand]> = [
  ["empty", create(ActionCommandSchema, {})],
  [
    "a call with payload and empty metadata (what every unary call sends)",
    create(ActionCommandSchema, {
      serviceName: "tck.model.action.ActionTckModel",
      name: "ProcessUnary",
      payload: create(AnySchema, { typeUrl: "type.googleapis.com/tck.model.action.Request", value: bytes(22) }),
      metadata: create(MetadataSchema, { entries: [] }),
    }),
  ],
  ["payload with an empty value", create(ActionCommandSchema, { serviceName: "s", name: "n", payload: create(AnySchema, { typeUrl: "t" }) })],
  ["payload with an empty type URL", create(ActionCommandSchema, { payload: create(AnySchema, { value: bytes(3) }) })],
  ["an empty payload message", create(ActionCommandSchema, { name: "n", payload: create(AnySchema, {}) })],
  ["no payload (the header of a streamed call)", create(ActionCommandSchema, { serviceName: "a.B", name: "C", metadata: create(MetadataSchema, {}) })],
  [
    "non-ASCII names and metadata of every kind",
    create(ActionCommandSchema, {
      serviceName: "ünïcödé.Sérvice",
      name: "名前😀",
      payload: create(AnySchema, { typeUrl: "type.googleapis.com/é", value: bytes(5) }),
      metadata: create(MetadataSchema, {
        entries: [
          entry("user-agent", "grpc-node/1.0"),
          entry("x-trace-bin", bytes(9)),
          entry("", ""),
          entry("empty-bytes", new Uint8Array(0)),
          entry("no-value", undefined),
          entry("ключ", "значение ✓"),
        ],
      }),
    }),
  ],
  [
    "lengths of two and three varint bytes",
    create(ActionCommandSchema, {
      serviceName: "x".repeat(200),
      name: "y".repeat(20_000),
      payload: create(AnySchema, { typeUrl: "t".repeat(130), value: bytes(70_000) }),
      metadata: create(MetadataSchema, { entries: Array.from({ length: 300 }, (_, i) => entry(`k${i}`, "v".repeat(i))) }),
    }),
  ],
];

describe("hand-written ActionCommand encoder", () => {
  for (const [name, command] of COMMANDS) {
    it(`writes the same bytes as protobuf-es: ${name}`, () => {
      const expected = frameMessage(toBinary(ActionCommandSchema, command));
      const actual = encodeActionCommandFrame(command);
      assert.ok(actual !== undefined);
      assert.deepEqual(Buffer.from(actual), expected);
    });
  }

  it("accepts the plain message objects the Action runtime builds (no create)", () => {
    const plain: ActionCommand = {
      $typeName: "cloudstate.action.ActionCommand",
      serviceName: "a.B",
      name: "C",
      payload: { $typeName: "google.protobuf.Any", typeUrl: "type.googleapis.com/a.In", value: bytes(4) },
      metadata: { $typeName: "cloudstate.Metadata", entries: [] },
    };
    assert.deepEqual(plain, create(ActionCommandSchema, plain));
    assert.deepEqual(Buffer.from(encodeActionCommandFrame(plain) as Buffer), frameMessage(toBinary(ActionCommandSchema, plain)));
  });

  it("leaves messages with unknown fields to protobuf-es, which writes them back", () => {
    const withUnknown = fromBinary(ActionCommandSchema, Uint8Array.from([...toBinary(ActionCommandSchema, COMMANDS[1]?.[1] as ActionCommand), 0x78, 0x01]));
    assert.equal(encodeActionCommandFrame(withUnknown), undefined);
    const encode = frameEncoderFor(ActionCommandSchema, frameMessage);
    assert.deepEqual(encode(withUnknown), frameMessage(toBinary(ActionCommandSchema, withUnknown)));
  });

  it("encodes every other message type with protobuf-es", () => {
    const info = create(ProxyInfoSchema, { protocolMajorVersion: 0, protocolMinorVersion: 2, proxyName: "switchboard" });
    assert.deepEqual(frameEncoderFor(ProxyInfoSchema, frameMessage)(info), frameMessage(toBinary(ProxyInfoSchema, info)));
  });
});

const reply = (init: Parameters<typeof create<typeof ActionResponseSchema>>[1]) =>
  Buffer.from(toBinary(ActionResponseSchema, create(ActionResponseSchema, init)));

describe("hand-written ActionResponse reader", () => {
  const common: Array<[string, Buffer]> = [
    ["no response", reply({})],
    [
      "a reply with a payload",
      reply({ response: { case: "reply", value: { payload: { typeUrl: "type.googleapis.com/tck.model.action.Response", value: bytes(7) } } } }),
    ],
    ["a reply without a payload", reply({ response: { case: "reply", value: {} } })],
    ["a reply whose payload is empty", reply({ response: { case: "reply", value: { payload: {} } } })],
    [
      "a reply with metadata of every kind",
      reply({
        response: {
          case: "reply",
          value: {
            payload: { typeUrl: "type.googleapis.com/x.Ÿ", value: bytes(300) },
            metadata: { entries: [entry("a", "b"), entry("c-bin", bytes(3)), entry("", ""), entry("none", undefined), entry("é", "✓")] },
          },
        },
      }),
    ],
    ["a reply with metadata first (fields in any order)", Buffer.from([0x12, 0x0b, 0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0x6b, 0x0a, 0x02, 0x0a, 0x00])],
  ];
  for (const [name, wire] of common) {
    it(`reads what protobuf-es reads: ${name}`, () => {
      const expected = fromBinary(ActionResponseSchema, wire);
      const actual = readActionResponse(wire);
      assert.ok(actual !== undefined, "the common shape is read by hand");
      assert.deepEqual(actual, expected);
      assert.deepEqual(decoderFor(ActionResponseSchema)(wire), expected);
    });
  }

  const other: Array<[string, Buffer]> = [
    ["a failure", reply({ response: { case: "failure", value: { description: "no" } } })],
    ["a forward", reply({ response: { case: "forward", value: { serviceName: "a.B", commandName: "C" } } })],
    [
      "side effects",
      reply({
        response: { case: "reply", value: { payload: { typeUrl: "t" } } },
        sideEffects: [{ serviceName: "a.B", commandName: "C", synchronous: true }],
      }),
    ],
    ["an unknown field", Buffer.concat([reply({ response: { case: "reply", value: {} } }), Buffer.from([0x78, 0x01])])],
    ["an unknown field inside the payload", Buffer.from([0x12, 0x04, 0x0a, 0x02, 0x18, 0x01])],
    [
      "a reply sent twice (merged)",
      Buffer.concat([
        reply({ response: { case: "reply", value: { payload: { typeUrl: "a" } } } }),
        reply({ response: { case: "reply", value: { payload: { value: bytes(2) } } } }),
      ]),
    ],
  ];
  for (const [name, wire] of other) {
    it(`leaves other shapes to protobuf-es: ${name}`, () => {
      assert.equal(readActionResponse(wire), undefined);
      assert.deepEqual(decoderFor(ActionResponseSchema)(wire), fromBinary(ActionResponseSchema, wire));
    });
  }

  it("fails on truncated input exactly as protobuf-es does", () => {
    const wire = reply({ response: { case: "reply", value: { payload: { typeUrl: "type.googleapis.com/a.B", value: bytes(40) } } } });
    for (let cut = 1; cut < wire.length; cut++) {
      const part = wire.subarray(0, cut);
      let expected: unknown;
      try {
        expected = fromBinary(ActionResponseSchema, part);
      } catch (error) {
        expected = error;
      }
      const hand = readActionResponse(part);
      if (expected instanceof Error) {
        assert.equal(hand, undefined, `cut at ${cut}: protobuf-es fails, so must the reader (by falling back)`);
        assert.throws(() => decoderFor(ActionResponseSchema)(part));
      } else if (hand !== undefined) {
        assert.deepEqual(hand, expected as ActionResponse);
      }
    }
  });
});
