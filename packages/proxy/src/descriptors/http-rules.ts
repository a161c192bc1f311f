import { type DescField, type DescMessage, getOption, hasOption } from "@bufbuild/protobuf";
import { http as httpOption, type HttpRule } from "@switchboard/protocol";
import { Code, SwitchboardError } from "../errors/index.js";
import type { MethodModel } from "./service-model.js";

/**
 * HTTP routes derived from the `google.api.http` annotations of the discovered
 * methods, plus the default `POST /<package.Service>/<Method>` route every method
 * has (docs/protocol.md#front-port). Pure: templates are parsed and their field paths resolved
 * against the input message once per discovery; the ingress only matches.
 */

/** One segment of a path template, after variables are flattened into it. */
export type TemplateSegment =
  /** A literal segment, percent-decoded. */
  | { readonly kind: "literal"; readonly value: string }
  /** `*`: exactly one non-empty segment. */
  | { readonly kind: "segment" }
  /** `**`: zero or more segments; only last. */
  | { readonly kind: "rest" };

/** A path variable: the segments it captures and the input field it sets. */
export interface TemplateVariable {
  /** The field path as written, e.g. `book.name`. */
  readonly fieldPath: string;
  /** The resolved fields, outermost first. */
  readonly fields: readonly DescField[];
  /** Index of the first captured segment. */
  readonly start: number;
  /** Index after the last captured segment (a `**` variable captures to the end). */
  readonly end: number;
  /**
   * Whether it can capture several segments (`{x=a/*}` or `{x=**}`): its value keeps
   * `/` between segments and `%2F` stays encoded, as google.api.http prescribes.
   */
  readonly multiSegment: boolean;
}

/** A parsed path template, e.g. `/v1/{name=shelves/*}:publish`. */
export interface PathTemplate {
  /** The template as written. */
  readonly text: string;
  readonly segments: readonly TemplateSegment[];
  readonly variables: readonly TemplateVariable[];
  /** The custom verb after the last `:` (e.g. `publish`), if any. */
  readonly verb: string | undefined;
}

/** Where the request body goes. */
export type HttpBodyBinding =
  /** No body: path variables and query parameters fill the message. */
  | { readonly kind: "none" }
  /** `body: "*"`: the body is the whole message; query parameters are ignored. */
  | { readonly kind: "message" }
  /** `body: "<field>"`: the body is one top-level field. */
  | { readonly kind: "field"; readonly field: DescField };

/** One HTTP route of a method. */
export interface HttpRouteRule {
  readonly method: MethodModel;
  /** `GET`, `POST`, ... or the custom verb's kind; `*` matches any method. */
  readonly httpMethod: string;
  readonly template: PathTemplate;
  readonly body: HttpBodyBinding;
  /** `response_body`: the top-level output field sent instead of the whole message. */
  readonly responseBody: DescField | undefined;
  /** Where the route comes from. */
  readonly origin: "annotation" | "additional-binding" | "default";
}

/** Result of {@link deriveHttpRules}. */
export interface DerivedHttpRules {
  readonly rules: readonly HttpRouteRule[];
  /** Rules that were skipped, each with the reason. */
  readonly warnings: readonly string[];
}

/** Message types that path variables and query parameters may set from one string. */
const STRING_LIKE_MESSAGES = new Set([
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/** Whether a message type has a one-string JSON form settable from a path or query value. */
export function isStringLikeMessage(message: DescMessage): boolean {
  return STRING_LIKE_MESSAGES.has(message.typeName);
}

/** Finds a field by proto name or JSON name. */
export function findField(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.name === name) ?? message.fields.find((f) => f.jsonName === name);
}

/** Result of {@link resolveFieldPath}. */
export type FieldPathResult =
  | { readonly value: readonly DescField[]; readonly error?: undefined }
  | { readonly value?: undefined; readonly error: SwitchboardError };

/**
 * Resolves a dotted field path (`a.b.c`, proto or JSON names) on `message` to fields a
 * single string value can set: every step but the last a singular message field, the
 * last a scalar, an enum or a string-like well-known type, repeated only when
 * `allowRepeated` (query parameters).
 */
export function resolveFieldPath(message: DescMessage, path: string, allowRepeated: boolean): FieldPathResult {
  const parts = path.split(".");
  const fields: DescField[] = [];
  let current: DescMessage = message;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const field = findField(current, part);
    if (field === undefined) return fail(`${current.typeName} has no field "${part}"`);
    fields.push(field);
    const last = i === parts.length - 1;
    if (!last) {
      if (field.fieldKind !== "message" || isStringLikeMessage(field.message))
        return fail(`"${parts.slice(0, i + 1).join(".")}" is not a message field, so it has no field "${parts[i + 1]}"`);
      current = field.message;
      continue;
    }
    switch (field.fieldKind) {
      case "scalar":
      case "enum":
        break;
      case "message":
        if (!isStringLikeMessage(field.message)) return fail(`"${path}" is a message field (${field.message.typeName}); name one of its fields`);
        break;
      case "list":
        if (!allowRepeated) return fail(`"${path}" is a repeated field`);
        if (field.listKind === "message" && !isStringLikeMessage(field.message)) return fail(`"${path}" is a repeated message field`);
        break;
      case "map":
        return fail(`"${path}" is a map field`);
    }
  }
  return { value: fields };
}

