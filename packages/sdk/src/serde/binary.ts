/**
 * The user's messages (commands, replies, state, events) encoded, decoded, copied and created
 * without protobuf-es's reflection, for the shapes most messages have, and by protobuf-es for the
 * rest.
 *
 * protobuf-es v2 handles every message through a reflective layer (a wrapper per message, a
 * writer that forks per nested message, `TextDecoder` per string, a field-by-field walk for
 * `clone` and `create`). For the small messages a user function handles per command that was a
 * fifth of its CPU. Here a plan is made once per message type from its descriptor, and a message
 * of that type is read or written in one pass over one buffer.
 *
 * A type gets a plan when it is a proto3 message whose every field is a singular or repeated
 * `string`, `bytes`, `bool`, `int32`, `uint32`, `int64`, `uint64`, `double`, `float`, open enum
 * or message field of a type with a plan (no maps, no oneofs, no `optional` scalars, no
 * wrapper or `Struct` fields, no 64-bit integers as strings). Anything else, and anything a
 * plan does not expect in a given message (an unknown field, a field seen twice where
 * protobuf-es would merge, a wire type that does not match, non-ASCII text that is not valid
 * UTF-8, a value of the wrong type or range, unknown fields to write back), is left to
 * `fromBinary`, `toBinary` or `clone`: the result is always what protobuf-es gives, errors
 * included.
 *
 * @module
 */
import {
  clone,
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { Edition, FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { isUtf8 } from "node:buffer";
import { utf8Length } from "@switchboard/protocol/wire";

/** What a plan reads and writes; enums travel as int32. */
enum Kind {
  String,
  Bytes,
  Bool,
  Int32,
  Uint32,
  Int64,
  Uint64,
  Double,
  Float,
  Message,
}

interface FieldPlan {
  readonly no: number;
  readonly name: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  /** Packed repeated scalars (proto3's default for numbers, bools and enums). */
  readonly packed: boolean;
  /** The key: (field number << 3) | wire type, and its size as a varint. */
  readonly tag: number;
  readonly keySize: number;
  /** For enums: the zero value (the first value) that is not written. */
  readonly enumZero: number;
  /** For message fields: the nested type, and its plan (filled in once every plan exists). */
  readonly messageDesc: DescMessage | undefined;
  message: MessagePlan | undefined;
}

interface MessagePlan {
  readonly typeName: string;
  /** By field number, ascending: the order toBinary writes in. */
  readonly fields: readonly FieldPlan[];
  readonly byNumber: ReadonlyMap<number, FieldPlan>;
  /** A zero message of the type (its fields in protobuf-es's order), copied for each decode. */
  readonly template: Fields;
  /** Fields whose zero value is mutable (lists, bytes): fresh in each copy. */
  readonly fresh: readonly (readonly [string, boolean])[];
}

/** Thrown inside a plan when protobuf-es must do the work: never leaves this module. */
const FALLBACK = Symbol("fallback");

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const plans = new WeakMap<DescMessage, MessagePlan | null>();

/** How often a planned type was handed to protobuf-es after all (for tests and profiling). */
export const fallbacks = { encode: 0, decode: 0, clone: 0 };

/** Encodes `message` as `schema`'s binary format: byte for byte what `toBinary` writes. */
export function encodeMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  const plan = planOf(schema);
  // `sizes` is shared: a call made from inside another (a getter on a message that encodes) goes to protobuf-es.
  if (plan !== undefined && !encoding) {
    encoding = true;
    try {
      sizeCount = 0;
      const size = sizeOf(plan, message as unknown as Fields);
      const out = new Uint8Array(size);
      nextSize = 0;
      if (writeMessage(plan, message as unknown as Fields, out, 0) === size) return out;
    } catch (error) {
      if (error !== FALLBACK) throw error;
    } finally {
      encoding = false;
    }
    fallbacks.encode++;
  }
  return toBinary(schema, message);
}

/** Decodes `bytes` as a `schema` message: what `fromBinary` gives, and throws where it throws. */
export function decodeMessage<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  const plan = planOf(schema);
  if (plan !== undefined) {
    try {
      const reader: Reader = { bytes, view: undefined, pos: 0 };
      return readMessage(plan, reader, bytes.byteLength, 0) as unknown as MessageShape<Desc>;
    } catch (error) {
      if (error !== FALLBACK) throw error;
    }
    fallbacks.decode++;
  }
  return fromBinary(schema, bytes);
}

