/**
 * Hand-written codecs of the messages the user function reads and writes once per command,
 * used by the transport instead of protobuf-es's reflective `fromBinary`/`toBinary`:
 *
 * - `ActionCommand`, and the `command` of `ValueEntityStreamIn` and `EventSourcedStreamIn`,
 *   are read without reflection; anything else (init, events, unknown fields, a repeated
 *   field, bad input) is left to protobuf-es, so the result is always what `fromBinary` gives;
 * - an `ActionResponse` that is a plain reply (or empty), and a `reply` of
 *   `ValueEntityStreamOut` and `EventSourcedStreamOut` of the common shape (a reply payload,
 *   a state update or delete, events, a snapshot), with no side effects, no metadata and no
 *   forward or failure, is written straight into one buffer, byte for byte what `toBinary`
 *   writes; any other message is written by protobuf-es.
 *
 * The proxy has the mirror image (it writes commands and reads replies); both build on
 * `@switchboard/protocol/wire`.
 *
 * @module
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
  type EventSourcedReply,
  EventSourcedStreamOutSchema,
  type ValueEntityAction,
  type ValueEntityReply,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import {
  anySize,
  asBuffer,
  COMMAND_TAGS,
  fieldSize,
  hasUnknown,
  Reader,
  readAny,
  readMetadata,
  readString,
  utf8Length,
  varintSize,
  writeAny,
  writeVarint,
} from "@switchboard/protocol/wire";

/**
 * The `Command` of a stream-in message whose only field is `command` (tag byte `commandTag`),
 * or undefined for every other message.
 * Command: entity_id 1, id 2 (int64), name 3, payload 4 (Any), streamed 5 (bool), metadata 6.
 */
export function readCommand(bytes: Uint8Array, commandTag: number): Command | undefined {
  const buf = asBuffer(bytes);
  const end = buf.byteLength;
  const outer = new Reader(buf, 0, end);
  if (outer.varint32() !== commandTag) return undefined;
  const commandEnd = outer.delimited();
  if (commandEnd !== end) return undefined; // a second field: protobuf-es merges or picks
  const r = new Reader(buf, outer.at, end);
  let entityId = "";
  let id = 0;
  let name = "";
  let streamed = false;
  let payload: Any | undefined;
  let metadata: Command["metadata"];
  /** Fields seen, one bit per field number: a repeated one is left to protobuf-es. */
  let seen = 0;
  while (r.at < end) {
    const tag = r.varint32();
    const field = tag >>> 3;
    if (field < 1 || field > 6 || (seen & (1 << field)) !== 0) return undefined;
    seen |= 1 << field;
    if (tag === 0x10 || tag === 0x28) {
      const value = r.varint32();
      if (value < 0 || value > 0x7fffffff) return undefined;
      if (tag === 0x10) id = value;
      else if (value > 1) return undefined;
      else streamed = value === 1;
      continue;
    }
    if ((tag & 7) !== 2) return undefined;
    const fieldEnd = r.delimited();
    if (fieldEnd < 0) return undefined;
    if (field === 1) entityId = readString(buf, r.at, fieldEnd);
    else if (field === 3) name = readString(buf, r.at, fieldEnd);
    else if (field === 4) {
      payload = readAny(buf, r.at, fieldEnd);
      if (payload === undefined) return undefined;
    } else if (field === 6) {
      metadata = readMetadata(buf, r.at, fieldEnd);
      if (metadata === undefined) return undefined;
    } else return undefined;
    r.at = fieldEnd;
  }
  const command: { -readonly [K in keyof Command]?: Command[K] } = { $typeName: "cloudstate.Command", entityId, id: BigInt(id), name, streamed };
  if (payload !== undefined) command.payload = payload;
  if (metadata !== undefined) command.metadata = metadata;
  return command as Command;
}

/**
 * An `ActionCommand` read without reflection, or undefined for anything unusual.
 * ActionCommand: service_name 2, name 3, payload 4 (Any), metadata 5.
 */
