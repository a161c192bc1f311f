/**
 * Hand-written codecs of the hottest protocol messages, used by the user-function client
 * instead of protobuf-es's reflective `toBinary`/`fromBinary`:
 *
 * - `ActionCommand` (cloudstate.action, sent once per Action call) is written straight
 *   into its gRPC frame: one buffer, no writer, no intermediate arrays. The bytes are
 *   exactly what protobuf-es writes (fields in number order, proto3 implicit-presence
 *   fields left out when empty, a set message field always written); the tests check
 *   byte identity.
 * - `ActionResponse` is read without reflection when it is the common shape (no
 *   response, or a reply whose payload and metadata are plain); anything else (side
 *   effects, forwards, failures, unknown fields, bad input) falls back to protobuf-es,
 *   so the result is always what `fromBinary` gives.
 *
 * A message object with unknown fields (`$unknown`) is always encoded by protobuf-es.
 */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { type ActionCommand, ActionCommandSchema, type ActionResponse, ActionResponseSchema, type MetadataEntry } from "@switchboard/protocol";

/** Encodes one message as a complete gRPC frame (5-byte prefix + message). */
export type FrameEncoder = (message: unknown) => Buffer;
/** Decodes one message from the user function. */
export type Decoder = (bytes: Uint8Array) => unknown;

function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buffer[offset++] = value;
  return offset;
}

/** Size of a length-delimited field (tag of one byte) holding `length` bytes. */
const fieldSize = (length: number) => 1 + varintSize(length) + length;

function hasUnknown(message: unknown): boolean {
  return (message as { $unknown?: unknown[] }).$unknown !== undefined && ((message as { $unknown: unknown[] }).$unknown.length ?? 0) > 0;
}

function anySize(any: Any, typeUrlBytes: number): number {
  return (typeUrlBytes === 0 ? 0 : fieldSize(typeUrlBytes)) + (any.value.byteLength === 0 ? 0 : fieldSize(any.value.byteLength));
}

function writeString(buffer: Buffer, at: number, tag: number, value: string, bytes: number): number {
  buffer[at++] = tag;
  at = writeVarint(buffer, at, bytes);
  return at + buffer.write(value, at, bytes, "utf8");
}

function writeBytes(buffer: Buffer, at: number, tag: number, value: Uint8Array): number {
  buffer[at++] = tag;
  at = writeVarint(buffer, at, value.byteLength);
  buffer.set(value, at);
  return at + value.byteLength;
}

/** The byte length of a string in UTF-8 (ASCII strings are measured without a scan in C++). */
function utf8Length(value: string): number {
  return value.length === 0 ? 0 : Buffer.byteLength(value, "utf8");
}

/** Size of one `MetadataEntry`, or -1 when it needs the generic encoder. */
function entrySize(entry: MetadataEntry): number {
  if (hasUnknown(entry)) return -1;
  const key = utf8Length(entry.key);
  let size = key === 0 ? 0 : fieldSize(key);
  const value = entry.value;
  if (value.case === "stringValue") size += fieldSize(utf8Length(value.value));
  else if (value.case === "bytesValue") size += fieldSize(value.value.byteLength);
  return size;
}

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
  if (payload !== undefined) {
    frame[at++] = 0x22;
    at = writeVarint(frame, at, payloadSize);
    if (payloadTypeUrl !== 0) at = writeString(frame, at, 0x0a, payload.typeUrl, payloadTypeUrl);
    if (payload.value.byteLength !== 0) at = writeBytes(frame, at, 0x12, payload.value);
  }
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

/** A reader over one message; every method returns -1 (or undefined) on malformed input. */
class Reader {
  at: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.at = start;
  }
  /** A varint of at most 32 bits (tags and lengths), or -1. */
  varint32(): number {
    let result = 0;
    let shift = 0;
    while (this.at < this.end && shift < 35) {
      const byte = this.buf[this.at++] as number;
      result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result >>> 0;
      shift += 7;
    }
    return -1;
  }
  /** The end offset of a length-delimited field whose length comes next, or -1. */
  delimited(): number {
    const length = this.varint32();
    if (length < 0 || length > this.end - this.at) return -1;
    return this.at + length;
  }
}

const textDecoder = new TextDecoder();