/** Whether messages of `schema` are read and written here rather than by protobuf-es (the tests' window on the choice). */
export function hasPlan(schema: DescMessage): boolean {
  return planOf(schema) !== undefined;
}

/** A deep copy of `message`: what `clone` gives (bytes copied, nested messages and lists new). */
export function cloneMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): MessageShape<Desc> {
  const plan = planOf(schema);
  if (plan !== undefined) {
    try {
      return copyMessage(plan, message as unknown as Fields) as unknown as MessageShape<Desc>;
    } catch (error) {
      if (error !== FALLBACK) throw error;
    }
    fallbacks.clone++;
  }
  return clone(schema, message);
}

/**
 * `create(schema, init)`: `init` itself when it is already a `schema` message, else a zero message
 * with `init`'s fields set as protobuf-es sets them (plain objects in message fields become
 * messages, arrays of numbers in bytes fields become bytes, messages are kept, not copied).
 */
export function createMessage<Desc extends DescMessage>(schema: Desc, init?: MessageInitShape<Desc>): MessageShape<Desc> {
  if (isMessage(init, schema)) return init as MessageShape<Desc>;
  const plan = planOf(schema);
  if (plan === undefined) return create(schema, init);
  return initMessage(plan, init as Record<string, unknown> | undefined) as unknown as MessageShape<Desc>;
}

function initMessage(plan: MessagePlan, init: Record<string, unknown> | undefined): Fields {
  const message = zeroMessage(plan);
  if (init === undefined) return message;
  for (const field of plan.fields) {
    const value = init[field.name];
    if (value === undefined || value === null) continue;
    if (field.repeated) {
      message[field.name] = Array.isArray(value)
        ? field.kind === Kind.Message
          ? value.map((item) => toMessage(field, item))
          : field.kind === Kind.Bytes
            ? value.map(toBytes)
            : value
        : value;
    } else if (field.kind === Kind.Message) message[field.name] = toMessage(field, value);
    else message[field.name] = field.kind === Kind.Bytes ? toBytes(value) : value;
  }
  return message;
}

function toMessage(field: FieldPlan, value: unknown): unknown {
  const plan = field.message as MessagePlan;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  if (typeof (value as Fields).$typeName === "string" && (value as Fields).$typeName === plan.typeName) return value;
  return initMessage(plan, value as Record<string, unknown>);
}

function toBytes(value: unknown): unknown {
  return Array.isArray(value) ? new Uint8Array(value) : value;
}

function checkMessage(plan: MessagePlan, message: Fields): void {
  if (typeof message !== "object" || message === null || message.$typeName !== plan.typeName) throw FALLBACK;
  if (message.$unknown !== undefined && message.$unknown.length > 0) throw FALLBACK;
}

