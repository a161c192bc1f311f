import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import {
  type ActionCommand,
  ActionCommandSchema,
  type ActionResponse,
  ActionResponseSchema,
  type Command,
  CommandSchema,
  EventSourcedStreamInSchema,
  EventSourcedStreamOutSchema,
  MetadataEntrySchema,
  MetadataSchema,
  ProxyInfoSchema,
  ValueEntityStreamInSchema,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import { frameMessage } from "../internal/grpc-framing.js";
import {
  decoderFor,
  encodeActionCommandFrame,
  encodeCommandStreamInFrame,
  frameEncoderFor,
  readActionResponse,
  readEventSourcedStreamOut,
  readValueEntityStreamOut,
} from "./wire.js";

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

const commandIn = (id: bigint, init: { entityId?: string; name?: string; payload?: ReturnType<typeof create<typeof AnySchema>>; streamed?: boolean }) =>
  create(CommandSchema, { id, ...init });

describe("hand-written entity command encoders", () => {
  const commands: Array<[string, Command]> = [
    [
      "a command with a payload",
      commandIn(1n, { entityId: "c-17", name: "Increase", payload: create(AnySchema, { typeUrl: "type.googleapis.com/a.In", value: bytes(12) }) }),
    ],
    ["id 0, nothing else", commandIn(0n, {})],
    ["a streamed command with an empty payload", commandIn(127n, { entityId: "é", name: "Watch", payload: create(AnySchema, {}), streamed: true })],
    [
      "a large id and long fields",
      commandIn(0x7fffffffn, {
        entityId: "k".repeat(300),
        name: "n".repeat(129),
        payload: create(AnySchema, { typeUrl: "t".repeat(200), value: bytes(20_000) }),
      }),
    ],
  ];
  for (const [schema, wrap] of [
    [ValueEntityStreamInSchema, (c: Command) => create(ValueEntityStreamInSchema, { message: { case: "command", value: c } })],
    [EventSourcedStreamInSchema, (c: Command) => create(EventSourcedStreamInSchema, { message: { case: "command", value: c } })],
  ] as const) {
    const encode = frameEncoderFor(schema, frameMessage);
    for (const [name, command] of commands) {
      it(`${schema.typeName}: writes the same bytes as protobuf-es: ${name}`, () => {
        const message = wrap(command);
        const tag = schema === ValueEntityStreamInSchema ? 0x12 : 0x1a;
        const hand = encodeCommandStreamInFrame(tag, message);
        assert.ok(hand !== undefined);
        assert.deepEqual(Buffer.from(hand), frameMessage(toBinary(schema, message as never)));
        assert.deepEqual(encode(message), frameMessage(toBinary(schema, message as never)));
      });
    }
    it(`${schema.typeName}: leaves other messages to protobuf-es`, () => {
      const tag = schema === ValueEntityStreamInSchema ? 0x12 : 0x1a;
      const withMetadata = wrap(create(CommandSchema, { id: 3n, name: "n", metadata: { entries: [entry("a", "b")] } }));
      const negative = wrap(create(CommandSchema, { id: -1n }));
      const huge = wrap(create(CommandSchema, { id: 1n << 40n }));
      for (const message of [withMetadata, negative, huge]) {
        assert.equal(encodeCommandStreamInFrame(tag, message), undefined);
        assert.deepEqual(encode(message), frameMessage(toBinary(schema, message as never)));
      }
    });
  }
  it("encodes init messages with protobuf-es", () => {
    const init = create(ValueEntityStreamInSchema, { message: { case: "init", value: { serviceName: "a.B", entityId: "e" } } });
    assert.equal(encodeCommandStreamInFrame(0x12, init), undefined);
    assert.deepEqual(frameEncoderFor(ValueEntityStreamInSchema, frameMessage)(init), frameMessage(toBinary(ValueEntityStreamInSchema, init)));
  });
});

const anyOf = (typeUrl: string, n: number) => ({ typeUrl, value: bytes(n) });
const clientReply = { action: { case: "reply" as const, value: { payload: anyOf("type.googleapis.com/a.Out", 6) } } };

describe("hand-written entity reply readers", () => {
  const value = (init: Parameters<typeof create<typeof ValueEntityStreamOutSchema>>[1]) =>
    Buffer.from(toBinary(ValueEntityStreamOutSchema, create(ValueEntityStreamOutSchema, init)));
  const es = (init: Parameters<typeof create<typeof EventSourcedStreamOutSchema>>[1]) =>
    Buffer.from(toBinary(EventSourcedStreamOutSchema, create(EventSourcedStreamOutSchema, init)));
  const valueCommon: Array<[string, Buffer]> = [
    [
      "an update with a reply",
      value({
        message: {
          case: "reply",
          value: {
            commandId: 5n,
            clientAction: clientReply,
            stateAction: { action: { case: "update", value: { value: anyOf("type.googleapis.com/a.State", 9) } } },
          },
        },
      }),
    ],
    [
      "a delete",
      value({ message: { case: "reply", value: { commandId: 300n, clientAction: clientReply, stateAction: { action: { case: "delete", value: {} } } } } }),
    ],
    ["an update without a value", value({ message: { case: "reply", value: { commandId: 1n, stateAction: { action: { case: "update", value: {} } } } } })],
    ["a reply without a state action", value({ message: { case: "reply", value: { commandId: 2n, clientAction: clientReply } } })],
    ["a reply without a client action, id 0", value({ message: { case: "reply", value: {} } })],
    [
      "a reply with metadata",
      value({
        message: {
          case: "reply",
          value: {
            commandId: 1n << 31n,
            clientAction: { action: { case: "reply", value: { payload: anyOf("t", 1), metadata: { entries: [entry("k", "v")] } } } },
          },
        },
      }),
    ],
  ];
  for (const [name, wire] of valueCommon) {
    it(`ValueEntityStreamOut: reads what protobuf-es reads: ${name}`, () => {
      const expected = fromBinary(ValueEntityStreamOutSchema, wire);
      const hand = readValueEntityStreamOut(wire);
      assert.ok(hand !== undefined);
      assert.deepEqual(hand, expected);
      assert.deepEqual(decoderFor(ValueEntityStreamOutSchema)(wire), expected);
    });
  }
  const valueOther: Array<[string, Buffer]> = [
    ["a failure", value({ message: { case: "failure", value: { commandId: 1n, description: "x" } } })],
    ["side effects", value({ message: { case: "reply", value: { commandId: 1n, sideEffects: [{ serviceName: "a.B", commandName: "C" }] } } })],
    [
      "a forward",
      value({ message: { case: "reply", value: { commandId: 1n, clientAction: { action: { case: "forward", value: { serviceName: "a.B" } } } } } }),
    ],
    [
      "a client failure",
      value({ message: { case: "reply", value: { commandId: 1n, clientAction: { action: { case: "failure", value: { description: "no" } } } } } }),
    ],
    ["a command id past 32 bits", value({ message: { case: "reply", value: { commandId: 1n << 40n } } })],
    ["an empty message", value({})],
  ];
  for (const [name, wire] of valueOther) {
    it(`ValueEntityStreamOut: leaves other shapes to protobuf-es: ${name}`, () => {
      assert.equal(readValueEntityStreamOut(wire), undefined);
      assert.deepEqual(decoderFor(ValueEntityStreamOutSchema)(wire), fromBinary(ValueEntityStreamOutSchema, wire));
    });
  }
  const esCommon: Array<[string, Buffer]> = [
    [
      "events and a reply",
      es({
        message: {
          case: "reply",
          value: { commandId: 7n, clientAction: clientReply, events: [anyOf("type.googleapis.com/a.E", 3), anyOf("type.googleapis.com/a.F", 0)] },
        },
      }),
    ],
    [
      "events and a snapshot",
      es({ message: { case: "reply", value: { commandId: 8n, events: [anyOf("e", 2)], snapshot: anyOf("type.googleapis.com/a.S", 40) } } }),
    ],
    ["a reply with nothing to store", es({ message: { case: "reply", value: { commandId: 9n, clientAction: clientReply } } })],
  ];
  for (const [name, wire] of esCommon) {
    it(`EventSourcedStreamOut: reads what protobuf-es reads: ${name}`, () => {
      const expected = fromBinary(EventSourcedStreamOutSchema, wire);
      const hand = readEventSourcedStreamOut(wire);
      assert.ok(hand !== undefined);
      assert.deepEqual(hand, expected);
      assert.deepEqual(decoderFor(EventSourcedStreamOutSchema)(wire), expected);
    });
  }
  const esOther: Array<[string, Buffer]> = [
    ["a failure", es({ message: { case: "failure", value: { commandId: 1n, description: "x" } } })],
    [
      "a restart",
      es({ message: { case: "reply", value: { commandId: 1n, clientAction: { action: { case: "failure", value: { description: "d", restart: true } } } } } }),
    ],
    ["side effects", es({ message: { case: "reply", value: { commandId: 1n, sideEffects: [{ serviceName: "a.B", commandName: "C" }] } } })],
    ["an unknown field in the reply", Buffer.from([0x0a, 0x04, 0x08, 0x01, 0x78, 0x01])],
  ];
  for (const [name, wire] of esOther) {
    it(`EventSourcedStreamOut: leaves other shapes to protobuf-es: ${name}`, () => {
      assert.equal(readEventSourcedStreamOut(wire), undefined);
      assert.deepEqual(decoderFor(EventSourcedStreamOutSchema)(wire), fromBinary(EventSourcedStreamOutSchema, wire));
    });
  }
  it("fails on truncated input exactly as protobuf-es does", () => {
    const wires = [valueCommon[0]?.[1], esCommon[1]?.[1]] as Buffer[];
    for (const [wire, schema, read] of [
      [wires[0], ValueEntityStreamOutSchema, readValueEntityStreamOut],
      [wires[1], EventSourcedStreamOutSchema, readEventSourcedStreamOut],
    ] as const) {
      for (let cut = 1; cut < (wire as Buffer).length; cut++) {
        const part = (wire as Buffer).subarray(0, cut);
        let expected: unknown;
        try {
          expected = fromBinary(schema, part);
        } catch (error) {
          expected = error;
        }
        const hand = read(part);
        if (expected instanceof Error) {
          assert.equal(hand, undefined, `cut at ${cut}`);
          assert.throws(() => decoderFor(schema)(part));
        } else if (hand !== undefined) assert.deepEqual(hand, expected);
      }
    }
  });
});
