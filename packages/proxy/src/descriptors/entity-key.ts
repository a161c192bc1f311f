import { ScalarType } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, SwitchboardError } from "../errors/index.js";
import type { KeyField } from "./service-model.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Result of {@link extractEntityId}. */
export type EntityIdResult = { readonly value: string; readonly error?: undefined } | { readonly value?: undefined; readonly error: SwitchboardError };

function readKey(reader: BinaryReader, field: KeyField, wireType: WireType): string {
  if (field.scalar === ScalarType.STRING) {
    if (wireType !== WireType.LengthDelimited) throw new Error(`field ${field.name} has the wrong wire type`);
    return strictUtf8.decode(reader.bytes());
  }
  const expected =
    field.scalar === ScalarType.FIXED64 || field.scalar === ScalarType.SFIXED64
      ? WireType.Bit64
      : field.scalar === ScalarType.FIXED32 || field.scalar === ScalarType.SFIXED32
        ? WireType.Bit32
        : WireType.Varint;
  if (wireType !== expected) throw new Error(`field ${field.name} has the wrong wire type`);
  switch (field.scalar) {
    case ScalarType.BOOL:
      return reader.bool() ? "true" : "false";
    case ScalarType.INT32:
      return String(reader.int32());
    case ScalarType.UINT32:
      return String(reader.uint32());
    case ScalarType.SINT32:
      return String(reader.sint32());
    case ScalarType.FIXED32:
      return String(reader.fixed32());
    case ScalarType.SFIXED32:
      return String(reader.sfixed32());
    case ScalarType.INT64:
      return String(reader.int64());
    case ScalarType.UINT64:
      return String(reader.uint64());
    case ScalarType.SINT64:
      return String(reader.sint64());
    case ScalarType.FIXED64:
      return String(reader.fixed64());
    case ScalarType.SFIXED64:
      return String(reader.sfixed64());
    default:
      throw new Error(`field ${field.name} has an unsupported key type`);
  }
}

function defaultKey(field: KeyField): string {
  if (field.scalar === ScalarType.STRING) return "";
  if (field.scalar === ScalarType.BOOL) return "false";
  return "0";
}

/**
 * Reads the entity id from a serialized request without decoding the whole message:
 * the key fields' values (last occurrence wins) joined with `-` in declaration order.
 * Malformed framing, invalid UTF-8 or an empty id give an INVALID_ARGUMENT error.
 */
export function extractEntityId(bytes: Uint8Array, keyFields: readonly KeyField[], typeName: string): EntityIdResult {
  const values = keyFields.map(defaultKey);
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [fieldNo, wireType] = reader.tag();
      const index = keyFields.findIndex((f) => f.number === fieldNo);
      const field = keyFields[index];
      if (field === undefined) {
        reader.skip(wireType, fieldNo);
      } else {
        values[index] = readKey(reader, field, wireType);
      }
    }
    if (reader.pos !== reader.len) throw new Error("truncated message");
  } catch (error) {
    const reason = error instanceof TypeError ? "a key field is not valid UTF-8" : (error as Error).message;
    return { error: new SwitchboardError(`cannot read the entity key of ${typeName}: ${reason}`, Code.InvalidArgument) };
  }
  const id = values.join("-");
  if (id === "" || (keyFields.length === 1 && values[0] === "")) {
    const names = keyFields.map((f) => f.name).join(", ");
    return { error: new SwitchboardError(`the entity key of ${typeName} (${names}) is empty`, Code.InvalidArgument) };
  }
  return { value: id };
}
