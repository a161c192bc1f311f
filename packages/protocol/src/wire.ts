/**
 * Protobuf wire primitives for hand-written codecs of the hottest protocol messages.
 *
 * The proxy (which sends commands and reads replies) and the SDK (which reads commands
 * and sends replies) each hand-code the few messages that cross the user-function
 * channel once per call, instead of running protobuf-es's reflective `toBinary` and
 * `fromBinary` on them. Both build on these pieces, so both write exactly what
 * protobuf-es writes (fields in number order, proto3 implicit-presence fields left out
 * when empty, a set message field always written) and read into the same message
 * shapes (`$typeName`, defaults for absent scalars, absent message fields left out).
 *
 * Readers return -1 or `undefined` on anything they were not written for (a field they
 * do not know, a repeated singular field, malformed input); the caller then falls back
 * to protobuf-es, so a result is always what protobuf-es would give.
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Metadata, MetadataEntry } from "./gen/cloudstate/entity_pb.js";

/**
 * Where the `command` field sits in each entity protocol's stream-in message (its tag byte),
 * by type name: the one field both sides hand-code in those messages.
 */
export const COMMAND_TAGS: ReadonlyMap<string, number> = new Map([
  ["cloudstate.valueentity.ValueEntityStreamIn", 0x12], // command = 2
  ["cloudstate.eventsourced.EventSourcedStreamIn", 0x1a], // command = 3
]);

/** Bytes a varint of `value` (0 … 2^32-1) takes. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Writes `value` (0 … 2^32-1) as a varint at `offset`; returns the offset after it. */
export function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buffer[offset++] = value;
  return offset;
}

/** Size of a length-delimited field (tag of one byte) holding `length` bytes. */
export const fieldSize = (length: number): number => 1 + varintSize(length) + length;

/** Whether a message object carries unknown fields (which only protobuf-es writes back). */
export function hasUnknown(message: unknown): boolean {
  const unknown = (message as { $unknown?: unknown[] }).$unknown;
  return unknown !== undefined && unknown.length > 0;
}

/** The byte length of a string in UTF-8 (ASCII strings are measured without a scan in C++). */
export function utf8Length(value: string): number {
  return value.length === 0 ? 0 : Buffer.byteLength(value, "utf8");
}

/** Size of the body of an `Any` whose type URL takes `typeUrlBytes`. */
export function anySize(any: Any, typeUrlBytes: number): number {
  return (typeUrlBytes === 0 ? 0 : fieldSize(typeUrlBytes)) + (any.value.byteLength === 0 ? 0 : fieldSize(any.value.byteLength));
}

/** Writes a string field (one-byte tag) whose UTF-8 length is `bytes`. */
export function writeString(buffer: Buffer, at: number, tag: number, value: string, bytes: number): number {
  buffer[at++] = tag;
  at = writeVarint(buffer, at, bytes);
  return at + buffer.write(value, at, bytes, "utf8");
}

/** Writes a bytes field (one-byte tag). */
export function writeBytes(buffer: Buffer, at: number, tag: number, value: Uint8Array): number {
  buffer[at++] = tag;
  at = writeVarint(buffer, at, value.byteLength);
  buffer.set(value, at);
  return at + value.byteLength;
}

/** A set `Any` field: tag, length, then type_url and value when not empty. */
export function writeAny(buffer: Buffer, at: number, tag: number, any: Any, typeUrlBytes: number, size: number): number {
  buffer[at++] = tag;
  at = writeVarint(buffer, at, size);
  if (typeUrlBytes !== 0) at = writeString(buffer, at, 0x0a, any.typeUrl, typeUrlBytes);
  if (any.value.byteLength !== 0) at = writeBytes(buffer, at, 0x12, any.value);
  return at;
}

/** Size of one `MetadataEntry` (key 1, string_value 2, bytes_value 3), or -1 when it needs protobuf-es. */
export function entrySize(entry: MetadataEntry): number {
  if (hasUnknown(entry)) return -1;
  const key = utf8Length(entry.key);
  let size = key === 0 ? 0 : fieldSize(key);
  const value = entry.value;
  if (value.case === "stringValue") size += fieldSize(utf8Length(value.value));
  else if (value.case === "bytesValue") size += fieldSize(value.value.byteLength);
  return size;
}

/** A reader over one message; every method returns -1 (or undefined) on malformed input. */
export class Reader {
  at: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.at = start;
  }
  /** A varint of at most 32 bits (tags, lengths, small ids), or -1 (truncated, or wider). */
  varint32(): number {
    let result = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.at >= this.end) return -1;
      const byte = this.buf[this.at++] as number;
      result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result >>> 0;
    }
    if (this.at >= this.end) return -1;
    const last = this.buf[this.at++] as number;
    if (last > 0x0f) return -1;
    return (result >>> 0) + last * 0x10000000;
  }
  /** The end offset of a length-delimited field whose length comes next, or -1. */
  delimited(): number {
    const length = this.varint32();
    if (length < 0 || length > this.end - this.at) return -1;
    return this.at + length;
  }
}

const textDecoder = new TextDecoder();

/** The UTF-8 string in [start, end). */
export function readString(buf: Buffer, start: number, end: number): string {
  if (end === start) return "";
  // The same decoder protobuf-es uses, so malformed UTF-8 reads the same.
  return textDecoder.decode(buf.subarray(start, end));
}

/** `google.protobuf.Any` in [start, end), or undefined for anything but type_url/value. */
export function readAny(buf: Buffer, start: number, end: number): Any | undefined {
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
export function readMetadata(buf: Buffer, start: number, end: number): Metadata | undefined {
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

/** `bytes` as a Buffer over the same memory. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