export function readActionCommand(bytes: Uint8Array): ActionCommand | undefined {
  const buf = asBuffer(bytes);
  const end = buf.byteLength;
  const r = new Reader(buf, 0, end);
  let serviceName = "";
  let name = "";
  let payload: Any | undefined;
  let metadata: ActionCommand["metadata"];
  let seen = 0;
  while (r.at < end) {
    const tag = r.varint32();
    const field = tag >>> 3;
    if ((tag & 7) !== 2 || field < 2 || field > 5 || (seen & (1 << field)) !== 0) return undefined;
    seen |= 1 << field;
    const fieldEnd = r.delimited();
    if (fieldEnd < 0) return undefined;
    if (field === 2) serviceName = readString(buf, r.at, fieldEnd);
    else if (field === 3) name = readString(buf, r.at, fieldEnd);
    else if (field === 4) {
      payload = readAny(buf, r.at, fieldEnd);
      if (payload === undefined) return undefined;
    } else {
      metadata = readMetadata(buf, r.at, fieldEnd);
      if (metadata === undefined) return undefined;
    }
    r.at = fieldEnd;
  }
  const command: { -readonly [K in keyof ActionCommand]?: ActionCommand[K] } = { $typeName: "cloudstate.action.ActionCommand", serviceName, name };
  if (payload !== undefined) command.payload = payload;
  if (metadata !== undefined) command.metadata = metadata;
  return command as ActionCommand;
}

const EMPTY = Buffer.alloc(0);

/**
 * `ActionResponse` as bytes when it is a plain reply with a payload and no metadata, or
 * empty, in either case without side effects; else undefined.
 * ActionResponse: failure 1, reply 2 (Reply: payload 1, metadata 2), forward 3, side_effects 4.
 */
export function encodeActionResponse(response: ActionResponse): Buffer | undefined {
  if (hasUnknown(response) || response.sideEffects.length > 0) return undefined;
  if (response.response.case === undefined) return EMPTY;
  if (response.response.case !== "reply") return undefined;
  const reply = response.response.value;
  if (hasUnknown(reply) || reply.metadata !== undefined || reply.payload === undefined) return undefined;
  const payload = sizeOfAny(reply.payload);
  if (payload === undefined) return undefined;
  const replySize = fieldSize(payload.body);
  const buffer = Buffer.allocUnsafe(fieldSize(replySize));
  buffer[0] = 0x12; // reply = 2
  const at = writeVarint(buffer, 1, replySize);
  writeAny(buffer, at, 0x0a, reply.payload, payload.typeUrl, payload.body); // Reply.payload = 1
  return buffer;
}

/** A stream-out message of either entity protocol, as far as the reply encoders look at it. */
type StreamOut = { readonly message: { readonly case: string | undefined; readonly value?: unknown } };

/** An `Any` field's sizes: its body, and its type URL in UTF-8. */
interface AnySizes {
  readonly body: number;
  readonly typeUrl: number;
}

function sizeOfAny(any: Any): AnySizes | undefined {
  if (hasUnknown(any)) return undefined;
  const typeUrl = utf8Length(any.typeUrl);
  return { body: anySize(any, typeUrl), typeUrl };
}

/** The reply payload of a client action that is a plain reply (no metadata), or null for none; undefined when it needs protobuf-es. */
function replyPayload(clientAction: ClientAction | undefined): Any | null | undefined {
  if (clientAction === undefined) return null;
  if (hasUnknown(clientAction) || clientAction.action.case !== "reply") return undefined;
  const reply = clientAction.action.value;
  if (hasUnknown(reply) || reply.metadata !== undefined || reply.payload === undefined) return undefined;
  return reply.payload;
}

/** A command id that fits in 31 bits, else -1. */
function commandIdOf(id: bigint): number {
  return id >= 0n && id <= 0x7fffffffn ? Number(id) : -1;
}

