import { create } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import type { AnyValue } from "../../store/types.js";

/** The empty `google.protobuf.Any` (no type URL, no bytes), e.g. an LWWRegister delta without a value. */
export const EMPTY_ANY: AnyValue = Object.freeze({ typeUrl: "", value: new Uint8Array() });

/**
 * The identity of a set element or map key: CRDT elements are `google.protobuf.Any`s
 * compared by (type URL, bytes), so equal values must be encoded identically by the user
 * function (crdt.proto). The key is a string so it can index a `Map`; the type URL is
 * length-prefixed so no (type URL, bytes) pair can collide with another, and the bytes
 * are kept as one char per byte, which is exact and needs no base64.
 */
export function anyKey(value: AnyValue): string {
  let bytes = "";
  // Chunked so a large element does not overflow the argument limit of fromCharCode.
  for (let i = 0; i < value.value.length; i += 4096) {
    bytes += String.fromCharCode(...value.value.subarray(i, i + 4096));
  }
  return `${value.typeUrl.length}:${value.typeUrl}${bytes}`;
}

/** Copies a protobuf-es `Any` (absent: the empty Any) into our immutable value type. */
export function fromAny(any: Any | undefined): AnyValue {
  if (any === undefined) return EMPTY_ANY;
  return Object.freeze({ typeUrl: any.typeUrl, value: any.value.slice() });
}

/** A protobuf-es `Any` for the wire. */
export function toAny(value: AnyValue): Any {
  return create(AnySchema, { typeUrl: value.typeUrl, value: value.value });
}

/** Total order on strings by UTF-16 code units, for canonical (sorted) encodings. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Total order on byte arrays: lexicographic, shorter first on a common prefix. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Total order on Any values by (type URL, bytes). */
export function compareAny(a: AnyValue, b: AnyValue): number {
  return compareStrings(a.typeUrl, b.typeUrl) || compareBytes(a.value, b.value);
}

/**
 * A short human description of an element or key for error messages: the text of a
 * Cloudstate string primitive (`p.cloudstate.io/string`, field 1), else type URL and size.
 */
export function describeAny(value: AnyValue): string {
  if (value.typeUrl === "p.cloudstate.io/string") {
    try {
      const reader = new BinaryReader(value.value);
      let text = "";
      while (reader.pos < reader.len) {
        const [no, wire] = reader.tag();
        if (no === 1 && wire === WireType.LengthDelimited) text = reader.string();
        else reader.skip(wire, no);
      }
      return JSON.stringify(text);
    } catch {
      // Not a valid string primitive: fall through to the generic form.
    }
  }
  return `${value.typeUrl || "(no type URL)"} (${value.value.length} bytes)`;
}
