/**
 * Hand-written codecs of the hottest protocol messages, used by the user-function client
 * instead of protobuf-es's reflective `toBinary`/`fromBinary`:
 *
 * - `ActionCommand` (cloudstate.action, sent once per Action call) is written straight
 *   into its gRPC frame: one buffer, no writer, no intermediate arrays. The bytes are
 *   exactly what protobuf-es writes (fields in number order, proto3 implicit-presence
 *   fields left out when empty, a set message field always written); the tests check
 *   byte identity.
 * - The `command` messages of the value-entity and event-sourced streams (one per
 *   entity command) likewise.
 * - `ActionResponse` and the replies of those two entity streams are read without
 *   reflection when they have the common shape (a reply with a payload and metadata,
 *   state updates, events, a snapshot); anything else (side effects, forwards,
 *   failures, unknown fields, bad input) falls back to protobuf-es, so the result is
 *   always what `fromBinary` gives.
 *
 * A message object with unknown fields (`$unknown`) is always encoded by protobuf-es.
 * The wire primitives are shared with the SDK's codecs (`@switchboard/protocol/wire`),
 * which go the other way: they read commands and write replies.
 */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  type ActionCommand,
  ActionCommandSchema,
  type ActionResponse,
  ActionResponseSchema,
  type ClientAction,
  type Command,
  type EventSourcedStreamOut,
  EventSourcedStreamOutSchema,
  type Metadata,
  type MetadataEntry,
  type Reply,
  type ValueEntityAction,
  type ValueEntityStreamOut,
  ValueEntityStreamOutSchema,
  type ValueEntityUpdate,
} from "@switchboard/protocol";
import {
  anySize,
  asBuffer,
  COMMAND_TAGS,
  entrySize,
  fieldSize,
  hasUnknown,
  Reader,
  readAny,
  readMetadata,
  utf8Length,
  varintSize,
  writeAny,
  writeBytes,
  writeString,
  writeVarint,
} from "@switchboard/protocol/wire";

/** Encodes one message as a complete gRPC frame (5-byte prefix + message). */
export type FrameEncoder = (message: unknown) => Buffer;
/** Decodes one message from the user function. */
export type Decoder = (bytes: Uint8Array) => unknown;

/**
 * `ActionCommand` as a gRPC frame, or undefined when it needs the generic encoder.
 * Field numbers: service_name 2, name 3, payload 4 (Any: type_url 1, value 2),
 * metadata 5 (Metadata: entries 1; MetadataEntry: key 1, string_value 2, bytes_value 3).
 */
export function encodeActionCommandFrame(command: ActionCommand): Buffer | undefined {
  if (hasUnknown(command)) return undefined;
  const service = utf8Length(command.serviceName);
  const name = utf8Length(command.name);
  let size = (service === 0 ? 0 : fieldSize(service)) + (name === 0 ? 0 : fieldSize(name));
  const payload = command.payload;
  let payloadTypeUrl = 0;
  let payloadSize = 0;
  if (payload !== undefined) {
    if (hasUnknown(payload)) return undefined;
    payloadTypeUrl = utf8Length(payload.typeUrl);
    payloadSize = anySize(payload, payloadTypeUrl);
    size += fieldSize(payloadSize);
  }
  const metadata = command.metadata;
  let metadataSize = 0;
  let entrySizes: number[] | undefined;
  if (metadata !== undefined) {
    if (hasUnknown(metadata)) return undefined;
    const entries = metadata.entries;
    if (entries.length > 0) {
      entrySizes = new Array<number>(entries.length);
      for (let i = 0; i < entries.length; i++) {
        const s = entrySize(entries[i] as MetadataEntry);
        if (s < 0) return undefined;
        entrySizes[i] = s;
        metadataSize += fieldSize(s);
      }
    }
    size += fieldSize(metadataSize);
  }
  const frame = Buffer.allocUnsafe(5 + size);
  frame[0] = 0;
  frame.writeUInt32BE(size, 1);
  let at = 5;
  if (service !== 0) at = writeString(frame, at, 0x12, command.serviceName, service);
  if (name !== 0) at = writeString(frame, at, 0x1a, command.name, name);
  if (payload !== undefined) at = writeAny(frame, at, 0x22, payload, payloadTypeUrl, payloadSize);
  if (metadata !== undefined) {
    frame[at++] = 0x2a;
    at = writeVarint(frame, at, metadataSize);
    if (entrySizes !== undefined) {
      const entries = metadata.entries;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as MetadataEntry;
        frame[at++] = 0x0a;
        at = writeVarint(frame, at, entrySizes[i] as number);
        const key = utf8Length(entry.key);
        if (key !== 0) at = writeString(frame, at, 0x0a, entry.key, key);
        const value = entry.value;
        if (value.case === "stringValue") at = writeString(frame, at, 0x12, value.value, utf8Length(value.value));
        else if (value.case === "bytesValue") at = writeBytes(frame, at, 0x1a, value.value);
      }
    }
  }
  return frame;
}

