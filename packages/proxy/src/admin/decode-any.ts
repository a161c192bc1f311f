import { fromBinary, type Registry, toJson } from "@bufbuild/protobuf";
import type { JsonValue } from "@bufbuild/protobuf";
import type { AnyValue } from "../store/types.js";

/** A stored `Any` as the admin API shows it: proto3 JSON, or the raw bytes with the reason they could not be decoded. */
export type DecodedAny = { readonly type: string; readonly json: JsonValue } | { readonly type: string; readonly base64: string; readonly error: string };

/** The message type name of a type URL (`type.googleapis.com/a.B` → `a.B`). */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/**
 * Decodes stored bytes through the discovered descriptors. Never throws: an unknown
 * type or bytes that do not parse come back as base64 with the reason.
 */
export function decodeAny(registry: Registry, value: AnyValue): DecodedAny {
  const type = typeNameOf(value.typeUrl);
  const raw = (error: string): DecodedAny => ({ type, base64: Buffer.from(value.value).toString("base64"), error });
  const desc = registry.getMessage(type);
  if (desc === undefined) return raw(`the descriptors the user function sent do not declare the message type "${type}"`);
  try {
    return { type, json: toJson(desc, fromBinary(desc, value.value), { registry }) };
  } catch (error) {
    return raw(`the stored bytes are not a valid ${type}: ${(error as Error).message}`);
  }
}