function fail(message: string): { error: SwitchboardError } {
  return { error: new SwitchboardError(message, Code.InvalidArgument) };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL = /^(?:[A-Za-z0-9\-._~!$&'()+,;=:@]|%[0-9A-Fa-f]{2})+$/;

/** Result of {@link parsePathTemplate}. */
export type PathTemplateResult =
  | { readonly value: PathTemplate; readonly error?: undefined }
  | { readonly value?: undefined; readonly error: SwitchboardError };

/**
 * Parses a google.api.http path template and resolves its variables on `input`:
 *
 *     Template = "/" Segments [ ":" Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *
 * `{x}` is `{x=*}`. `**` may only be the last segment. Variables do not nest, and
 * must name a singular scalar, enum or string-like well-known-type field.
 */
export function parsePathTemplate(text: string, input: DescMessage): PathTemplateResult {
  const bad = (why: string): PathTemplateResult => ({ error: new SwitchboardError(`path template "${text}": ${why}`, Code.InvalidArgument) });
  if (!text.startsWith("/")) return bad("must start with /");
  // The verb follows the last ":" outside braces and after the last "/".
  let depth = 0;
  let lastSlash = -1;
  let verbAt = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (depth === 0 && c === "/") {
      lastSlash = i;
      verbAt = -1;
    } else if (depth === 0 && c === ":" && i > lastSlash) verbAt = i;
    if (depth < 0 || depth > 1) return bad("unbalanced or nested braces");
  }
  if (depth !== 0) return bad("unbalanced braces");
  const verb = verbAt >= 0 ? text.slice(verbAt + 1) : undefined;
  if (verb !== undefined && !LITERAL.test(verb)) return bad(`invalid verb "${verb}"`);
  const body = verbAt >= 0 ? text.slice(1, verbAt) : text.slice(1);

  // Split at top-level slashes.
  const raw: string[] = [];
  let start = 0;
  depth = 0;
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if ((c === "/" && depth === 0) || i === body.length) {
      raw.push(body.slice(start, i));
      start = i + 1;
    }
  }
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  const seen = new Set<string>();
  const pushPlain = (segment: string): string | undefined => {
    if (segment === "*") segments.push({ kind: "segment" });
    else if (segment === "**") segments.push({ kind: "rest" });
    else if (segment === "") return "empty segment";
    else if (!LITERAL.test(segment)) return `invalid literal segment "${segment}"`;
    else {
      try {
        segments.push({ kind: "literal", value: decodeURIComponent(segment) });
      } catch {
        return `invalid percent-encoding in "${segment}"`;
      }
    }
    return undefined;
  };
  for (const segment of raw) {
    if (segment.startsWith("{")) {
      if (!segment.endsWith("}")) return bad(`variable "${segment}" must be a whole segment`);
      const inner = segment.slice(1, -1);
      const eq = inner.indexOf("=");
      const fieldPath = eq >= 0 ? inner.slice(0, eq) : inner;
      const pattern = eq >= 0 ? inner.slice(eq + 1) : "*";
      if (!fieldPath.split(".").every((p) => IDENT.test(p))) return bad(`invalid field path "${fieldPath}"`);
      if (seen.has(fieldPath)) return bad(`variable "${fieldPath}" appears twice`);
      seen.add(fieldPath);
      const resolved = resolveFieldPath(input, fieldPath, false);
      if (resolved.error) return bad(`variable {${fieldPath}}: ${resolved.error.rawMessage}`);
      const first = segments.length;
      for (const part of pattern.split("/")) {
        const why = pushPlain(part);
        if (why !== undefined) return bad(why);
      }
      const captured = segments.slice(first);
      variables.push({
        fieldPath,
        fields: resolved.value,
        start: first,
        end: segments.length,
        multiSegment: captured.length > 1 || captured.some((s) => s.kind === "rest"),
      });
    } else {
      if (segment.includes("{") || segment.includes("}")) return bad(`variable in "${segment}" must be a whole segment`);
      const why = pushPlain(segment);
      if (why !== undefined) return bad(why);
    }
  }
  const restAt = segments.findIndex((s) => s.kind === "rest");
  if (restAt >= 0 && restAt !== segments.length - 1) return bad("** must be the last segment");
  return { value: { text, segments, variables, verb } };
}

/** The default route of a method: `POST /<package.Service>/<Method>`, body `*`. */
function defaultRule(method: MethodModel): HttpRouteRule {
  return {
    method,
    httpMethod: "POST",
    template: {
      text: method.path,
      segments: [
        { kind: "literal", value: method.service.name },
        { kind: "literal", value: method.name },
      ],
      variables: [],
      verb: undefined,
    },
    body: { kind: "message" },
    responseBody: undefined,
    origin: "default",
  };
}

/** Result of {@link compileHttpRule}. */
export type HttpRuleResult = { readonly value: HttpRouteRule; readonly error?: undefined } | { readonly value?: undefined; readonly error: SwitchboardError };

/** Turns one `HttpRule` (without its additional bindings) into a route of `method`. */
export function compileHttpRule(method: MethodModel, rule: HttpRule, origin: HttpRouteRule["origin"]): HttpRuleResult {
  const where = `${method.service.name}.${method.name}`;
  const bad = (why: string): HttpRuleResult => ({ error: new SwitchboardError(`google.api.http rule of ${where}: ${why}`, Code.InvalidArgument) });
  if (rule.selector !== "" && rule.selector !== where) return bad(`selector "${rule.selector}" does not name this method`);
  let httpMethod: string;
  let path: string;
  switch (rule.pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      httpMethod = rule.pattern.case.toUpperCase();
      path = rule.pattern.value;
      break;
    case "custom":
      httpMethod = rule.pattern.value.kind;
      path = rule.pattern.value.path;
      if (httpMethod !== "*" && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(httpMethod)) return bad(`custom kind "${httpMethod}" is not an HTTP method`);
      break;
    default:
      return bad("no pattern (get, put, post, delete, patch or custom)");
  }
  const template = parsePathTemplate(path, method.input);
  if (template.error) return bad(template.error.rawMessage);

  let body: HttpBodyBinding;
  if (rule.body === "") body = { kind: "none" };
  else if (rule.body === "*") body = { kind: "message" };
  else {
    const field = findField(method.input, rule.body);
    if (field === undefined) return bad(`body field "${rule.body}" is not a top-level field of ${method.input.typeName}`);
    if (template.value.variables.some((v) => v.fields.length === 1 && v.fields[0] === field)) return bad(`body field "${rule.body}" is also a path variable`);
    body = { kind: "field", field };
  }
  let responseBody: DescField | undefined;
  if (rule.responseBody !== "") {
    responseBody = findField(method.output, rule.responseBody);
    if (responseBody === undefined) return bad(`response_body "${rule.responseBody}" is not a top-level field of ${method.output.typeName}`);
  }
  return { value: { method, httpMethod, template: template.value, body, responseBody, origin } };
}

/** A key that is equal for two routes that match exactly the same requests. */
function routeKey(rule: HttpRouteRule): string {
  const shape = rule.template.segments.map((s) => (s.kind === "literal" ? `=${s.value}` : s.kind === "segment" ? "*" : "**")).join("/");
  return `${rule.httpMethod} /${shape}${rule.template.verb === undefined ? "" : `:${rule.template.verb}`}`;
}

/**
 * Derives every HTTP route of the given methods: for each, its annotated rule and
 * `additional_bindings` (one level deep), then its default route. Invalid rules and
 * routes already taken by an earlier rule are skipped with a warning; they never
 * fail discovery.
 */
export function deriveHttpRules(methods: Iterable<MethodModel>): DerivedHttpRules {
  const rules: HttpRouteRule[] = [];
  const warnings: string[] = [];
  const taken = new Map<string, HttpRouteRule>();
  const add = (rule: HttpRouteRule) => {
    const key = routeKey(rule);
    const earlier = taken.get(key);
    if (earlier !== undefined) {
      // An annotation that repeats the default route is no conflict.
      if (earlier.method !== rule.method) {
        warnings.push(`HTTP route ${rule.httpMethod} ${rule.template.text} of ${rule.method.path} is already taken by ${earlier.method.path}; ignored`);
      }
      return;
    }
    taken.set(key, rule);
    rules.push(rule);
  };
  const all = [...methods];
  for (const method of all) {
    if (!hasOption(method.desc, httpOption)) continue;
    const rule = getOption(method.desc, httpOption);
    const main = compileHttpRule(method, rule, "annotation");
    if (main.error) warnings.push(`${main.error.rawMessage}; rule ignored`);
    else add(main.value);
    for (const extra of rule.additionalBindings) {
      if (extra.additionalBindings.length > 0)
        warnings.push(`google.api.http rule of ${method.service.name}.${method.name}: nested additional_bindings are ignored`);
      const binding = compileHttpRule(method, extra, "additional-binding");
      if (binding.error) warnings.push(`${binding.error.rawMessage}; binding ignored`);
      else add(binding.value);
    }
  }
  for (const method of all) add(defaultRule(method));
  return { rules, warnings };
}