/**
 * Writes `[outer tag 0x0a][length][command_id][client_action: reply{payload}]` and returns the
 * buffer and the offset where the protocol's own fields go next.
 */
function startReply(
  inner: number,
  commandId: number,
  payload: Any | null,
  payloadSizes: AnySizes | undefined,
  clientActionSize: number,
  replySize: number,
): [Buffer, number] {
  const buffer = Buffer.allocUnsafe(fieldSize(inner));
  buffer[0] = 0x0a;
  let at = writeVarint(buffer, 1, inner);
  if (commandId !== 0) {
    buffer[at++] = 0x08;
    at = writeVarint(buffer, at, commandId);
  }
  if (payload !== null && payloadSizes !== undefined) {
    buffer[at++] = 0x12; // client_action = 2
    at = writeVarint(buffer, at, clientActionSize);
    buffer[at++] = 0x0a; // ClientAction.reply = 1
    at = writeVarint(buffer, at, replySize);
    at = writeAny(buffer, at, 0x0a, payload, payloadSizes.typeUrl, payloadSizes.body); // Reply.payload = 1
  }
  return [buffer, at];
}

/** The command id and client action of a reply, with their sizes. */
interface ReplyHead {
  readonly commandId: number;
  readonly payload: Any | null;
  readonly payloadSizes: AnySizes | undefined;
  readonly clientActionSize: number;
  readonly replySize: number;
  /** Bytes of both fields. */
  readonly size: number;
}

/** The head of a reply, or undefined when protobuf-es must write the reply. */
function replyHead(reply: ValueEntityReply | EventSourcedReply): ReplyHead | undefined {
  if (hasUnknown(reply) || reply.sideEffects.length > 0) return undefined;
  const commandId = commandIdOf(reply.commandId);
  if (commandId < 0) return undefined;
  const payload = replyPayload(reply.clientAction);
  if (payload === undefined) return undefined;
  let size = commandId === 0 ? 0 : 1 + varintSize(commandId);
  let payloadSizes: AnySizes | undefined;
  let replySize = 0;
  let clientActionSize = 0;
  if (payload !== null) {
    payloadSizes = sizeOfAny(payload);
    if (payloadSizes === undefined) return undefined;
    replySize = fieldSize(payloadSizes.body);
    clientActionSize = fieldSize(replySize);
    size += fieldSize(clientActionSize);
  }
  return { commandId, payload, payloadSizes, clientActionSize, replySize, size };
}

/**
 * `ValueEntityStreamOut` as bytes when it is a reply of the common shape, else undefined.
 * ValueEntityStreamOut: reply 1; ValueEntityReply: command_id 1, client_action 2,
 * side_effects 3, state_action 4; ValueEntityAction: update 1 (ValueEntityUpdate: value 1), delete 2.
 */
export function encodeValueEntityReply(message: StreamOut): Buffer | undefined {
  if (hasUnknown(message) || message.message.case !== "reply") return undefined;
  const reply = message.message.value as ValueEntityReply;
  const head = replyHead(reply);
  if (head === undefined) return undefined;
  let inner = head.size;
  const stateAction: ValueEntityAction | undefined = reply.stateAction;
  let actionSize = 0;
  let updateSize = 0;
  let value: Any | undefined;
  let valueSizes: AnySizes | undefined;
  if (stateAction !== undefined) {
    if (hasUnknown(stateAction)) return undefined;
    const action = stateAction.action;
    if (action.case === "update") {
      if (hasUnknown(action.value)) return undefined;
      value = action.value.value;
      if (value !== undefined) {
        valueSizes = sizeOfAny(value);
        if (valueSizes === undefined) return undefined;
        updateSize = fieldSize(valueSizes.body);
      }
      actionSize = fieldSize(updateSize);
    } else if (action.case === "delete") {
      if (hasUnknown(action.value)) return undefined;
      actionSize = 2; // tag and a zero length
    } else return undefined;
    inner += fieldSize(actionSize);
  }
  const [buffer, start] = startReply(inner, head.commandId, head.payload, head.payloadSizes, head.clientActionSize, head.replySize);
  let at = start;
  if (stateAction !== undefined) {
    buffer[at++] = 0x22; // state_action = 4
    at = writeVarint(buffer, at, actionSize);
    if (stateAction.action.case === "update") {
      buffer[at++] = 0x0a;
      at = writeVarint(buffer, at, updateSize);
      if (value !== undefined && valueSizes !== undefined) at = writeAny(buffer, at, 0x0a, value, valueSizes.typeUrl, valueSizes.body);
    } else {
      buffer[at++] = 0x12;
      buffer[at++] = 0;
    }
  }
  return buffer;
}

