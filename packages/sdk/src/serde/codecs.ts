/**
 * Value codecs: how a JavaScript value travels in a `google.protobuf.Any` under the Cloudstate
 * conventions (docs/protocol.md#payloads). CRDT elements, keys and register values, JSON events and
 * primitive events use them.
 *
 * | codec                | type URL                              | value                        |
 * | -------------------- | ------------------------------------- | ---------------------------- |
 * | `codecs.string` …    | `p.cloudstate.io/string` (`/bytes`, `/bool`, `/int32`, `/int64`, `/float`, `/double`) | the value as field 1 |
 * | `codecs.message(S)`  | `type.googleapis.com/<S.typeName>`    | the serialized message       |
 * | `codecs.json(type)`  | `json.cloudstate.io/<type>`           | UTF-8 JSON in bytes field 1  |
 * | `codecs.any`         | unchanged                             | unchanged                    |
 *
 * @module
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  AnySchema,
  BoolValueSchema,
  BytesValueSchema,
  DoubleValueSchema,
  FloatValueSchema,
  Int32ValueSchema,
  Int64ValueSchema,
  StringValueSchema,
} from "@bufbuild/protobuf/wkt";
import { typeUrlOf } from "./any.js";
import { decodeMessage, encodeMessage } from "./binary.js";

/** The type URL prefix of primitive values in an Any. */
export const PRIMITIVE_TYPE_URL_PREFIX = "p.cloudstate.io/";

/** The type URL prefix of JSON values in an Any. */
export const JSON_TYPE_URL_PREFIX = "json.cloudstate.io/";

/**
 * Turns values of type `T` into `google.protobuf.Any` and back. Equal values must encode to equal
 * bytes: CRDT sets and maps compare their elements by their encoding.
 *
 * @example
 * ```ts
 * const any = codecs.string.encode("alice"); // p.cloudstate.io/string
 * codecs.string.decode(any); // "alice"
 * ```
 */
export interface ValueCodec<T> {
  /** Packs `value`. Throws if it cannot be encoded. */
  encode(value: T): Any;
  /** Unpacks `any`. Throws a `TypeError` naming both types if `any` holds another type. */
  decode(any: Any): T;
}

function checkTypeUrl(any: Any, expected: string): void {
  if (any.typeUrl !== expected) {
    throw new TypeError(`expected a ${expected} value, got ${any.typeUrl === "" ? "an Any without type URL" : any.typeUrl}`);
  }
}