function copyMessage(plan: MessagePlan, message: Fields): Fields {
  checkMessage(plan, message);
  const copy = zeroMessage(plan);
  for (const field of plan.fields) {
    const value = message[field.name];
    if (field.repeated) {
      if (!Array.isArray(value)) throw FALLBACK;
      const list = copy[field.name] as unknown[];
      for (const item of value) {
        if (field.kind === Kind.Message) list.push(copyMessage(field.message as MessagePlan, item as Fields));
        else {
          checkScalar(field, item);
          list.push(field.kind === Kind.Bytes ? (item as Uint8Array).slice() : item);
        }
      }
      continue;
    }
    if (field.kind === Kind.Message) {
      if (value !== undefined && Object.hasOwn(message, field.name)) copy[field.name] = copyMessage(field.message as MessagePlan, value as Fields);
      continue;
    }
    if (isZero(field, value)) continue;
    checkScalar(field, value);
    copy[field.name] = field.kind === Kind.Bytes ? (value as Uint8Array).slice() : value;
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Plans

/** The plan of `desc`, or undefined when protobuf-es handles it. */
function planOf(desc: DescMessage): MessagePlan | undefined {
  const known = plans.get(desc);
  if (known !== undefined) return known ?? undefined;
  // Build the plans of every type reachable from this one together, so that recursive types work.
  const building = new Map<DescMessage, MessagePlan | null>();
  buildPlan(desc, building);
  // A type is plannable only if every type it reaches is.
  let changed = true;
  while (changed) {
    changed = false;
    for (const [d, plan] of building) {
      if (plan === null) continue;
      if (plan.fields.some((f) => f.messageDesc !== undefined && building.get(f.messageDesc) === null)) {
        building.set(d, null);
        changed = true;
      }
    }
  }
  for (const [d, plan] of building) {
    if (plan !== null) for (const f of plan.fields) if (f.messageDesc !== undefined) f.message = building.get(f.messageDesc) ?? undefined;
    plans.set(d, plan);
  }
  return building.get(desc) ?? undefined;
}

const WRAPPERS_AND_JSON = /^google\.protobuf\.(Double|Float|Int64|UInt64|Int32|UInt32|Bool|String|Bytes)Value$|^google\.protobuf\.(Struct|Value|ListValue)$/;

function buildPlan(desc: DescMessage, building: Map<DescMessage, MessagePlan | null>): void {
  if (building.has(desc)) return;
  const known = plans.get(desc);
  if (known !== undefined) {
    building.set(desc, known);
    return;
  }
  if (desc.file.edition !== Edition.EDITION_PROTO3 || desc.oneofs.length > 0 || WRAPPERS_AND_JSON.test(desc.typeName)) {
    building.set(desc, null);
    return;
  }
  const fields: FieldPlan[] = [];
  for (const field of desc.fields) {
    const plan = fieldPlan(field);
    if (plan === undefined) {
      building.set(desc, null);
      return;
    }
    fields.push(plan);
  }
  fields.sort((a, b) => a.no - b.no);
  const template: Fields = { $typeName: desc.typeName };
  const fresh: [string, boolean][] = [];
  for (const member of desc.members) {
    if (member.kind !== "field" || member.presence !== FeatureSet_FieldPresence.IMPLICIT) continue;
    const plan = fields.find((f) => f.no === member.number) as FieldPlan;
    template[member.localName] = plan.repeated ? [] : zeroOf(plan);
    if (plan.repeated || plan.kind === Kind.Bytes) fresh.push([member.localName, plan.repeated]);
  }
  building.set(desc, { typeName: desc.typeName, fields, byNumber: new Map(fields.map((f) => [f.no, f])), template, fresh });
  for (const f of fields) if (f.messageDesc !== undefined) buildPlan(f.messageDesc, building);
}

const SCALAR_KINDS = new Map<ScalarType, Kind>([
  [ScalarType.STRING, Kind.String],
  [ScalarType.BYTES, Kind.Bytes],
  [ScalarType.BOOL, Kind.Bool],
  [ScalarType.INT32, Kind.Int32],
  [ScalarType.UINT32, Kind.Uint32],
  [ScalarType.INT64, Kind.Int64],
  [ScalarType.UINT64, Kind.Uint64],
  [ScalarType.DOUBLE, Kind.Double],
  [ScalarType.FLOAT, Kind.Float],
]);

function wireTypeOf(kind: Kind): number {
  switch (kind) {
    case Kind.String:
    case Kind.Bytes:
    case Kind.Message:
      return WIRE_LENGTH;
    case Kind.Double:
      return WIRE_FIXED64;
    case Kind.Float:
      return WIRE_FIXED32;
    default:
      return WIRE_VARINT;
  }
}

function fieldPlan(field: DescField): FieldPlan | undefined {
  if (field.oneof !== undefined) return undefined;
  let kind: Kind | undefined;
  let repeated = false;
  let enumZero = 0;
  let longAsString = false;
  switch (field.fieldKind) {
    case "scalar":
      if (field.presence !== FeatureSet_FieldPresence.IMPLICIT) return undefined;
      kind = SCALAR_KINDS.get(field.scalar);
      longAsString = field.longAsString;
      break;
    case "enum":
      if (field.presence !== FeatureSet_FieldPresence.IMPLICIT || !field.enum.open) return undefined;
      kind = Kind.Int32;
      enumZero = field.enum.values[0]?.number ?? 0;
      break;
    case "message":
      if (field.delimitedEncoding) return undefined;
      kind = Kind.Message;
      break;
    case "list":
      repeated = true;
      if (field.listKind === "message") {
        if (field.delimitedEncoding) return undefined;
        kind = Kind.Message;
      } else if (field.listKind === "enum") {
        if (!field.enum.open) return undefined;
        kind = Kind.Int32;
      } else {
        kind = SCALAR_KINDS.get(field.scalar);
        longAsString = field.longAsString;
      }
      if (kind !== Kind.String && kind !== Kind.Bytes && kind !== Kind.Message && !field.packed) return undefined;
      break;
    default:
      return undefined;
  }
  if (kind === undefined || longAsString) return undefined;
  const packed = repeated && kind !== Kind.String && kind !== Kind.Bytes && kind !== Kind.Message;
  return {
    no: field.number,
    name: field.localName,
    kind,
    repeated,
    packed,
    tag: field.number * 8 + (packed ? WIRE_LENGTH : wireTypeOf(kind)),
    keySize: varintSize(field.number * 8),
    enumZero,
    messageDesc: kind === Kind.Message ? (field as DescField & { message: DescMessage }).message : undefined,
    message: undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding

type Fields = Record<string, unknown> & { $typeName: string; $unknown?: readonly unknown[] };

interface Reader {
  /** The input as given: `bytes` fields are views of it, as protobuf-es returns them. */
  readonly bytes: Uint8Array;
  /** The same memory as a Buffer, to read text and numbers from (made when first needed). */
  view: Buffer | undefined;
  pos: number;
}

function viewOf(r: Reader): Buffer {
  r.view ??= Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  return r.view;
}

/** Short ASCII text is quicker to build in JavaScript than through a native call. */
const SHORT_TEXT = 24;

function zeroOf(field: FieldPlan): unknown {
  switch (field.kind) {
    case Kind.String:
      return "";
    case Kind.Bytes:
      return new Uint8Array(0);
    case Kind.Bool:
      return false;
    case Kind.Int64:
    case Kind.Uint64:
      return 0n;
    case Kind.Int32:
      return field.enumZero;
    default:
      return 0;
  }
}

function zeroMessage(plan: MessagePlan): Fields {
  const message = { ...plan.template };
  for (const [name, list] of plan.fresh) message[name] = list ? [] : new Uint8Array(0);
  return message;
}

/** Reads a varint of up to 32 bits (the low 32 bits of a longer one); falls back past 10 bytes or the end. */
function varint32(r: Reader, end: number): number {
  const b = r.bytes;
  let pos = r.pos;
  let result = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) throw FALLBACK;
    const byte = b[pos++] as number;
    if (shift < 32) result |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      r.pos = pos;
      return result;
    }
  }
  throw FALLBACK;
}

/** Reads a varint of up to 64 bits as a bigint (unsigned); falls back past 10 bytes or the end. */
function varint64(r: Reader, end: number): bigint {
  const b = r.bytes;
  let pos = r.pos;
  let lo = 0;
  let hi = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) throw FALLBACK;
    const byte = b[pos++] as number;
    const bits = byte & 0x7f;
    if (shift < 28) lo |= bits << shift;
    else if (shift === 28) {
      lo |= (bits & 0x0f) << 28;
      hi |= bits >>> 4;
    } else hi |= bits << (shift - 32);
    if (byte < 0x80) {
      r.pos = pos;
      return hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    }
  }
  throw FALLBACK;
}