/**
 * `ActionResponse` without reflection when it is empty or a plain reply (payload and
 * metadata, each at most once); undefined for every other shape.
 * Field numbers: failure 1, reply 2 (Reply: payload 1, metadata 2), forward 3, side_effects 4.
 */
export function readActionResponse(bytes: Uint8Array): ActionResponse | undefined {
  const buf = asBuffer(bytes);
  const end = buf.byteLength;
  if (end === 0) return { $typeName: "cloudstate.action.ActionResponse", response: { case: undefined }, sideEffects: [] };
  const r = new Reader(buf, 0, end);
  if (r.varint32() !== 0x12) return undefined;
  const replyEnd = r.delimited();
  if (replyEnd !== end) return undefined; // a second field (or a repeated reply): the generic path merges them
  const reply = readReply(buf, r.at, replyEnd);
  if (reply === undefined) return undefined;
  return { $typeName: "cloudstate.action.ActionResponse", response: { case: "reply", value: reply }, sideEffects: [] };
}

/**
 * A stream-in message carrying a `Command` as a gRPC frame, or undefined when it needs the
 * generic encoder (any other case, metadata, unknown fields, an id outside 0…2^31-1).
 * Command: entity_id 1, id 2 (int64), name 3, payload 4 (Any), streamed 5 (bool), metadata 6.
 */
export function encodeCommandStreamInFrame(tag: number, message: { message: { case: string | undefined; value?: unknown } }): Buffer | undefined {
  if (hasUnknown(message) || message.message.case !== "command") return undefined;
  const command = message.message.value as Command;
  if (hasUnknown(command) || command.metadata !== undefined || command.id < 0n || command.id > 0x7fffffffn) return undefined;
  const id = Number(command.id);
  const entity = utf8Length(command.entityId);
  const name = utf8Length(command.name);
  let inner = (entity === 0 ? 0 : fieldSize(entity)) + (id === 0 ? 0 : 1 + varintSize(id)) + (name === 0 ? 0 : fieldSize(name)) + (command.streamed ? 2 : 0);
  const payload = command.payload;
  let payloadTypeUrl = 0;
  let payloadSize = 0;
  if (payload !== undefined) {
    if (hasUnknown(payload)) return undefined;
    payloadTypeUrl = utf8Length(payload.typeUrl);
    payloadSize = anySize(payload, payloadTypeUrl);
    inner += fieldSize(payloadSize);
  }
  const size = fieldSize(inner);
  const frame = Buffer.allocUnsafe(5 + size);
  frame[0] = 0;
  frame.writeUInt32BE(size, 1);
  frame[5] = tag;
  let at = writeVarint(frame, 6, inner);
  if (entity !== 0) at = writeString(frame, at, 0x0a, command.entityId, entity);
  if (id !== 0) {
    frame[at++] = 0x10;
    at = writeVarint(frame, at, id);
  }
  if (name !== 0) at = writeString(frame, at, 0x1a, command.name, name);
  if (payload !== undefined) at = writeAny(frame, at, 0x22, payload, payloadTypeUrl, payloadSize);
  if (command.streamed) {
    frame[at++] = 0x28;
    frame[at++] = 1;
  }
  return frame;
}