/** A primitive codec: the value as field 1 of the matching wrapper message. */
function primitive<T, D extends DescMessage>(
  name: string,
  schema: D,
  wrap: (value: T) => MessageShape<D>,
  unwrap: (message: MessageShape<D>) => T,
): ValueCodec<T> {
  const typeUrl = PRIMITIVE_TYPE_URL_PREFIX + name;
  return {
    encode: (value) => create(AnySchema, { typeUrl, value: toBinary(schema, wrap(value)) }),
    decode(any) {
      checkTypeUrl(any, typeUrl);
      return unwrap(fromBinary(schema, any.value));
    },
  };
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** The `json.cloudstate.io/` codec of `type`: UTF-8 JSON in bytes field 1 (a `BytesValue`). */
function json<T>(type: string): ValueCodec<T> {
  if (type === "") throw new Error("codecs.json(): the type name must not be empty");
  const typeUrl = JSON_TYPE_URL_PREFIX + type;
  return {
    encode(value) {
      const text = JSON.stringify(value);
      if (text === undefined) throw new TypeError(`codecs.json(${type}): the value cannot be written as JSON`);
      return create(AnySchema, { typeUrl, value: toBinary(BytesValueSchema, create(BytesValueSchema, { value: textEncoder.encode(text) })) });
    },
    decode(any) {
      checkTypeUrl(any, typeUrl);
      return parseJsonAny(any) as T;
    },
  };
}

/**
 * The codecs of the Cloudstate `Any` conventions.
 *
 * @example
 * ```ts
 * import { codecs, createORSet } from "@switchboard/sdk";
 *
 * const users = createORSet(codecs.string);
 * const carts = createORSet(codecs.message(LineItemSchema));
 * const events = codecs.json<{ message: string }>("com.example.Message");
 * ```
 */
export const codecs = {
  /** `p.cloudstate.io/string`. */
  string: primitive<string, typeof StringValueSchema>(
    "string",
    StringValueSchema,
    (value) => create(StringValueSchema, { value }),
    (m) => m.value,
  ),
  /** `p.cloudstate.io/bytes`. */
  bytes: primitive<Uint8Array, typeof BytesValueSchema>(
    "bytes",
    BytesValueSchema,
    (value) => create(BytesValueSchema, { value }),
    (m) => m.value,
  ),
  /** `p.cloudstate.io/bool`. */
  bool: primitive<boolean, typeof BoolValueSchema>(
    "bool",
    BoolValueSchema,
    (value) => create(BoolValueSchema, { value }),
    (m) => m.value,
  ),
  /** `p.cloudstate.io/int32`. */
  int32: primitive<number, typeof Int32ValueSchema>(
    "int32",
    Int32ValueSchema,
    (value) => create(Int32ValueSchema, { value }),
    (m) => m.value,
  ),
  /** `p.cloudstate.io/int64`. */
  int64: primitive<bigint, typeof Int64ValueSchema>(
    "int64",
    Int64ValueSchema,
    (value) => create(Int64ValueSchema, { value }),
    (m) => m.value,
  ),
  /** `p.cloudstate.io/float`. */
  float: primitive<number, typeof FloatValueSchema>(
    "float",
    FloatValueSchema,
    (value) => create(FloatValueSchema, { value }),
    (m) => m.value,
  ),
  /** `p.cloudstate.io/double`. */
  double: primitive<number, typeof DoubleValueSchema>(
    "double",
    DoubleValueSchema,
    (value) => create(DoubleValueSchema, { value }),
    (m) => m.value,
  ),
  /** The Any itself, unchanged: for values of mixed or unknown types. */
  any: {
    encode: (value: Any): Any => value,
    decode: (any: Any): Any => any,
  } satisfies ValueCodec<Any>,
  /** `type.googleapis.com/<schema.typeName>`: protobuf messages of one type. */
  message<D extends DescMessage>(schema: D): ValueCodec<MessageShape<D>> {
    const typeUrl = typeUrlOf(schema);
    return {
      encode: (value) => create(AnySchema, { typeUrl, value: encodeMessage(schema, value) }),
      decode(any) {
        checkTypeUrl(any, typeUrl);
        return decodeMessage(schema, any.value);
      },
    };
  },
  /** `json.cloudstate.io/<type>`: any JSON value; `type` names it (e.g. a class or message name). */
  json,
} as const;

/**
 * A `json.cloudstate.io/<type>` Any holding `value` as JSON, as go-support and java-support
 * write JSON events (UTF-8 JSON in bytes field 1).
 *
 * @example
 * ```ts
 * // An event-sourced handler emitting a JSON event for eventing subscribers:
 * ctx.emit(createJsonAny("com.example.Message", { message: req.message }));
 * ```
 */
export function createJsonAny(type: string, value: unknown): Any {
  return json<unknown>(type).encode(value);
}

/**
 * Whether `any` holds a JSON value (its type URL starts with `json.cloudstate.io/`).
 *
 * @example
 * ```ts
 * if (isJsonAny(event)) console.log(parseJsonAny(event));
 * ```
 */
export function isJsonAny(any: Any): boolean {
  return any.typeUrl.startsWith(JSON_TYPE_URL_PREFIX);
}

/**
 * The JSON value inside a `json.cloudstate.io/` Any, parsed. Throws a `TypeError` for another
 * type URL, bytes that are not UTF-8, or text that is not JSON.
 *
 * @example
 * ```ts
 * // An eventing subscriber taking google.protobuf.Any:
 * processAnyEvent(event, ctx) {
 *   const { message } = parseJsonAny(event) as { message: string };
 *   return { id: ctx.cloudEvent?.subject ?? "", message };
 * }
 * ```
 */
export function parseJsonAny(any: Any): unknown {
  if (!isJsonAny(any)) {
    throw new TypeError(`expected a ${JSON_TYPE_URL_PREFIX}… value, got ${any.typeUrl === "" ? "an Any without type URL" : any.typeUrl}`);
  }
  const bytes = fromBinary(BytesValueSchema, any.value).value;
  return JSON.parse(textDecoder.decode(bytes)) as unknown;
}

/**
 * The JSON type name of a `json.cloudstate.io/<type>` Any (`<type>`), or `undefined` for another Any.
 *
 * @example
 * ```ts
 * jsonTypeOf(createJsonAny("com.example.Message", {})); // "com.example.Message"
 * ```
 */
export function jsonTypeOf(any: Any): string | undefined {
  return isJsonAny(any) ? any.typeUrl.slice(JSON_TYPE_URL_PREFIX.length) : undefined;
}

/**
 * A string key of an encoded value, equal for equal encodings: how CRDT sets and maps compare
 * elements.
 */
export function anyKey(any: Any): string {
  return `${any.typeUrl}\u0000${Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength).toString("base64")}`;
}
