/**
 * In-process tests of the pure pieces: path-template parsing, rule compilation, route
 * matching, the JSON depth guard and the base64 stream codecs. The same behaviours are
 * covered through the real proxy in the other files of this folder.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { HttpRuleSchema } from "@switchboard/protocol";
import type { MethodModel } from "../../packages/proxy/src/descriptors/service-model.js";
import { compileHttpRule, type HttpRouteRule, parsePathTemplate } from "../../packages/proxy/src/descriptors/http-rules.js";
import { Base64StreamDecoder, Base64StreamEncoder } from "../../packages/proxy/src/ingress/grpc-web/base64-stream.js";
import { checkJsonDepth, parseJsonBody } from "../../packages/proxy/src/ingress/http/json-codec.js";
import { compileRouteTable } from "../../packages/proxy/src/ingress/http/route-table.js";
import { EchoMessageSchema } from "./gen/switchboard/test/http/transcoding_pb.js";

function fakeMethod(name: string): MethodModel {
  return {
    name,
    path: `/test.Service/${name}`,
    kind: "unary",
    input: EchoMessageSchema,
    output: EchoMessageSchema,
    inputTypeUrl: `type.googleapis.com/${EchoMessageSchema.typeName}`,
    outputTypeUrl: `type.googleapis.com/${EchoMessageSchema.typeName}`,
    keyFields: [],
    service: { name: "test.Service" },
  } as unknown as MethodModel;
}

function rule(
  name: string,
  pattern: { get?: string; post?: string; custom?: { kind: string; path: string } },
  extra: { body?: string; responseBody?: string } = {},
): HttpRouteRule {
  const [kind, value] = Object.entries(pattern)[0] as [string, unknown];
  const compiled = compileHttpRule(fakeMethod(name), create(HttpRuleSchema, { pattern: { case: kind, value } as never, ...extra }), "annotation");
  assert.ok(compiled.value, compiled.error?.rawMessage);
  return compiled.value;
}

describe("path templates", () => {
  it("parses literals, variables, nested field paths, * and ** and a verb", () => {
    const t = parsePathTemplate("/v1/{book.name=shelves/*/books/**}:publish", EchoMessageSchema);
    assert.ok(t.value, t.error?.rawMessage);
    assert.deepEqual(
      t.value.segments.map((s) => s.kind),
      ["literal", "literal", "segment", "literal", "rest"],
    );
    assert.equal(t.value.verb, "publish");
    const v = t.value.variables[0];
    assert.equal(v?.fieldPath, "book.name");
    assert.deepEqual(
      v?.fields.map((f) => f.name),
      ["book", "name"],
    );
    assert.equal(v?.start, 1);
    assert.equal(v?.end, 5);
    assert.equal(v?.multiSegment, true);
  });

  it("rejects what google.api.http forbids, saying why", () => {
    const bad: [string, RegExp][] = [
      ["v1/x", /must start with \//],
      ["/v1/{id", /unbalanced/],
      ["/v1/{a{b}}", /nested|unbalanced/],
      ["/v1/**/x", /\*\* must be the last/],
      ["/v1/x{id}", /whole segment/],
      ["/v1/{nope}", /has no field "nope"/],
      ["/v1/{tags}", /repeated/],
      ["/v1/{labels}", /map field/],
      ["/v1/{book}", /message field/],
      ["/v1/{id}/{id}", /appears twice/],
      ["/v1//x", /empty segment/],
      ["/v1/{1x}", /invalid field path/],
      ["/v1/{id.x}", /not a message field/],
    ];
    for (const [text, why] of bad) {
      const t = parsePathTemplate(text, EchoMessageSchema);
      assert.ok(t.error, text);
      assert.match(t.error.rawMessage, why, text);
    }
  });

  it("accepts string-like well-known types and nested scalars as variables", () => {
    assert.ok(parsePathTemplate("/{well_known.timestamp}/{wellKnown.int32Value}/{scalars.f_enum}", EchoMessageSchema).value);
  });

  it("checks the body and response_body fields and the selector", () => {
    const m = fakeMethod("M");
    const compile = (init: Parameters<typeof create<typeof HttpRuleSchema>>[1]) => compileHttpRule(m, create(HttpRuleSchema, init), "annotation");
    assert.match(compile({ pattern: { case: "post", value: "/x" }, body: "nope" }).error?.rawMessage ?? "", /body field "nope"/);
    assert.match(compile({ pattern: { case: "post", value: "/x/{id}" }, body: "id" }).error?.rawMessage ?? "", /also a path variable/);
    assert.match(compile({ pattern: { case: "get", value: "/x" }, responseBody: "nope" }).error?.rawMessage ?? "", /response_body/);
    assert.match(compile({ pattern: { case: "get", value: "/x" }, selector: "other.Method" }).error?.rawMessage ?? "", /selector/);
    assert.ok(compile({ pattern: { case: "get", value: "/x" }, selector: "test.Service.M" }).value);
    assert.match(compile({}).error?.rawMessage ?? "", /no pattern/);
    assert.match(compile({ pattern: { case: "custom", value: { kind: "BAD VERB", path: "/x" } } }).error?.rawMessage ?? "", /custom kind/);
  });
});

