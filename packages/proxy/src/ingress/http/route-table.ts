import type { HttpRouteRule, TemplateVariable } from "../../descriptors/http-rules.js";
import type { ServiceModel } from "../../descriptors/service-model.js";
import { Code, SwitchboardError } from "../../errors/index.js";

/** A path variable's value, percent-decoded. */
export interface VariableBinding {
  readonly variable: TemplateVariable;
  readonly value: string;
}

/** What a request's method and path lead to. */
export type RouteMatch =
  | { readonly kind: "match"; readonly rule: HttpRouteRule; readonly bindings: readonly VariableBinding[] }
  /** The path has routes, but none for this method: 405 with `Allow`. */
  | { readonly kind: "method-not-allowed"; readonly allow: readonly string[] }
  | { readonly kind: "not-found" }
  /** A route matched but a variable's value is not valid percent-encoding. */
  | { readonly kind: "bad-request"; readonly error: SwitchboardError };

/** The routes of one service model, compiled for matching. */
export interface RouteTable {
  /** Finds the route of a request: google.api.http rules (literal segments first), then default routes. */
  match(method: string, pathname: string): RouteMatch;
}

interface Entry {
  readonly rule: HttpRouteRule;
  readonly verb: string | undefined;
}

/** A node of the segment trie: literal children are tried before `*`, and `*` before `**`. */
interface TrieNode {
  readonly literals: Map<string, TrieNode>;
  segment: TrieNode | undefined;
  /** Routes whose `**` starts at this depth. */
  readonly rest: Entry[];
  /** Routes that end at this depth. */
  readonly end: Entry[];
}

function node(): TrieNode {
  return { literals: new Map(), segment: undefined, rest: [], end: [] };
}

const tables = new WeakMap<ServiceModel, RouteTable>();

/** The route table of a model, compiled on first use and cached with the model. */
export function routeTableFor(model: ServiceModel): RouteTable {
  let table = tables.get(model);
  if (table === undefined) {
    table = compileRouteTable(model.httpRules);
    tables.set(model, table);
  }
  return table;
}

/** Compiles routes into a trie of annotated rules plus an exact map of default routes. */
export function compileRouteTable(rules: readonly HttpRouteRule[]): RouteTable {
  const root = node();
  const defaults = new Map<string, HttpRouteRule>();
  let hasVerbs = false;
  for (const rule of rules) {
    if (rule.origin === "default") {
      defaults.set(`/${rule.method.service.name}/${rule.method.name}`, rule);
      continue;
    }
    const entry: Entry = { rule, verb: rule.template.verb };
    if (entry.verb !== undefined) hasVerbs = true;
    let at = root;
    let placed = false;
    for (const segment of rule.template.segments) {
      if (segment.kind === "rest") {
        at.rest.push(entry);
        placed = true;
        break;
      }
      if (segment.kind === "segment") {
        at.segment ??= node();
        at = at.segment;
      } else {
        let next = at.literals.get(segment.value);
        if (next === undefined) {
          next = node();
          at.literals.set(segment.value, next);
        }
        at = next;
      }
    }
    if (!placed) at.end.push(entry);
  }

  /** Collects the entries matching `segments` (decoded; undefined when undecodable) in priority order. */
  function collect(at: TrieNode, segments: readonly (string | undefined)[], i: number, verb: string | undefined, out: Entry[]): void {
    if (i === segments.length) {
      for (const e of at.end) if (e.verb === verb) out.push(e);
    } else {
      const segment = segments[i];
      if (segment !== undefined) {
        const literal = at.literals.get(segment);
        if (literal !== undefined) collect(literal, segments, i + 1, verb, out);
      }
      if (at.segment !== undefined && segment !== "") collect(at.segment, segments, i + 1, verb, out);
    }
    for (const e of at.rest) if (e.verb === verb) out.push(e);
  }

  return {
    match(method, pathname) {
      if (!pathname.startsWith("/")) return { kind: "not-found" };
      const raw = pathname.slice(1).split("/");
      const allow = new Set<string>();
      const attempts: { raw: string[]; verb: string | undefined }[] = [];
      const last = raw[raw.length - 1] as string;
      const colon = last.lastIndexOf(":");
      if (hasVerbs && colon > 0) attempts.push({ raw: [...raw.slice(0, -1), last.slice(0, colon)], verb: last.slice(colon + 1) });
      attempts.push({ raw, verb: undefined });
      for (const attempt of attempts) {
        const decoded = attempt.raw.map(safeDecode);
        const found: Entry[] = [];
        collect(root, decoded, 0, attempt.verb, found);
        for (const entry of found) {
          if (entry.rule.httpMethod === method || entry.rule.httpMethod === "*") return bind(entry.rule, attempt.raw);
          allow.add(entry.rule.httpMethod);
        }
      }
      const fallback = defaults.get(pathname);
      if (fallback !== undefined) {
        if (method === "POST") return { kind: "match", rule: fallback, bindings: [] };
        allow.add("POST");
      }
      return allow.size > 0 ? { kind: "method-not-allowed", allow: [...allow].sort() } : { kind: "not-found" };
    },
  };
}

function safeDecode(segment: string): string | undefined {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Extracts and decodes the variables of a matched route. */
function bind(rule: HttpRouteRule, raw: readonly string[]): RouteMatch {
  const bindings: VariableBinding[] = [];
  for (const variable of rule.template.variables) {
    const captured = raw.slice(variable.start, variable.multiSegment && rule.template.segments[variable.end - 1]?.kind === "rest" ? raw.length : variable.end);
    let value: string;
    try {
      // One segment: decode everything. Several: keep %2F encoded, so the value's slashes stay unambiguous.
      value = variable.multiSegment
        ? captured.map((s) => s.split(/%2F/i).map(decodeURIComponent).join("%2F")).join("/")
        : decodeURIComponent(captured[0] ?? "");
    } catch {
      return { kind: "bad-request", error: new SwitchboardError(`path variable "${variable.fieldPath}" is not valid percent-encoding`, Code.InvalidArgument) };
    }
    bindings.push({ variable, value });
  }
  return { kind: "match", rule, bindings };
}