function readLength(r: Reader, end: number): number {
  const length = varint32(r, end) >>> 0;
  if (length > end - r.pos) throw FALLBACK;
  return length;
}

function readString(r: Reader, end: number): string {
  const length = readLength(r, end);
  const start = r.pos;
  r.pos = start + length;
  const b = r.bytes;
  let text = "";
  for (let i = start; i < start + length; i++) {
    const c = b[i] as number;
    if (c >= 0x80) {
      const part = viewOf(r).subarray(start, start + length);
      // Invalid UTF-8 is protobuf-es's to judge (it may throw).
      if (!isUtf8(part)) throw FALLBACK;
      return part.toString("utf8");
    }
    if (length <= SHORT_TEXT) text += String.fromCharCode(c);
  }
  return length <= SHORT_TEXT ? text : viewOf(r).toString("latin1", start, start + length);
}

function readValue(field: FieldPlan, r: Reader, end: number, depth: number): unknown {
  switch (field.kind) {
    case Kind.String:
      return readString(r, end);
    case Kind.Bytes: {
      const length = readLength(r, end);
      r.pos += length;
      return r.bytes.subarray(r.pos - length, r.pos);
    }
    case Kind.Bool:
      return varint64(r, end) !== 0n;
    case Kind.Int32:
      return varint32(r, end) | 0;
    case Kind.Uint32:
      return varint32(r, end) >>> 0;
    case Kind.Int64:
      return BigInt.asIntN(64, varint64(r, end));
    case Kind.Uint64:
      return varint64(r, end);
    case Kind.Double: {
      if (end - r.pos < 8) throw FALLBACK;
      r.pos += 8;
      return viewOf(r).readDoubleLE(r.pos - 8);
    }
    case Kind.Float: {
      if (end - r.pos < 4) throw FALLBACK;
      r.pos += 4;
      return viewOf(r).readFloatLE(r.pos - 4);
    }
    case Kind.Message: {
      const length = readLength(r, end);
      return readMessage(field.message as MessagePlan, r, r.pos + length, depth + 1);
    }
  }
}

