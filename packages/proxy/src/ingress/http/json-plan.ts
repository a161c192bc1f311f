import { type DescField, type DescMessage, type JsonValue, ScalarType } from "@bufbuild/protobuf";
import { BinaryWriter, getTextEncoding, WireType } from "@bufbuild/protobuf/wire";
import type { VariableBinding } from "./route-table.js";

/**
 * The common JSON request, straight to binary: a `body: "*"` request whose input message
 * has only plain scalar fields, whose JSON body is an object of plain values and whose
 * path variables set string fields is encoded here without building a protobuf-es
 * message (reflection, `fromJson`, `toBinary`: most of what transcoding cost).
 *
 * It takes only what the proto3 JSON mapping reads one way, and gives up — the caller
 * then goes the general way, which also words every error — on anything else: a
 * message with a field that is repeated, a map, a message, an enum, bytes, a float, in
 * a oneof or with explicit presence; a key it does not know or sees twice (by its proto
 * and its JSON name); `null`; a string with a lone surrogate; numbers given as strings or out of their type's range;
 * `-0`. What it writes is byte for byte what `toBinary(fromJson(…))` writes: fields in
 * number order, zero values left out, each value with protobuf-es's own writer.
 */
export function encodePlainJsonRequest(input: DescMessage, json: JsonValue, bindings: readonly VariableBinding[]): Uint8Array | undefined {
  const plan = planFor(input);
  if (plan === undefined || json === null || typeof json !== "object" || Array.isArray(json)) return undefined;
  const values: unknown[] = new Array(plan.fields.length);
  for (const key in json) {
    const slot = plan.slots.get(key);
    if (slot === undefined || values[slot] !== undefined) return undefined;
    const value = (json as Record<string, JsonValue>)[key];
    if (!accepts((plan.fields[slot] as DescField).scalar as ScalarType, value)) return undefined;
    values[slot] = value;
  }
  for (const { variable, value } of bindings) {
    if (variable.fields.length !== 1) return undefined;
    const slot = plan.slots.get((variable.fields[0] as DescField).name);
    if (slot === undefined || (plan.fields[slot] as DescField).scalar !== ScalarType.STRING || !wellFormed(value)) return undefined;
    values[slot] = value;
  }
  const writer = new BinaryWriter();
  for (let i = 0; i < plan.fields.length; i++) {
    const value = values[i];
    if (value === undefined || value === 0 || value === "" || value === false) continue;
    write(writer, plan.fields[i] as DescField, value as string | number | boolean);
  }
  return writer.finish();
}

/** An input message's plain fields in number order, and each one's slot by proto and JSON name. */
interface Plan {
  readonly fields: readonly DescField[];
  readonly slots: ReadonlyMap<string, number>;
}

const PLAIN: ReadonlySet<ScalarType> = new Set([
  ScalarType.STRING,
  ScalarType.BOOL,
  ScalarType.DOUBLE,
  ScalarType.INT32,
  ScalarType.SINT32,
  ScalarType.SFIXED32,
  ScalarType.UINT32,
  ScalarType.FIXED32,
  ScalarType.INT64,
  ScalarType.SINT64,
  ScalarType.SFIXED64,
  ScalarType.UINT64,
  ScalarType.FIXED64,
]);

const plans = new WeakMap<DescMessage, Plan | null>();

function planFor(input: DescMessage): Plan | undefined {
  let plan = plans.get(input);
  if (plan === undefined) {
    plan = makePlan(input);
    plans.set(input, plan);
  }
  return plan ?? undefined;
}

function makePlan(input: DescMessage): Plan | null {
  const fields = [...input.fields].sort((a, b) => a.number - b.number);
  const slots = new Map<string, number>();
  for (const [slot, field] of fields.entries()) {
    if (field.fieldKind !== "scalar" || !PLAIN.has(field.scalar) || field.oneof !== undefined || field.presence !== IMPLICIT) return null;
    slots.set(field.name, slot);
    slots.set(field.jsonName, slot);
  }
  return { fields, slots };
}

/** `FeatureSet.FieldPresence.IMPLICIT`: proto3's plain scalars (a zero value is not written). */
const IMPLICIT = 2;

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT32_MAX = 0xffff_ffff;

/** Whether a JSON value sets a field of this type the one way the JSON mapping reads it. */
function accepts(type: ScalarType, value: JsonValue | undefined): boolean {
  if (type === ScalarType.STRING) return typeof value === "string" && wellFormed(value);
  if (type === ScalarType.BOOL) return typeof value === "boolean";
  if (typeof value !== "number" || Object.is(value, -0)) return false;
  switch (type) {
    case ScalarType.DOUBLE:
      return Number.isFinite(value);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return Number.isInteger(value) && value >= 0 && value <= UINT32_MAX;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return Number.isSafeInteger(value) && value >= 0;
    default:
      // INT64, SINT64, SFIXED64
      return Number.isSafeInteger(value);
  }
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Whether a string is valid UTF-16 (no lone surrogate): protobuf-es's own check, run only when a surrogate is there. */
function wellFormed(value: string): boolean {
  return !SURROGATE.test(value) || getTextEncoding().checkUtf8(value);
}

function write(writer: BinaryWriter, field: DescField, value: string | number | boolean): void {
  const no = field.number;
  switch (field.scalar) {
    case ScalarType.STRING:
      writer.tag(no, WireType.LengthDelimited).string(value as string);
      return;
    case ScalarType.BOOL:
      writer.tag(no, WireType.Varint).bool(value as boolean);
      return;
    case ScalarType.DOUBLE:
      writer.tag(no, WireType.Bit64).double(value as number);
      return;
    case ScalarType.INT32:
      writer.tag(no, WireType.Varint).int32(value as number);
      return;
    case ScalarType.SINT32:
      writer.tag(no, WireType.Varint).sint32(value as number);
      return;
    case ScalarType.SFIXED32:
      writer.tag(no, WireType.Bit32).sfixed32(value as number);
      return;
    case ScalarType.UINT32:
      writer.tag(no, WireType.Varint).uint32(value as number);
      return;
    case ScalarType.FIXED32:
      writer.tag(no, WireType.Bit32).fixed32(value as number);
      return;
    case ScalarType.INT64:
      writer.tag(no, WireType.Varint).int64(value as number);
      return;
    case ScalarType.SINT64:
      writer.tag(no, WireType.Varint).sint64(value as number);
      return;
    case ScalarType.SFIXED64:
      writer.tag(no, WireType.Bit64).sfixed64(value as number);
      return;
    case ScalarType.UINT64:
      writer.tag(no, WireType.Varint).uint64(value as number);
      return;
    default:
      writer.tag(no, WireType.Bit64).fixed64(value as number);
  }
}