describe("route matching", () => {
  const table = compileRouteTable([
    rule("ById", { get: "/v1/items/{id}" }),
    rule("Special", { get: "/v1/items/special" }),
    rule("Deep", { get: "/v1/files/{scalars.f_string=**}" }),
    rule("DeepVerb", { post: "/v1/files/{scalars.f_string=**}:upload" }),
    rule("Shelf", { get: "/v1/{book.name=shelves/*}/books" }),
    rule("Any", { custom: { kind: "*", path: "/v1/any" } }),
    rule("Post", { post: "/v1/items/{id}" }, { body: "*" }),
    { ...rule("Default", { post: "/test.Service/Default" }, { body: "*" }), origin: "default" },
  ]);
  const hit = (method: string, path: string) => {
    const m = table.match(method, path);
    return m.kind === "match" ? { name: m.rule.method.name, values: m.bindings.map((b) => b.value) } : m.kind;
  };

  it("prefers literal segments, then *, then **", () => {
    assert.deepEqual(hit("GET", "/v1/items/special"), { name: "Special", values: [] });
    assert.deepEqual(hit("GET", "/v1/items/other"), { name: "ById", values: ["other"] });
    assert.deepEqual(hit("GET", "/v1/files/a/b"), { name: "Deep", values: ["a/b"] });
    assert.deepEqual(hit("GET", "/v1/files"), { name: "Deep", values: [""] });
  });

  it("splits a custom verb off the last segment", () => {
    assert.deepEqual(hit("POST", "/v1/files/a/b:upload"), { name: "DeepVerb", values: ["a/b"] });
    assert.deepEqual(hit("GET", "/v1/files/a/b:upload"), { name: "Deep", values: ["a/b:upload"] });
  });

  it("decodes variables: one segment fully, several segments except %2F", () => {
    assert.deepEqual(hit("GET", "/v1/items/a%2Fb%20c"), { name: "ById", values: ["a/b c"] });
    assert.deepEqual(hit("GET", "/v1/shelves/s%2F1/books"), { name: "Shelf", values: ["shelves/s%2F1"] });
    assert.equal(hit("GET", "/v1/items/%E0%A4%A"), "bad-request");
  });

  it("answers 405 with the allowed methods, and 404 otherwise", () => {
    const m = table.match("DELETE", "/v1/items/x");
    assert.equal(m.kind, "method-not-allowed");
    if (m.kind === "method-not-allowed") assert.deepEqual(m.allow, ["GET", "POST"]);
    assert.equal(hit("GET", "/v1/nothing"), "not-found");
    assert.equal(hit("GET", "/v1/items/"), "not-found");
    assert.equal(hit("GET", "relative"), "not-found");
  });

  it("custom * takes any method; default routes come after the rules", () => {
    assert.deepEqual(hit("MKCOL", "/v1/any"), { name: "Any", values: [] });
    assert.deepEqual(hit("POST", "/test.Service/Default"), { name: "Default", values: [] });
    const get = table.match("GET", "/test.Service/Default");
    assert.equal(get.kind, "method-not-allowed");
  });
});

describe("JSON guards", () => {
  it("measures nesting outside strings only", () => {
    assert.equal(checkJsonDepth(`"${"[".repeat(500)}"`), undefined);
    assert.equal(checkJsonDepth(`${"[".repeat(100)}${"]".repeat(100)}`), undefined);
    assert.ok(checkJsonDepth(`${"[".repeat(101)}${"]".repeat(101)}`));
    assert.ok(checkJsonDepth(`{"a\\"":${'{"b":'.repeat(101)}1${"}".repeat(102)}`));
  });

  it("names invalid UTF-8 and malformed JSON", () => {
    assert.match(parseJsonBody(Buffer.from([0x7b, 0xff, 0x7d])).error?.rawMessage ?? "", /UTF-8/);
    assert.match(parseJsonBody(Buffer.from("{'a':1}")).error?.rawMessage ?? "", /not valid JSON/);
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":[1]}')).value, { a: [1] });
  });
});

describe("grpc-web-text base64 streams", () => {
  it("decodes base64 split anywhere, and padded pieces one after another", () => {
    const data = Buffer.from("hello, gRPC-Web text mode!");
    const one = data.toString("base64");
    for (let size = 1; size <= 7; size++) {
      const decoder = new Base64StreamDecoder();
      const parts: Buffer[] = [];
      for (let i = 0; i < one.length; i += size) parts.push(decoder.push(Buffer.from(one.slice(i, i + size))));
      assert.deepEqual(Buffer.concat(parts), data);
      assert.equal(decoder.end(), undefined);
    }
    const pieces = ["a", "bc", "def", "ghij"].map((p) => Buffer.from(p).toString("base64")).join("");
    const decoder = new Base64StreamDecoder();
    assert.equal(Buffer.concat([decoder.push(Buffer.from(pieces.slice(0, 5))), decoder.push(Buffer.from(pieces.slice(5)))]).toString(), "abcdefghij");
    assert.ok(new Base64StreamDecoder().push(Buffer.from("abc")).length === 0);
    const truncated = new Base64StreamDecoder();
    truncated.push(Buffer.from("abc"));
    assert.ok(truncated.end());
    assert.throws(() => new Base64StreamDecoder().push(Buffer.from("!!!!")));
  });

  it("encodes chunks as one base64 string, padding only at the end", () => {
    const encoder = new Base64StreamEncoder();
    const chunks = ["a", "bc", "def", "g"].map((c) => Buffer.from(c));
    const text =
      chunks
        .slice(0, -1)
        .map((c) => encoder.push(c))
        .join("") + encoder.end(chunks[chunks.length - 1] as Buffer);
    assert.equal(text, Buffer.from("abcdefg").toString("base64"));
    assert.ok(!text.slice(0, -2).includes("="));
  });
});