function readMessage(plan: MessagePlan, r: Reader, end: number, depth: number): Fields {
  // protobuf-es stops at 100 levels with an error of its own.
  if (depth >= 100) throw FALLBACK;
  const message = zeroMessage(plan);
  while (r.pos < end) {
    const tag = varint32(r, end);
    const field = plan.byNumber.get(tag >>> 3);
    if (field === undefined) throw FALLBACK; // an unknown field: protobuf-es keeps it
    const wire = tag & 7;
    if (!field.repeated) {
      if (wire !== wireTypeOf(field.kind)) throw FALLBACK;
      // A message field seen twice is merged by protobuf-es.
      if (field.kind === Kind.Message && message[field.name] !== undefined) throw FALLBACK;
      message[field.name] = readValue(field, r, end, depth);
      continue;
    }
    const list = message[field.name] as unknown[];
    if (field.packed && wire === WIRE_LENGTH) {
      const length = readLength(r, end);
      const stop = r.pos + length;
      while (r.pos < stop) list.push(readValue(field, r, stop, depth));
      continue;
    }
    if (wire !== wireTypeOf(field.kind)) throw FALLBACK;
    list.push(readValue(field, r, end, depth));
  }
  if (r.pos !== end) throw FALLBACK;
  return message;
}

// ---------------------------------------------------------------------------------------------
// Encoding: sizes first (nested sizes kept in visiting order), then one write pass.

/** The sizes of the nested messages and packed lists of the message being encoded, in visiting order. */
const sizes: number[] = [];
let sizeCount = 0;
/** Whether an encoding is under way (it owns `sizes`). */
let encoding = false;
/** The next entry of `sizes` the write pass uses. */
let nextSize = 0;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;
const FLOAT32_MAX = 3.4028234663852886e38;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const textEncoder = new TextEncoder();
/** Scratch space to turn doubles and floats into their bytes. */
const scratch = new DataView(new ArrayBuffer(8));