function readString(buf: Buffer, start: number, end: number): string {
  if (end === start) return "";
  // The same decoder protobuf-es uses, so malformed UTF-8 reads the same.
  return textDecoder.decode(buf.subarray(start, end));
}

/** `google.protobuf.Any` in [start, end), or undefined for anything but type_url/value. */
function readAny(buf: Buffer, start: number, end: number): Any | undefined {
  const r = new Reader(buf, start, end);
  let typeUrl = "";
  let value: Uint8Array = new Uint8Array(0);
  while (r.at < end) {
    const tag = r.varint32();
    if (tag !== 0x0a && tag !== 0x12) return undefined;
    const fieldEnd = r.delimited();
    if (fieldEnd < 0) return undefined;
    if (tag === 0x0a) typeUrl = readString(buf, r.at, fieldEnd);
    else value = buf.subarray(r.at, fieldEnd);
    r.at = fieldEnd;
  }
  return { $typeName: "google.protobuf.Any", typeUrl, value };
}

/** `cloudstate.Metadata` in [start, end), or undefined for anything unusual. */
function readMetadata(buf: Buffer, start: number, end: number): ActionCommand["metadata"] {
  const r = new Reader(buf, start, end);
  const entries: MetadataEntry[] = [];
  while (r.at < end) {
    if (r.varint32() !== 0x0a) return undefined;
    const entryEnd = r.delimited();
    if (entryEnd < 0) return undefined;
    const e = new Reader(buf, r.at, entryEnd);
    let key = "";
    let value: MetadataEntry["value"] = { case: undefined };
    while (e.at < entryEnd) {
      const tag = e.varint32();
      if (tag !== 0x0a && tag !== 0x12 && tag !== 0x1a) return undefined;
      const fieldEnd = e.delimited();
      if (fieldEnd < 0) return undefined;
      if (tag === 0x0a) key = readString(buf, e.at, fieldEnd);
      else if (tag === 0x12) value = { case: "stringValue", value: readString(buf, e.at, fieldEnd) };
      else value = { case: "bytesValue", value: buf.subarray(e.at, fieldEnd) };
      e.at = fieldEnd;
    }
    entries.push({ $typeName: "cloudstate.MetadataEntry", key, value });
    r.at = entryEnd;
  }
  return { $typeName: "cloudstate.Metadata", entries };
}

/**
 * `ActionResponse` without reflection when it is empty or a plain reply (payload and
 * metadata, each at most once); undefined for every other shape.
 * Field numbers: failure 1, reply 2 (Reply: payload 1, metadata 2), forward 3, side_effects 4.
 */
export function readActionResponse(bytes: Uint8Array): ActionResponse | undefined {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = buf.byteLength;
  if (end === 0) return { $typeName: "cloudstate.action.ActionResponse", response: { case: undefined }, sideEffects: [] };
  const r = new Reader(buf, 0, end);
  if (r.varint32() !== 0x12) return undefined;
  const replyEnd = r.delimited();
  if (replyEnd !== end) return undefined; // a second field (or a repeated reply): the generic path merges them
  const reply: { $typeName: "cloudstate.Reply"; payload?: Any; metadata?: ActionCommand["metadata"] } = { $typeName: "cloudstate.Reply" };
  while (r.at < replyEnd) {
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
  return { $typeName: "cloudstate.action.ActionResponse", response: { case: "reply", value: reply }, sideEffects: [] } as unknown as ActionResponse;
}

/** The frame encoder of a request type: the hand-written one where there is one, else protobuf-es. */
export function frameEncoderFor(schema: DescMessage, frame: (message: Uint8Array) => Buffer): FrameEncoder {
  const generic = (message: unknown) => frame(toBinary(schema, message as MessageShape<DescMessage>));
  if (schema.typeName === ActionCommandSchema.typeName) {
    return (message) => encodeActionCommandFrame(message as ActionCommand) ?? generic(message);
  }
  return generic;
}

/** The decoder of a response type: the hand-written one where there is one (falling back to protobuf-es), else protobuf-es. */
export function decoderFor(schema: DescMessage): Decoder {
  if (schema.typeName === ActionResponseSchema.typeName) {
    return (bytes) => readActionResponse(bytes) ?? fromBinary(ActionResponseSchema, bytes);
  }
  return (bytes) => fromBinary(schema, bytes);
}