/** `cloudstate.Reply` in [start, end): payload and metadata, each at most once; undefined otherwise. */
function readReply(buf: Buffer, start: number, end: number): Reply | undefined {
  const r = new Reader(buf, start, end);
  const reply: { $typeName: "cloudstate.Reply"; payload?: Any; metadata?: Metadata } = { $typeName: "cloudstate.Reply" };
  while (r.at < end) {
    const tag = r.varint32();
    if (tag !== 0x0a && tag !== 0x12) return undefined;
    const fieldEnd = r.delimited();
    if (fieldEnd < 0) return undefined;
    if (tag === 0x0a) {
      if (reply.payload !== undefined) return undefined;
      const payload = readAny(buf, r.at, fieldEnd);
      if (payload === undefined) return undefined;
      reply.payload = payload;
    } else {
      if (reply.metadata !== undefined) return undefined;
      const metadata = readMetadata(buf, r.at, fieldEnd);
      if (metadata === undefined) return undefined;
      reply.metadata = metadata;
    }
    r.at = fieldEnd;
  }
  return reply as Reply;
}

/** `cloudstate.ClientAction` in [start, end) when it is one reply (reply = 1); undefined otherwise. */
function readClientAction(buf: Buffer, start: number, end: number): ClientAction | undefined {
  const r = new Reader(buf, start, end);
  if (r.varint32() !== 0x0a) return undefined;
  const replyEnd = r.delimited();
  if (replyEnd !== end) return undefined;
  const reply = readReply(buf, r.at, replyEnd);
  if (reply === undefined) return undefined;
  return { $typeName: "cloudstate.ClientAction", action: { case: "reply", value: reply } };
}

/** The one `reply` (field 1) of an entity stream-out message: [start, end) of its body, or undefined. */
function onlyReply(buf: Buffer): Reader | undefined {
  const r = new Reader(buf, 0, buf.byteLength);
  if (r.varint32() !== 0x0a) return undefined;
  const replyEnd = r.delimited();
  if (replyEnd !== buf.byteLength) return undefined;
  return r;
}

/**
 * `ValueEntityStreamOut` when it is a reply with a command id, at most one client action
 * that is a reply, and at most one state action (update with a value, or delete); no side effects.
 * ValueEntityReply: command_id 1, client_action 2, side_effects 3, state_action 4;
 * ValueEntityAction: update 1 (ValueEntityUpdate: value 1), delete 2.
 */
export function readValueEntityStreamOut(bytes: Uint8Array): ValueEntityStreamOut | undefined {
  const buf = asBuffer(bytes);
  const r = onlyReply(buf);
  if (r === undefined) return undefined;
  const end = buf.byteLength;
  let commandId = 0;
  let clientAction: ClientAction | undefined;
  let stateAction: ValueEntityAction | undefined;
  while (r.at < end) {
    const tag = r.varint32();
    if (tag === 0x08) {
      commandId = r.varint32();
      if (commandId < 0) return undefined;
      continue;
    }
    if (tag !== 0x12 && tag !== 0x22) return undefined;
    const fieldEnd = r.delimited();
    if (fieldEnd < 0) return undefined;
    if (tag === 0x12) {
      if (clientAction !== undefined) return undefined;
      clientAction = readClientAction(buf, r.at, fieldEnd);
      if (clientAction === undefined) return undefined;
    } else {
      if (stateAction !== undefined) return undefined;
      stateAction = readValueEntityAction(buf, r.at, fieldEnd);
      if (stateAction === undefined) return undefined;
    }
    r.at = fieldEnd;
  }
  const reply: Record<string, unknown> = { $typeName: "cloudstate.valueentity.ValueEntityReply", commandId: BigInt(commandId), sideEffects: [] };
  if (clientAction !== undefined) reply.clientAction = clientAction;
  if (stateAction !== undefined) reply.stateAction = stateAction;
  return { $typeName: "cloudstate.valueentity.ValueEntityStreamOut", message: { case: "reply", value: reply } } as unknown as ValueEntityStreamOut;
}