function varintSize(value: number): number {
  if (value < 0) return 10;
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function varint64Size(value: bigint): number {
  if (value <= SAFE) return varintSize(Number(value));
  let size = 1;
  while (value >= 0x80n) {
    value >>= 7n;
    size++;
  }
  return size;
}

function pushSize(): number {
  if (sizeCount === sizes.length) sizes.push(0);
  return sizeCount++;
}

/** Whether a singular value is left out (proto3 implicit presence); checks its type on the way. */
function isZero(field: FieldPlan, value: unknown): boolean {
  switch (field.kind) {
    case Kind.String:
      if (typeof value !== "string") throw FALLBACK;
      return value === "";
    case Kind.Bytes:
      if (!(value instanceof Uint8Array)) throw FALLBACK;
      return value.byteLength === 0;
    case Kind.Bool:
      if (typeof value !== "boolean") throw FALLBACK;
      return !value;
    case Kind.Int64:
    case Kind.Uint64:
      if (typeof value !== "bigint") throw FALLBACK;
      return value === 0n;
    case Kind.Int32:
      if (typeof value !== "number") throw FALLBACK;
      return value === field.enumZero;
    case Kind.Double:
    case Kind.Float:
      if (typeof value !== "number") throw FALLBACK;
      // -0 is written, as protobuf-es writes it.
      return Object.is(value, 0);
    default:
      if (typeof value !== "number") throw FALLBACK;
      return value === 0;
  }
}

/** Throws (to fall back) unless `value` is of the field's type and in its range, as protobuf-es checks it. */
function checkScalar(field: FieldPlan, value: unknown): void {
  switch (field.kind) {
    case Kind.String:
      if (typeof value !== "string") throw FALLBACK;
      return;
    case Kind.Bytes:
      if (!(value instanceof Uint8Array)) throw FALLBACK;
      return;
    case Kind.Bool:
      if (typeof value !== "boolean") throw FALLBACK;
      return;
    case Kind.Int32:
      if (typeof value !== "number" || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) throw FALLBACK;
      return;
    case Kind.Uint32:
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw FALLBACK;
      return;
    case Kind.Int64:
      if (typeof value !== "bigint" || value < INT64_MIN || value > INT64_MAX) throw FALLBACK;
      return;
    case Kind.Uint64:
      if (typeof value !== "bigint" || value < 0n || value > UINT64_MAX) throw FALLBACK;
      return;
    case Kind.Double:
      if (typeof value !== "number") throw FALLBACK;
      return;
    case Kind.Float:
      if (typeof value !== "number" || (Number.isFinite(value) && Math.abs(value) > FLOAT32_MAX)) throw FALLBACK;
      return;
    case Kind.Message:
      throw FALLBACK;
  }
}

/** The encoded size of one value (without its key); checks its type and range. */
function valueSize(field: FieldPlan, value: unknown): number {
  switch (field.kind) {
    case Kind.String: {
      if (typeof value !== "string") throw FALLBACK;
      const length = utf8Length(value);
      return varintSize(length) + length;
    }
    case Kind.Bytes:
      if (!(value instanceof Uint8Array)) throw FALLBACK;
      return varintSize(value.byteLength) + value.byteLength;
    case Kind.Bool:
      if (typeof value !== "boolean") throw FALLBACK;
      return 1;
    case Kind.Int32:
    case Kind.Uint32:
      checkScalar(field, value);
      return varintSize(value as number);
    case Kind.Int64:
      checkScalar(field, value);
      return (value as bigint) < 0n ? 10 : varint64Size(value as bigint);
    case Kind.Uint64:
      checkScalar(field, value);
      return varint64Size(value as bigint);
    case Kind.Double:
      checkScalar(field, value);
      return 8;
    case Kind.Float:
      checkScalar(field, value);
      return 4;
    case Kind.Message: {
      const at = pushSize();
      const size = sizeOf(field.message as MessagePlan, value as Fields);
      sizes[at] = size;
      return varintSize(size) + size;
    }
  }
}

function sizeOf(plan: MessagePlan, message: Fields): number {
  checkMessage(plan, message);
  let size = 0;
  for (const field of plan.fields) {
    const value = message[field.name];
    if (field.repeated) {
      if (!Array.isArray(value)) throw FALLBACK;
      if (value.length === 0) continue;
      if (field.packed) {
        const at = pushSize();
        let body = 0;
        for (const item of value) body += valueSize(field, item);
        sizes[at] = body;
        size += field.keySize + varintSize(body) + body;
      } else {
        for (const item of value) size += field.keySize + valueSize(field, item);
      }
      continue;
    }
    if (field.kind === Kind.Message) {
      if (value === undefined || !Object.hasOwn(message, field.name)) continue;
    } else if (isZero(field, value)) continue;
    size += field.keySize + valueSize(field, value);
  }
  return size;
}

/** Writes a varint; a negative number as its 64-bit two's complement (ten bytes), as int32 and int64 are written. */
function writeVarint(out: Uint8Array, pos: number, value: number): number {
  if (value < 0) {
    const hi = Math.floor(value / 4294967296);
    return writeHalves(out, pos, value - hi * 4294967296, hi >>> 0);
  }
  while (value >= 0x80) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Writes the varint of the unsigned 64-bit number hi * 2^32 + lo. */
function writeHalves(out: Uint8Array, pos: number, lo: number, hi: number): number {
  while (hi > 0 || lo >= 0x80) {
    out[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
    hi >>>= 7;
  }
  out[pos++] = lo;
  return pos;
}

/** Writes an int64 or uint64 (a bigint in range, checked when sizing). */
function writeVarint64(out: Uint8Array, pos: number, value: bigint): number {
  if (value <= SAFE && value >= -SAFE) return writeVarint(out, pos, Number(value));
  const unsigned = BigInt.asUintN(64, value);
  return writeHalves(out, pos, Number(unsigned & 0xffffffffn), Number(unsigned >> 32n));
}

function writeString(out: Uint8Array, pos: number, text: string): number {
  const length = utf8Length(text);
  pos = writeVarint(out, pos, length);
  if (length === text.length) {
    for (let i = 0; i < length; i++) out[pos + i] = text.charCodeAt(i);
    return pos + length;
  }
  textEncoder.encodeInto(text, out.subarray(pos, pos + length));
  return pos + length;
}

function writeValue(field: FieldPlan, value: unknown, out: Uint8Array, pos: number): number {
  switch (field.kind) {
    case Kind.String:
      return writeString(out, pos, value as string);
    case Kind.Bytes: {
      const bytes = value as Uint8Array;
      pos = writeVarint(out, pos, bytes.byteLength);
      out.set(bytes, pos);
      return pos + bytes.byteLength;
    }
    case Kind.Bool:
      out[pos] = value ? 1 : 0;
      return pos + 1;
    case Kind.Int32:
    case Kind.Uint32:
      return writeVarint(out, pos, value as number);
    case Kind.Int64:
    case Kind.Uint64:
      return writeVarint64(out, pos, value as bigint);
    case Kind.Double:
      scratch.setFloat64(0, value as number, true);
      for (let i = 0; i < 8; i++) out[pos + i] = scratch.getUint8(i);
      return pos + 8;
    case Kind.Float:
      scratch.setFloat32(0, value as number, true);
      for (let i = 0; i < 4; i++) out[pos + i] = scratch.getUint8(i);
      return pos + 4;
    case Kind.Message:
      pos = writeVarint(out, pos, sizes[nextSize++] as number);
      return writeMessage(field.message as MessagePlan, value as Fields, out, pos);
  }
}

function writeMessage(plan: MessagePlan, message: Fields, out: Uint8Array, pos: number): number {
  for (const field of plan.fields) {
    const value = message[field.name];
    if (field.repeated) {
      const list = value as unknown[];
      if (list.length === 0) continue;
      if (field.packed) {
        pos = writeVarint(out, pos, field.tag);
        pos = writeVarint(out, pos, sizes[nextSize++] as number);
        for (const item of list) pos = writeValue(field, item, out, pos);
      } else {
        for (const item of list) pos = writeValue(field, item, out, writeVarint(out, pos, field.tag));
      }
      continue;
    }
    if (field.kind === Kind.Message) {
      if (value === undefined || !Object.hasOwn(message, field.name)) continue;
    } else if (isZero(field, value)) continue;
    pos = writeValue(field, value, out, writeVarint(out, pos, field.tag));
  }
  return pos;
}
