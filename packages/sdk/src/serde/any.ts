/**
 * `google.protobuf.Any` packing and unpacking with the Cloudstate conventions (docs/protocol.md#payloads):
 * protobuf messages travel as `type.googleapis.com/<full.message.Name>`.
 *
 * @module
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { decodeMessage, encodeMessage } from "./binary.js";

/** The type URL prefix of protobuf messages in an Any. */
export const TYPE_URL_PREFIX = "type.googleapis.com/";

/** The type URL of a message type: `type.googleapis.com/<full.message.Name>`. */
export function typeUrlOf(schema: DescMessage): string {
  return TYPE_URL_PREFIX + schema.typeName;
}

/** Packs `message` into an Any with the `type.googleapis.com/` type URL. Throws if it cannot be encoded. */
export function packAny<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Any {
  return create(AnySchema, { typeUrl: typeUrlOf(schema), value: encodeMessage(schema, message) });
}

/** The result of {@link unpackAny}: the message, or a sentence saying why it cannot be read. */
export type UnpackResult<Desc extends DescMessage> = { value: MessageShape<Desc> } | { error: string };

/**
 * Reads `packed` as a `schema` message. It returns an error, rather than throwing, when the type URL
 * names another type or the bytes do not decode.
 *
 * An absent Any reads as the empty message, and so does an empty type URL with no bytes. An empty
 * type URL with bytes is decoded as `schema`, as node-support does, to be lenient with proxies
 * that leave it out. Any host part of the type URL is accepted; only the type name after the last
 * `/` has to match.
 *
 * When `schema` is `google.protobuf.Any` itself, a payload of any other type is the value: a
 * method taking `google.protobuf.Any` receives the payload as is (an eventing subscriber gets
 * journal events of any type, JSON ones included, this way; docs/protocol.md#eventing).
 */
export function unpackAny<Desc extends DescMessage>(schema: Desc, packed: Any | undefined): UnpackResult<Desc> {
  if (packed === undefined) {
    return { value: create(schema) };
  }
  if (schema.typeName === AnySchema.typeName && packed.typeUrl !== typeUrlOf(AnySchema)) {
    return { value: packed as unknown as MessageShape<Desc> };
  }
  if (packed.typeUrl !== "") {
    const typeName = packed.typeUrl.slice(packed.typeUrl.lastIndexOf("/") + 1);
    if (typeName !== schema.typeName || !packed.typeUrl.includes("/")) {
      return { error: `expected a ${typeUrlOf(schema)} payload, got ${packed.typeUrl}` };
    }
  }
  try {
    return { value: decodeMessage(schema, packed.value) };
  } catch (e) {
    return { error: `cannot decode the ${schema.typeName} payload: ${e instanceof Error ? e.message : String(e)}` };
  }
}
