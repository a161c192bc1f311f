import {
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonValue,
  type Message,
  mergeFromJson,
  type Registry,
  ScalarType,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import type { Any } from "@bufbuild/protobuf/wkt";
import { HttpBodySchema } from "@switchboard/protocol";
import { type HttpRouteRule, resolveFieldPath } from "../../descriptors/http-rules.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import { encodePlainJsonRequest } from "./json-plan.js";
import type { VariableBinding } from "./route-table.js";

/** A parse result: edge parsers return their error instead of throwing it. */
export type Parsed<T> = { readonly value: T; readonly error?: undefined } | { readonly value?: undefined; readonly error: SwitchboardError };

/** The deepest JSON nesting a request body may have (protobuf's default recursion limit). */
export const MAX_JSON_DEPTH = 100;

const HTTP_BODY = "google.api.HttpBody";
const utf8 = new TextDecoder("utf-8", { fatal: true });

function invalid(message: string): { error: SwitchboardError } {
  return { error: new SwitchboardError(message, Code.InvalidArgument) };
}

/** Whether a message type is `google.api.HttpBody` (raw bytes with their content type). */
export function isHttpBody(message: DescMessage | undefined): boolean {
  return message?.typeName === HTTP_BODY;
}

/**
 * Checks that a JSON text nests no deeper than `limit` arrays and objects, so a
 * hostile body cannot exhaust the stack of the JSON mapping. Strings are skipped.
 */
export function checkJsonDepth(text: string, limit = MAX_JSON_DEPTH): SwitchboardError | undefined {
  if (text.length <= limit) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return new SwitchboardError(`JSON body nests deeper than ${limit} levels`, Code.InvalidArgument);
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return undefined;
}

/** Decodes UTF-8 and parses JSON, naming what is wrong: invalid UTF-8, too deep, or malformed. */
export function parseJsonBody(bytes: Uint8Array, what = "request body"): Parsed<JsonValue> {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return invalid(`${what} is not valid UTF-8`);
  }
  const deep = checkJsonDepth(text);
  if (deep !== undefined) return { error: deep };
  try {
    return { value: JSON.parse(text) as JsonValue };
  } catch (error) {
    return invalid(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

/** The media type of a content-type header, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return "";
  const semi = contentType.indexOf(";");
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** Checks that a JSON body says it is JSON, in UTF-8 (a wrong content type is a 400, docs/protocol.md#errors). */
function checkJsonContentType(contentType: string | undefined, ndjsonAllowed: boolean): SwitchboardError | undefined {
  const media = mediaType(contentType);
  const isJson =
    media === "application/json" || (media.startsWith("application/") && media.endsWith("+json")) || (ndjsonAllowed && media === "application/x-ndjson");
  if (!isJson) {
    return new SwitchboardError(
      `content type must be application/json, got ${contentType === undefined || contentType === "" ? "none" : `"${contentType}"`}`,
      Code.InvalidArgument,
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? "")?.[1];
  if (charset !== undefined && charset.toLowerCase() !== "utf-8" && charset.toLowerCase() !== "utf8") {
    return new SwitchboardError(`JSON bodies must be UTF-8, got charset "${charset}"`, Code.InvalidArgument);
  }
  return undefined;
}

/**
 * The JSON value that sets `field` from one path or query string: `true`/`false`
 * for bools, numbers for numeric enums, the string itself otherwise (the proto3 JSON
 * mapping accepts numbers, 64-bit integers, bytes and string-like well-known types
 * as strings).
 */
function stringToJson(field: DescField, value: string): Parsed<JsonValue> {
  let scalar: ScalarType | undefined;
  let isEnum = false;
  if (field.fieldKind === "scalar") scalar = field.scalar;
  else if (field.fieldKind === "enum") isEnum = true;
  else if (field.fieldKind === "list") {
    if (field.listKind === "scalar") scalar = field.scalar;
    else if (field.listKind === "enum") isEnum = true;
    else if (field.message.typeName === "google.protobuf.BoolValue") scalar = ScalarType.BOOL;
  } else if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.BoolValue") scalar = ScalarType.BOOL;
  if (scalar === ScalarType.BOOL) {
    if (value === "true") return { value: true };
    if (value === "false") return { value: false };
    return invalid(`"${value}" is not a bool (true or false)`);
  }
  if (isEnum && /^-?\d+$/.test(value)) return { value: Number(value) };
  return { value };
}

/** Nests a value under a field path: `[a, b]`, v → `{a: {b: v}}`. */
function nest(fields: readonly DescField[], value: JsonValue): JsonValue {
  let json = value;
  for (let i = fields.length - 1; i >= 0; i--) json = { [(fields[i] as DescField).jsonName]: json };
  return json;
}

/** Query-parameter field paths resolved per input message (bounded, for hostile keys). */
const queryFieldCache = new WeakMap<DescMessage, Map<string, Parsed<readonly DescField[]>>>();

function queryField(input: DescMessage, key: string): Parsed<readonly DescField[]> {
  let cache = queryFieldCache.get(input);
  if (cache === undefined) {
    cache = new Map();
    queryFieldCache.set(input, cache);
  }
  let found = cache.get(key);
  if (found === undefined) {
    const resolved = resolveFieldPath(input, key, true);
    found = resolved.error ? invalid(`query parameter "${key}": ${resolved.error.rawMessage}`) : { value: resolved.value };
    if (cache.size < 1000) cache.set(key, found);
  }
  return found;
}

/** What a JSON request is made of. */
export interface JsonRequest {
  readonly rule: HttpRouteRule;
  readonly bindings: readonly VariableBinding[];
  /** The raw query string, without `?`. */
  readonly query: string;
  /** The request body (ignored when the rule has no body). */
  readonly body: Uint8Array;
  readonly contentType: string | undefined;
  readonly registry: Registry;
}

/**
 * Builds the binary input message of a JSON request (google.api.http semantics):
 * the body fills the whole message (`body: "*"`) or one field (`body: "<field>"`),
 * path variables are applied over it, and with a field or no body the query string
 * fills the rest (repeated fields by repeating the key, nested fields by dotted paths).
 * `google.api.HttpBody` inputs and body fields take the raw body and its content type.
 */
export function buildJsonRequest(request: JsonRequest): Parsed<Uint8Array> {
  const { rule, registry } = request;
  const input = rule.method.input;
  const options = { registry };
  const body = rule.body;
  let message: Message;
  try {
    if (body.kind === "message" && isHttpBody(input)) {
      return { value: toBinary(HttpBodySchema, create(HttpBodySchema, { contentType: request.contentType ?? "", data: request.body })) };
    }
    if (body.kind === "field" && body.field.fieldKind === "message" && isHttpBody(body.field.message)) {
      message = create(input);
      mergeFromJson(
        input,
        message,
        { [body.field.jsonName]: { contentType: request.contentType ?? "", data: Buffer.from(request.body).toString("base64") } },
        options,
      );
    } else if (body.kind !== "none" && request.body.length > 0) {
      const wrongType = checkJsonContentType(request.contentType, false);
      if (wrongType !== undefined) return { error: wrongType };
      const json = parseJsonBody(request.body);
      if (json.error) return json;
      if (body.kind === "message") {
        const plain = encodePlainJsonRequest(input, json.value, request.bindings);
        if (plain !== undefined) return { value: plain };
      }
      try {
        message =
          body.kind === "message" ? fromJson(input, json.value, options) : mergeFromJson(input, create(input), { [body.field.jsonName]: json.value }, options);
      } catch (error) {
        return invalid(`invalid request body: ${(error as Error).message}`);
      }
    } else {
      message = create(input);
    }

    for (const { variable, value } of request.bindings) {
      const leaf = variable.fields[variable.fields.length - 1] as DescField;
      const json = stringToJson(leaf, value);
      if (json.error) return invalid(`path variable "${variable.fieldPath}": ${json.error.rawMessage}`);
      try {
        mergeFromJson(input, message, nest(variable.fields, json.value), options);
      } catch (error) {
        return invalid(`path variable "${variable.fieldPath}" = "${value}" does not fit the field: ${(error as Error).message}`);
      }
    }

    if (body.kind !== "message" && request.query !== "") {
      const applied = applyQuery(request, input, message);
      if (applied !== undefined) return { error: applied };
    }
    return { value: toBinary(input, message) };
  } catch (error) {
    return invalid(`cannot build ${input.typeName} from the request: ${(error as Error).message}`);
  }
}

function applyQuery(request: JsonRequest, input: DescMessage, message: Message): SwitchboardError | undefined {
  const params = new URLSearchParams(request.query);
  const grouped = new Map<string, string[]>();
  for (const [key, value] of params) {
    const list = grouped.get(key);
    if (list === undefined) grouped.set(key, [value]);
    else list.push(value);
  }
  const bodyField = request.rule.body.kind === "field" ? request.rule.body.field : undefined;
  for (const [key, values] of grouped) {
    const resolved = queryField(input, key);
    if (resolved.error) return resolved.error;
    const fields = resolved.value;
    if (bodyField !== undefined && fields[0] === bodyField)
      return new SwitchboardError(`query parameter "${key}" sets a field of the body field "${bodyField.name}"`, Code.InvalidArgument);
    if (request.bindings.some((b) => b.variable.fields.length === fields.length && b.variable.fields.every((f, i) => f === fields[i]))) {
      return new SwitchboardError(`query parameter "${key}" sets a field that the path already sets`, Code.InvalidArgument);
    }
    const leaf = fields[fields.length - 1] as DescField;
    let json: JsonValue;
    if (leaf.fieldKind === "list") {
      const items: JsonValue[] = [];
      for (const value of values) {
        const item = stringToJson(leaf, value);
        if (item.error) return new SwitchboardError(`query parameter "${key}": ${item.error.rawMessage}`, Code.InvalidArgument);
        items.push(item.value);
      }
      json = items;
    } else {
      if (values.length > 1)
        return new SwitchboardError(`query parameter "${key}" is given ${values.length} times but its field is not repeated`, Code.InvalidArgument);
      const item = stringToJson(leaf, values[0] as string);
      if (item.error) return new SwitchboardError(`query parameter "${key}": ${item.error.rawMessage}`, Code.InvalidArgument);
      json = item.value;
    }
    try {
      mergeFromJson(input, message, nest(fields, json), { registry: request.registry });
    } catch (error) {
      return new SwitchboardError(`query parameter "${key}" does not fit the field: ${(error as Error).message}`, Code.InvalidArgument);
    }
  }
  return undefined;
}

/** Builds the input messages of a streamed request body in NDJSON, one message a line. */
export function buildNdjsonRequests(request: JsonRequest): Parsed<Uint8Array[]> {
  const wrongType = checkJsonContentType(request.contentType, true);
  if (wrongType !== undefined) return { error: wrongType };
  let text: string;
  try {
    text = utf8.decode(request.body);
  } catch {
    return invalid("request body is not valid UTF-8");
  }
  const messages: Uint8Array[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    const built = buildJsonRequest({ ...request, body: Buffer.from(line, "utf8"), contentType: "application/json", query: "" });
    if (built.error) return invalid(`line ${i + 1}: ${built.error.rawMessage}`);
    messages.push(built.value);
  }
  return { value: messages };
}

/** A response body and its content type. */
export interface EncodedReply {
  readonly body: string | Uint8Array;
  readonly contentType: string;
  /** Whether the body is the raw data of a `google.api.HttpBody`. */
  readonly raw: boolean;
}

/** The JSON write options of a registry, made once per model. */
const jsonOptions = new WeakMap<Registry, { registry: Registry; alwaysEmitImplicit: true }>();

function writeOptions(registry: Registry) {
  let options = jsonOptions.get(registry);
  if (options === undefined) {
    options = { registry, alwaysEmitImplicit: true };
    jsonOptions.set(registry, options);
  }
  return options;
}

/**
 * Encodes one reply payload for an HTTP/JSON response: proto3 JSON of the output
 * message (compact, implicit defaults included, int64 as strings) or of its
 * `response_body` field; a `google.api.HttpBody` (as output or as response_body) goes
 * raw with its content type. A payload of another type than the method's output is
 * decoded as the type it names when the registry knows it. No payload: the empty output.
 */
export function encodeJsonReply(rule: HttpRouteRule, payload: Any | undefined, registry: Registry): Parsed<EncodedReply> {
  let desc: DescMessage = rule.method.output;
  if (payload !== undefined && payload.typeUrl !== rule.method.outputTypeUrl) {
    const named = registry.getMessage(payload.typeUrl.slice(payload.typeUrl.lastIndexOf("/") + 1));
    if (named !== undefined) desc = named;
  }
  try {
    const message = payload === undefined ? create(desc) : fromBinary(desc, payload.value);
    const field = rule.responseBody;
    if (field !== undefined && field.parent === desc) {
      if (field.fieldKind === "message" && isHttpBody(field.message)) {
        const reflected = reflect(desc, message);
        const part = reflected.isSet(field) ? (reflected.get(field) as ReflectMessage).message : create(field.message);
        return { value: rawHttpBody(toBinary(field.message, part)) };
      }
      const json = toJson(desc, message, writeOptions(registry)) as Record<string, JsonValue>;
      let part = json[field.jsonName];
      if (part === undefined) part = field.fieldKind === "message" ? (toJson(field.message, create(field.message), writeOptions(registry)) as JsonValue) : null;
      return { value: { body: JSON.stringify(part), contentType: "application/json", raw: false } };
    }
    if (isHttpBody(desc)) return { value: rawHttpBody(payload?.value ?? new Uint8Array(0)) };
    return { value: { body: JSON.stringify(toJson(desc, message, writeOptions(registry))), contentType: "application/json", raw: false } };
  } catch (error) {
    return {
      error: new SwitchboardError(`cannot write the reply of ${rule.method.path} as JSON: ${(error as Error).message}`, Code.Internal, { cause: error }),
    };
  }
}

function rawHttpBody(bytes: Uint8Array): EncodedReply {
  const body = fromBinary(HttpBodySchema, bytes);
  return { body: body.data, contentType: body.contentType === "" ? "application/octet-stream" : body.contentType, raw: true };
}