/**
 * `EventSourcedStreamOut` as bytes when it is a reply of the common shape, else undefined.
 * EventSourcedStreamOut: reply 1; EventSourcedReply: command_id 1, client_action 2,
 * side_effects 3, events 4 (Any), snapshot 5 (Any).
 */
export function encodeEventSourcedReply(message: StreamOut): Buffer | undefined {
  if (hasUnknown(message) || message.message.case !== "reply") return undefined;
  const reply = message.message.value as EventSourcedReply;
  const head = replyHead(reply);
  if (head === undefined) return undefined;
  let inner = head.size;
  const events = reply.events;
  const eventSizes: AnySizes[] = [];
  for (const event of events) {
    const sizes = sizeOfAny(event);
    if (sizes === undefined) return undefined;
    eventSizes.push(sizes);
    inner += fieldSize(sizes.body);
  }
  const snapshot = reply.snapshot;
  let snapshotSizes: AnySizes | undefined;
  if (snapshot !== undefined) {
    snapshotSizes = sizeOfAny(snapshot);
    if (snapshotSizes === undefined) return undefined;
    inner += fieldSize(snapshotSizes.body);
  }
  const [buffer, start] = startReply(inner, head.commandId, head.payload, head.payloadSizes, head.clientActionSize, head.replySize);
  let at = start;
  for (let i = 0; i < events.length; i++) {
    const sizes = eventSizes[i] as AnySizes;
    at = writeAny(buffer, at, 0x22, events[i] as Any, sizes.typeUrl, sizes.body);
  }
  if (snapshot !== undefined && snapshotSizes !== undefined) at = writeAny(buffer, at, 0x2a, snapshot, snapshotSizes.typeUrl, snapshotSizes.body);
  return buffer;
}

/** The serializer of a message type for grpc-js: the hand-written one where there is one, else protobuf-es. */
export function serializerFor(schema: DescMessage): (message: unknown) => Buffer {
  const generic = (message: unknown): Buffer => asBuffer(toBinary(schema, message as MessageShape<DescMessage>));
  if (schema.typeName === ValueEntityStreamOutSchema.typeName) {
    return (message) => encodeValueEntityReply(message as StreamOut) ?? generic(message);
  }
  if (schema.typeName === EventSourcedStreamOutSchema.typeName) {
    return (message) => encodeEventSourcedReply(message as StreamOut) ?? generic(message);
  }
  if (schema.typeName === ActionResponseSchema.typeName) {
    return (message) => encodeActionResponse(message as ActionResponse) ?? generic(message);
  }
  return generic;
}

/** The deserializer of a message type for grpc-js: the hand-written one (falling back to protobuf-es) where there is one, else protobuf-es. */
export function deserializerFor(schema: DescMessage): (bytes: Buffer) => unknown {
  if (schema.typeName === ActionCommandSchema.typeName) return (bytes) => readActionCommand(bytes) ?? fromBinary(schema, bytes);
  const commandTag = COMMAND_TAGS.get(schema.typeName);
  if (commandTag === undefined) return (bytes) => fromBinary(schema, bytes);
  const typeName = schema.typeName;
  return (bytes) => {
    const command = readCommand(bytes, commandTag);
    return command === undefined ? fromBinary(schema, bytes) : { $typeName: typeName, message: { case: "command", value: command } };
  };
}