function readValueEntityAction(buf: Buffer, start: number, end: number): ValueEntityAction | undefined {
  const r = new Reader(buf, start, end);
  const tag = r.varint32();
  if (tag !== 0x0a && tag !== 0x12) return undefined;
  const fieldEnd = r.delimited();
  if (fieldEnd !== end) return undefined;
  if (tag === 0x12) {
    if (fieldEnd !== r.at) return undefined; // ValueEntityDelete has no fields
    return {
      $typeName: "cloudstate.valueentity.ValueEntityAction",
      action: { case: "delete", value: { $typeName: "cloudstate.valueentity.ValueEntityDelete" } },
    };
  }
  const update: { $typeName: "cloudstate.valueentity.ValueEntityUpdate"; value?: Any } = { $typeName: "cloudstate.valueentity.ValueEntityUpdate" };
  if (r.at < fieldEnd) {
    if (r.varint32() !== 0x0a) return undefined;
    const valueEnd = r.delimited();
    if (valueEnd !== fieldEnd) return undefined;
    const value = readAny(buf, r.at, valueEnd);
    if (value === undefined) return undefined;
    update.value = value;
  }
  return { $typeName: "cloudstate.valueentity.ValueEntityAction", action: { case: "update", value: update as ValueEntityUpdate } };
}

/**
 * `EventSourcedStreamOut` when it is a reply with a command id, at most one client action
 * that is a reply, any number of events and at most one snapshot; no side effects.
 * EventSourcedReply: command_id 1, client_action 2, side_effects 3, events 4, snapshot 5.
 */
export function readEventSourcedStreamOut(bytes: Uint8Array): EventSourcedStreamOut | undefined {
  const buf = asBuffer(bytes);
  const r = onlyReply(buf);
  if (r === undefined) return undefined;
  const end = buf.byteLength;
  let commandId = 0;
  let clientAction: ClientAction | undefined;
  let snapshot: Any | undefined;
  const events: Any[] = [];
  while (r.at < end) {
    const tag = r.varint32();
    if (tag === 0x08) {
      commandId = r.varint32();
      if (commandId < 0) return undefined;
      continue;
    }
    if (tag !== 0x12 && tag !== 0x22 && tag !== 0x2a) return undefined;
    const fieldEnd = r.delimited();
    if (fieldEnd < 0) return undefined;
    if (tag === 0x12) {
      if (clientAction !== undefined) return undefined;
      clientAction = readClientAction(buf, r.at, fieldEnd);
      if (clientAction === undefined) return undefined;
    } else {
      if (tag === 0x2a && snapshot !== undefined) return undefined;
      const any = readAny(buf, r.at, fieldEnd);
      if (any === undefined) return undefined;
      if (tag === 0x22) events.push(any);
      else snapshot = any;
    }
    r.at = fieldEnd;
  }
  const reply: Record<string, unknown> = { $typeName: "cloudstate.eventsourced.EventSourcedReply", commandId: BigInt(commandId), sideEffects: [], events };
  if (clientAction !== undefined) reply.clientAction = clientAction;
  if (snapshot !== undefined) reply.snapshot = snapshot;
  return { $typeName: "cloudstate.eventsourced.EventSourcedStreamOut", message: { case: "reply", value: reply } } as unknown as EventSourcedStreamOut;
}

/** The frame encoder of a request type: the hand-written one where there is one, else protobuf-es. */
export function frameEncoderFor(schema: DescMessage, frame: (message: Uint8Array) => Buffer): FrameEncoder {
  const generic = (message: unknown) => frame(toBinary(schema, message as MessageShape<DescMessage>));
  if (schema.typeName === ActionCommandSchema.typeName) {
    return (message) => encodeActionCommandFrame(message as ActionCommand) ?? generic(message);
  }
  const commandTag = COMMAND_TAGS.get(schema.typeName);
  if (commandTag !== undefined) {
    return (message) => encodeCommandStreamInFrame(commandTag, message as Parameters<typeof encodeCommandStreamInFrame>[1]) ?? generic(message);
  }
  return generic;
}

/** The decoder of a response type: the hand-written one where there is one (falling back to protobuf-es), else protobuf-es. */
export function decoderFor(schema: DescMessage): Decoder {
  if (schema.typeName === ActionResponseSchema.typeName) {
    return (bytes) => readActionResponse(bytes) ?? fromBinary(ActionResponseSchema, bytes);
  }
  if (schema.typeName === ValueEntityStreamOutSchema.typeName) {
    return (bytes) => readValueEntityStreamOut(bytes) ?? fromBinary(ValueEntityStreamOutSchema, bytes);
  }
  if (schema.typeName === EventSourcedStreamOutSchema.typeName) {
    return (bytes) => readEventSourcedStreamOut(bytes) ?? fromBinary(EventSourcedStreamOutSchema, bytes);
  }
  return (bytes) => fromBinary(schema, bytes);
}
