import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import {
  type ActionCommand,
  ActionCommandSchema,
  type ActionResponse,
  ActionResponseSchema,
  type Command,
  CommandSchema,
  type EventSourcedStreamOut,
  EventSourcedStreamInSchema,
  EventSourcedStreamOutSchema,
  MetadataEntrySchema,
  MetadataSchema,
  type ValueEntityStreamOut,
  ValueEntityStreamInSchema,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import {
  deserializerFor,
  encodeActionResponse,
  encodeEventSourcedReply,
  encodeValueEntityReply,
  readActionCommand,
  readCommand,
  serializerFor,
} from "./wire.js";

const bytes = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const any = (typeUrl: string, n: number, seed = 3) => create(AnySchema, { typeUrl, value: bytes(n, seed) });
const replyAction = (payload = any("type.googleapis.com/example.Value", 9)) => ({ action: { case: "reply" as const, value: { payload } } }) as const;

/** What protobuf-es makes of `wire`: the message it reads, or the message of the error it throws. */
function protobufEsReading(schema: DescMessage, wire: Uint8Array): { readonly value: unknown } | { readonly error: string } {
  try {
    return { value: fromBinary(schema, wire) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** The deserializer gives exactly what protobuf-es gives: the same message, or an error with the same message. */
function assertLikeProtobufEs(deserialize: (bytes: Buffer) => unknown, schema: DescMessage, wire: Buffer, label?: string): void {
  const reading = protobufEsReading(schema, wire);
  if ("error" in reading) assert.throws(() => deserialize(wire), { message: reading.error }, label);
  else assert.deepEqual(deserialize(wire), reading.value, label);
}

/** Metadata with a string entry, a bytes entry and an entry without a value. */
const everyKindOfMetadata = () =>
  create(MetadataSchema, {
    entries: [
      create(MetadataEntrySchema, { key: "s", value: { case: "stringValue", value: "v" } }),
      create(MetadataEntrySchema, { key: "b", value: { case: "bytesValue", value: bytes(4) } }),
      create(MetadataEntrySchema, { key: "none" }),
    ],
  });

const VALUE_REPLIES: Array<[string, ValueEntityStreamOut]> = [
  [
    "a reply payload and no state action",
    create(ValueEntityStreamOutSchema, { message: { case: "reply", value: { commandId: 3n, clientAction: replyAction() } } }),
  ],
  [
    "a reply payload and an update (what an increment sends)",
    create(ValueEntityStreamOutSchema, {
      message: {
        case: "reply",
        value: {
          commandId: 1234n,
          clientAction: replyAction(),
          stateAction: { action: { case: "update", value: { value: any("type.googleapis.com/example.State", 4) } } },
        },
      },
    }),
  ],
  [
    "an update without a value",
    create(ValueEntityStreamOutSchema, {
      message: { case: "reply", value: { commandId: 7n, clientAction: replyAction(), stateAction: { action: { case: "update", value: {} } } } },
    }),
  ],
  [
    "a delete",
    create(ValueEntityStreamOutSchema, {
      message: { case: "reply", value: { commandId: 8n, clientAction: replyAction(), stateAction: { action: { case: "delete", value: {} } } } },
    }),
  ],
  ["command id 0 and no client action", create(ValueEntityStreamOutSchema, { message: { case: "reply", value: { commandId: 0n } } })],
  [
    "the largest command id written by hand",
    create(ValueEntityStreamOutSchema, { message: { case: "reply", value: { commandId: 0x7fffffffn, clientAction: replyAction() } } }),
  ],
  [
    "a non-ASCII type URL, an empty value and a 200-byte state (two-byte lengths)",
    create(ValueEntityStreamOutSchema, {
      message: {
        case: "reply",
        value: {
          commandId: 200n,
          clientAction: replyAction(create(AnySchema, { typeUrl: "type.googleapis.com/ünï.cödé😀" })),
          stateAction: { action: { case: "update", value: { value: any("type.googleapis.com/x.Big", 200) } } },
        },
      },
    }),
  ],
  [
    "a reply whose payload is an empty Any",
    create(ValueEntityStreamOutSchema, { message: { case: "reply", value: { commandId: 2n, clientAction: replyAction(create(AnySchema, {})) } } }),
  ],
];

const EVENT_SOURCED_REPLIES: Array<[string, EventSourcedStreamOut]> = [
  ["a reply payload and no events", create(EventSourcedStreamOutSchema, { message: { case: "reply", value: { commandId: 5n, clientAction: replyAction() } } })],
  [
    "a reply payload and one event (what adding an item sends)",
    create(EventSourcedStreamOutSchema, {
      message: { case: "reply", value: { commandId: 77n, clientAction: replyAction(), events: [any("type.googleapis.com/cart.ItemAdded", 30)] } },
    }),
  ],
  [
    "several events and a snapshot",
    create(EventSourcedStreamOutSchema, {
      message: {
        case: "reply",
        value: {
          commandId: 300000n,
          clientAction: replyAction(),
          events: [any("type.googleapis.com/a.E1", 1), any("type.googleapis.com/a.E2", 0), any("type.googleapis.com/a.É3", 150)],
          snapshot: any("type.googleapis.com/a.Snapshot", 500),
        },
      },
    }),
  ],
  ["a snapshot alone with command id 0", create(EventSourcedStreamOutSchema, { message: { case: "reply", value: { snapshot: create(AnySchema, {}) } } })],
];

describe("hand-written entity reply encoders", () => {
  for (const [name, message] of VALUE_REPLIES) {
    it(`value entity: ${name}, byte for byte as protobuf-es`, () => {
      const encoded = encodeValueEntityReply(message);
      assert.ok(encoded !== undefined, "the common shape is written by hand");
      assert.deepEqual(new Uint8Array(encoded), toBinary(ValueEntityStreamOutSchema, message));
      assert.deepEqual(fromBinary(ValueEntityStreamOutSchema, new Uint8Array(encoded)), message);
    });
  }
  for (const [name, message] of EVENT_SOURCED_REPLIES) {
    it(`event sourced: ${name}, byte for byte as protobuf-es`, () => {
      const encoded = encodeEventSourcedReply(message);
      assert.ok(encoded !== undefined, "the common shape is written by hand");
      assert.deepEqual(new Uint8Array(encoded), toBinary(EventSourcedStreamOutSchema, message));
      assert.deepEqual(fromBinary(EventSourcedStreamOutSchema, new Uint8Array(encoded)), message);
    });
  }

  const reply = (extra: object) =>
    create(ValueEntityStreamOutSchema, { message: { case: "reply", value: { commandId: 1n, clientAction: replyAction(), ...extra } } });
  const unusual: Array<[string, ValueEntityStreamOut]> = [
    ["side effects", reply({ sideEffects: [{ serviceName: "s", commandName: "c", payload: any("t", 1), synchronous: true }] })],
    [
      "metadata on the reply",
      create(ValueEntityStreamOutSchema, {
        message: {
          case: "reply",
          value: {
            commandId: 1n,
            clientAction: { action: { case: "reply", value: { payload: any("t", 1), metadata: { entries: [create(MetadataEntrySchema, { key: "k" })] } } } },
          },
        },
      }),
    ],
    [
      "a forward",
      create(ValueEntityStreamOutSchema, {
        message: { case: "reply", value: { commandId: 1n, clientAction: { action: { case: "forward", value: { serviceName: "s", commandName: "c" } } } } },
      }),
    ],
    [
      "a client failure",
      create(ValueEntityStreamOutSchema, {
        message: { case: "reply", value: { commandId: 1n, clientAction: { action: { case: "failure", value: { commandId: 1n, description: "no" } } } } },
      }),
    ],
    [
      "a command id past 31 bits",
      create(ValueEntityStreamOutSchema, { message: { case: "reply", value: { commandId: 0x80000000n, clientAction: replyAction() } } }),
    ],
    ["a stream failure", create(ValueEntityStreamOutSchema, { message: { case: "failure", value: { commandId: 1n, description: "boom" } } })],
  ];
  for (const [name, message] of unusual) {
    it(`leaves ${name} to protobuf-es, and the serializer still writes what protobuf-es writes`, () => {
      assert.equal(encodeValueEntityReply(message), undefined);
      assert.deepEqual(new Uint8Array(serializerFor(ValueEntityStreamOutSchema)(message)), toBinary(ValueEntityStreamOutSchema, message));
    });
  }

  it("leaves messages with unknown fields to protobuf-es, which writes them back", () => {
    const withUnknown = fromBinary(
      ValueEntityStreamOutSchema,
      Buffer.concat([toBinary(ValueEntityStreamOutSchema, VALUE_REPLIES[1]?.[1] as ValueEntityStreamOut), Buffer.from([0xf8, 0x07, 0x01])]),
    );
    assert.equal(encodeValueEntityReply(withUnknown), undefined);
    const out = serializerFor(ValueEntityStreamOutSchema)(withUnknown);
    assert.deepEqual(new Uint8Array(out), toBinary(ValueEntityStreamOutSchema, withUnknown));
    const eventWithUnknown = fromBinary(AnySchema, Buffer.concat([toBinary(AnySchema, any("t", 2)), Buffer.from([0x18, 0x01])]));
    const es = create(EventSourcedStreamOutSchema, { message: { case: "reply", value: { commandId: 1n, events: [eventWithUnknown] } } });
    assert.equal(encodeEventSourcedReply(es), undefined);
    assert.deepEqual(new Uint8Array(serializerFor(EventSourcedStreamOutSchema)(es)), toBinary(EventSourcedStreamOutSchema, es));
  });
});

const COMMANDS: Array<[string, Command]> = [
  [
    "a call with payload and empty metadata (what every increment carries)",
    create(CommandSchema, {
      entityId: "counter-1",
      id: 42n,
      name: "Increase",
      payload: any("type.googleapis.com/example.IncreaseValue", 12),
      metadata: create(MetadataSchema, { entries: [] }),
    }),
  ],
  ["id 0, no payload, no metadata", create(CommandSchema, { entityId: "e", name: "N" })],
  ["everything empty", create(CommandSchema, {})],
  ["a streamed command", create(CommandSchema, { entityId: "e", id: 9n, name: "Watch", streamed: true, payload: any("t", 0) })],
  ["the largest id read by hand", create(CommandSchema, { entityId: "e", id: 0x7fffffffn, name: "N" })],
  [
    "non-ASCII ids, a long payload and metadata of every kind",
    create(CommandSchema, {
      entityId: "ünïcödé-😀",
      id: 130n,
      name: "名前",
      payload: any("type.googleapis.com/é", 300),
      metadata: everyKindOfMetadata(),
    }),
  ],
];

describe("hand-written entity command reader", () => {
  for (const [streamName, schema, tag] of [
    ["ValueEntityStreamIn", ValueEntityStreamInSchema, 0x12],
    ["EventSourcedStreamIn", EventSourcedStreamInSchema, 0x1a],
  ] as const) {
    const deserialize = deserializerFor(schema);
    for (const [name, command] of COMMANDS) {
      it(`${streamName}: ${name}, exactly what protobuf-es reads`, () => {
        const wire = Buffer.from(toBinary(schema, create(schema, { message: { case: "command", value: command } })));
        const expected = fromBinary(schema, wire);
        assert.deepEqual(readCommand(wire, tag), expected.message.value);
        assert.deepEqual(deserialize(wire), expected);
      });
    }
  }

  const deserialize = deserializerFor(ValueEntityStreamInSchema);
  const commandBytes = Buffer.from(
    toBinary(ValueEntityStreamInSchema, create(ValueEntityStreamInSchema, { message: { case: "command", value: COMMANDS[0]?.[1] as Command } })),
  );
  const commandBody = Buffer.from(toBinary(CommandSchema, COMMANDS[0]?.[1] as Command));
  const framed = (body: Uint8Array) => Buffer.concat([Buffer.from([0x12, body.length]), body]);
  const unusual: Array<[string, Buffer]> = [
    [
      "an init message",
      Buffer.from(
        toBinary(ValueEntityStreamInSchema, create(ValueEntityStreamInSchema, { message: { case: "init", value: { serviceName: "s", entityId: "e" } } })),
      ),
    ],
    ["a command field given twice (protobuf-es merges)", Buffer.concat([commandBytes, commandBytes])],
    ["a field repeated inside the command", framed(Buffer.concat([commandBody, Buffer.from([0x1a, 0x01, 0x78])]))],
    ["an unknown field inside the command", framed(Buffer.concat([commandBody, Buffer.from([0x38, 0x01])]))],
    ["an id past 31 bits", framed(toBinary(CommandSchema, create(CommandSchema, { id: 0x80000000n })))],
    ["an unknown field inside the payload", framed(Buffer.from([0x22, 0x02, 0x18, 0x01]))],
    ["a field of the wrong wire type", framed(Buffer.from([0x0d, 0x00, 0x00, 0x00, 0x00]))],
  ];
  for (const [name, wire] of unusual) {
    it(`leaves ${name} to protobuf-es, whose reading (or error) the deserializer gives`, () => {
      assert.equal(readCommand(wire, 0x12), undefined);
      assertLikeProtobufEs(deserialize, ValueEntityStreamInSchema, wire);
    });
  }

  it("fails on truncated input exactly as protobuf-es does", () => {
    for (let cut = 1; cut < commandBytes.length; cut++) {
      const truncated = commandBytes.subarray(0, cut);
      assert.equal(readCommand(truncated, 0x12), undefined, `cut at ${cut}`);
      assert.throws(() => deserialize(truncated), Error, `cut at ${cut}`);
    }
    assert.equal(readCommand(Buffer.alloc(0), 0x12), undefined);
  });
});

const ACTION_COMMANDS: Array<[string, ActionCommand]> = [
  [
    "a unary call with payload and empty metadata (what the proxy sends)",
    create(ActionCommandSchema, {
      serviceName: "com.example.Greeter",
      name: "Greet",
      payload: any("type.googleapis.com/com.example.Hello", 20),
      metadata: create(MetadataSchema, { entries: [] }),
    }),
  ],
  ["the header of a streamed call (no payload)", create(ActionCommandSchema, { serviceName: "a.B", name: "C", metadata: create(MetadataSchema, {}) })],
  ["an empty message (a streamed call's later messages carry only a payload)", create(ActionCommandSchema, {})],
  ["a payload alone", create(ActionCommandSchema, { payload: any("t", 3) })],
  [
    "non-ASCII names, a 300-byte payload and metadata of every kind",
    create(ActionCommandSchema, {
      serviceName: "ünïcödé.Sérvice",
      name: "名前😀",
      payload: any("type.googleapis.com/é", 300),
      metadata: everyKindOfMetadata(),
    }),
  ],
];

describe("hand-written ActionCommand reader", () => {
  const deserialize = deserializerFor(ActionCommandSchema);
  for (const [name, command] of ACTION_COMMANDS) {
    it(`${name}, exactly what protobuf-es reads`, () => {
      const wire = Buffer.from(toBinary(ActionCommandSchema, command));
      const expected = fromBinary(ActionCommandSchema, wire);
      assert.deepEqual(readActionCommand(wire), expected);
      assert.deepEqual(deserialize(wire), expected);
    });
  }

  const body = Buffer.from(toBinary(ActionCommandSchema, ACTION_COMMANDS[0]?.[1] as ActionCommand));
  const unusual: Array<[string, Buffer]> = [
    ["a field given twice (protobuf-es keeps the last)", Buffer.concat([body, Buffer.from([0x1a, 0x01, 0x78])])],
    ["an unknown field", Buffer.concat([body, Buffer.from([0x30, 0x01])])],
    ["field 1 (not in the message)", Buffer.concat([Buffer.from([0x0a, 0x01, 0x78]), body])],
    ["an unknown field inside the payload", Buffer.from([0x22, 0x02, 0x18, 0x01])],
    ["a field of the wrong wire type", Buffer.from([0x10, 0x01])],
  ];
  for (const [name, wire] of unusual) {
    it(`leaves ${name} to protobuf-es, whose reading (or error) the deserializer gives`, () => {
      assert.equal(readActionCommand(wire), undefined);
      assertLikeProtobufEs(deserialize, ActionCommandSchema, wire);
    });
  }

  it("reads every prefix of a message as protobuf-es does (a cut between fields is a shorter message; inside one, an error)", () => {
    for (let cut = 1; cut < body.length; cut++) {
      const prefix = body.subarray(0, cut);
      const reading = protobufEsReading(ActionCommandSchema, prefix);
      assert.deepEqual(readActionCommand(prefix), "error" in reading ? undefined : reading.value, `cut at ${cut}`);
      assertLikeProtobufEs(deserialize, ActionCommandSchema, prefix, `cut at ${cut}`);
    }
  });
});

describe("hand-written ActionResponse encoder", () => {
  const replyOf = (payload: ReturnType<typeof any>) => create(ActionResponseSchema, { response: { case: "reply", value: { payload } } });
  const plain: Array<[string, ActionResponse]> = [
    ["a reply with a payload", replyOf(any("type.googleapis.com/com.example.Greeting", 14))],
    ["a reply whose payload is an empty Any", replyOf(create(AnySchema, {}))],
    ["a reply with a 200-byte payload and a non-ASCII type URL (two-byte lengths)", replyOf(any("type.googleapis.com/ünï.cödé😀", 200))],
    ["no reply at all", create(ActionResponseSchema, {})],
  ];
  for (const [name, response] of plain) {
    it(`${name}, byte for byte as protobuf-es`, () => {
      const encoded = encodeActionResponse(response);
      assert.ok(encoded !== undefined, "the common shape is written by hand");
      assert.deepEqual(new Uint8Array(encoded), toBinary(ActionResponseSchema, response));
      assert.deepEqual(new Uint8Array(serializerFor(ActionResponseSchema)(response)), toBinary(ActionResponseSchema, response));
    });
  }

  const unusual: Array<[string, ActionResponse]> = [
    [
      "metadata on the reply",
      create(ActionResponseSchema, {
        response: { case: "reply", value: { payload: any("t", 1), metadata: { entries: [create(MetadataEntrySchema, { key: "k" })] } } },
      }),
    ],
    ["a reply without a payload", create(ActionResponseSchema, { response: { case: "reply", value: {} } })],
    ["side effects", create(ActionResponseSchema, { sideEffects: [{ serviceName: "s", commandName: "c", payload: any("t", 1) }] })],
    ["a forward", create(ActionResponseSchema, { response: { case: "forward", value: { serviceName: "s", commandName: "c", payload: any("t", 1) } } })],
    ["a failure", create(ActionResponseSchema, { response: { case: "failure", value: { description: "no" } } })],
    ["unknown fields in the payload", replyOf(fromBinary(AnySchema, Buffer.concat([toBinary(AnySchema, any("t", 2)), Buffer.from([0x18, 0x01])])))],
  ];
  for (const [name, response] of unusual) {
    it(`leaves ${name} to protobuf-es, and the serializer still writes what protobuf-es writes`, () => {
      assert.equal(encodeActionResponse(response), undefined);
      assert.deepEqual(new Uint8Array(serializerFor(ActionResponseSchema)(response)), toBinary(ActionResponseSchema, response));
    });
  }
});
