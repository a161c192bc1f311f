/**
 * HTTP/JSON transcoding through the real proxy process and the echo user function:
 * every google.api.http feature of test/http/proto, the proto3 JSON mapping, NDJSON
 * and SSE streams, metadata both ways, and h2c.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { EchoMessageSchema } from "../http/gen/switchboard/test/http/transcoding_pb.js";
import { createTestClient } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "./support/echo-user-function.js";
import { h1, h2, type HttpResult, ndjson, sseEvents } from "./support/http-client.js";

const EMPTY_ECHO = { id: "", tags: [], numbers: [], colors: [], labels: {}, books: [], binaryLabels: {} };
const echo = (fields: Record<string, unknown>) => ({ ...EMPTY_ECHO, ...fields });
const json = (result: HttpResult) => {
  assert.equal(result.headers["content-type"], "application/json", `expected JSON, got ${result.status} ${result.text}`);
  return JSON.parse(result.text) as Record<string, unknown>;
};

describe("HTTP/JSON transcoding", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  let port: number;

  before(async () => {
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
    port = proxy.port;
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
  });

  describe("google.api.http rules", () => {
    it("post with body *: the body fills the message, then the path variable wins", async () => {
      const result = await h1(port, { method: "POST", path: "/v1/echo/p1", json: { id: "from-body", tags: ["a"] } });
      assert.equal(result.status, 200);
      assert.equal(result.headers["x-method"], "Echo");
      assert.deepEqual(json(result), echo({ id: "p1", tags: ["a"] }));
    });

    it("body * ignores the query string", async () => {
      const result = await h1(port, { method: "POST", path: "/v1/echo/p2?tags=x&whatever=1", json: {} });
      assert.deepEqual(json(result), echo({ id: "p2" }));
    });

    it("get without body: query parameters fill repeated, nested, enum, int64, oneof and well-known fields", async () => {
      const query = [
        "tags=a",
        "tags=b",
        "book.author.name=Ann%20Lee",
        "book.author.born=1970",
        "book.tags=t1",
        "scalars.f_bool=true",
        "scalars.fDouble=1.5",
        "scalars.f_bytes=AQID",
        "colors=RED",
        "colors=2",
        "numbers=9007199254740993",
        "numbers=-1",
        "text=hi+there",
        "well_known.timestamp=2024-01-02T03:04:05Z",
        "well_known.duration=1.5s",
        "well_known.bool_value=false",
        "well_known.int64_value=5",
        "well_known.field_mask=fooBar,baz",
      ].join("&");
      const result = await h1(port, { path: `/v1/echo/q1?${query}` });
      assert.equal(result.status, 200, result.text);
      assert.deepEqual(
        json(result),
        echo({
          id: "q1",
          tags: ["a", "b"],
          book: { name: "", title: "", tags: ["t1"], author: { name: "Ann Lee", born: 1970 } },
          scalars: {
            fDouble: 1.5,
            fFloat: 0,
            fInt32: 0,
            fInt64: "0",
            fUint32: 0,
            fUint64: "0",
            fSint32: 0,
            fSint64: "0",
            fFixed32: 0,
            fFixed64: "0",
            fSfixed32: 0,
            fSfixed64: "0",
            fBool: true,
            fString: "",
            fBytes: "AQID",
            fEnum: "COLOR_UNSPECIFIED",
          },
          colors: ["RED", "GREEN"],
          numbers: ["9007199254740993", "-1"],
          text: "hi there",
          wellKnown: { timestamp: "2024-01-02T03:04:05Z", duration: "1.500s", boolValue: false, int64Value: "5", fieldMask: "fooBar,baz" },
        }),
      );
    });

    it("put with body = a field: the body is that field, the query fills the rest", async () => {
      const result = await h1(port, { method: "PUT", path: "/v1/echo/b1/book?tags=x", json: { title: "T", author: { name: "A" } } });
      assert.deepEqual(json(result), echo({ id: "b1", tags: ["x"], book: { name: "", title: "T", tags: [], author: { name: "A", born: 0 } } }));
    });

    it("a query parameter may not set a field inside the body field", async () => {
      const result = await h1(port, { method: "PUT", path: "/v1/echo/b1/book?book.title=x", json: {} });
      assert.equal(result.status, 400);
      assert.match(result.text, /body field "book"/);
    });

    it("patch with a nested multi-segment variable keeps %2F encoded and overrides the body field", async () => {
      const result = await h1(port, { method: "PATCH", path: "/v1/shelves/s1/books/b%2F2", json: { name: "ignored", title: "T" } });
      assert.deepEqual(json(result), echo({ book: { name: "shelves/s1/books/b%2F2", title: "T", tags: [] } }));
    });

    it("delete", async () => {
      assert.deepEqual(json(await h1(port, { method: "DELETE", path: "/v1/echo/d%20x" })), echo({ id: "d x" }));
    });

    it("a custom verb (:shout) routes to its own binding, before the variable takes the colon", async () => {
      const result = await h1(port, { method: "POST", path: "/v1/echo/v1:shout", json: { tags: ["loud"] } });
      assert.deepEqual(json(result), echo({ id: "v1", tags: ["loud"] }));
      const plain = await h1(port, { method: "POST", path: "/v1/echo/v1:other", json: {} });
      assert.deepEqual(json(plain), echo({ id: "v1:other" }));
    });

    it("custom kind * matches any HTTP method", async () => {
      for (const method of ["GET", "PURGE", "POST"]) {
        const result = await h1(port, { method, path: "/v1/any/m1" });
        assert.equal(result.status, 200, `${method}: ${result.text}`);
        assert.deepEqual(json(result), echo({ id: "m1" }));
      }
    });

    it("custom kind REPORT matches that method only; another gets 405 with Allow", async () => {
      assert.deepEqual(json(await h1(port, { method: "REPORT", path: "/v1/report/r1" })), echo({ id: "r1" }));
      const wrong = await h1(port, { method: "GET", path: "/v1/report/r1" });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.allow, "REPORT");
    });

    it("** captures the rest of the path, slashes included", async () => {
      const result = await h1(port, { path: "/v1/files/a/b/c%20d.txt" });
      assert.equal((json(result).scalars as Record<string, unknown>).fString, "a/b/c d.txt");
    });

    it("path variables parse into their field types (int32, bool, enum by name or number, int64)", async () => {
      const scalars = (r: HttpResult) => json(r).scalars as Record<string, unknown>;
      const a = scalars(await h1(port, { path: "/v1/scalar/42/true/GREEN/-9007199254740993" }));
      assert.equal(a.fInt32, 42);
      assert.equal(a.fBool, true);
      assert.equal(a.fEnum, "GREEN");
      assert.equal(a.fInt64, "-9007199254740993");
      assert.equal(scalars(await h1(port, { path: "/v1/scalar/-1/false/1/0" })).fEnum, "RED");
    });

    it("path variables of well-known types (Timestamp, Int32Value, Duration)", async () => {
      const result = json(await h1(port, { path: "/v1/wkt/2024-01-02T03:04:05.5Z/7/-2s" }));
      assert.deepEqual(result.wellKnown, { timestamp: "2024-01-02T03:04:05.500Z", int32Value: 7, duration: "-2s" });
    });

    it("path variables that do not parse into their field type are a 400 naming the variable", async () => {
      for (const [path, field] of [
        ["/v1/scalar/abc/true/RED/1", "scalars.f_int32"],
        ["/v1/scalar/1.5/true/RED/1", "scalars.f_int32"],
        ["/v1/scalar/99999999999/true/RED/1", "scalars.f_int32"],
        ["/v1/scalar/1/yes/RED/1", "scalars.f_bool"],
        ["/v1/scalar/1/true/PURPLE/1", "scalars.f_enum"],
        ["/v1/scalar/1/true/RED/1e3", "scalars.f_int64"],
        ["/v1/wkt/yesterday/1/1s", "well_known.timestamp"],
        ["/v1/wkt/2024-01-02T03:04:05Z/x/1s", "well_known.int32_value"],
        ["/v1/echo/%zz", "id"],
      ]) {
        const result = await h1(port, { path: path as string });
        assert.equal(result.status, 400, `${path}: ${result.status} ${result.text}`);
        assert.equal(result.headers["content-type"], "text/plain; charset=utf-8");
        assert.ok(result.text.includes(`"${field}"`), `${path}: ${result.text}`);
      }
    });

    it("literal segments win over variables, whatever the declaration order", async () => {
      assert.equal((await h1(port, { path: "/v1/items/special" })).headers["x-method"], "Special");
      const item = await h1(port, { path: "/v1/items/other" });
      assert.equal(item.headers["x-method"], "Item");
      assert.equal(json(item).id, "other");
    });

    it("response_body sends one field: a repeated scalar, or a message with defaults", async () => {
      const tags = await h1(port, { path: "/v1/field/f1?tags=a&tags=b" });
      assert.equal(tags.headers["content-type"], "application/json");
      assert.equal(tags.text, '["a","b"]');
      const book = await h1(port, { path: "/v1/book/f2?book.title=T" });
      assert.equal(book.text, '{"name":"","title":"T","tags":[]}');
      const unset = await h1(port, { path: "/v1/book/f3" });
      assert.equal(unset.text, '{"name":"","title":"","tags":[]}');
    });

    it("google.api.HttpBody in and out: raw bytes (not UTF-8) with their content type", async () => {
      const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00, 0xfe]);
      const result = await h1(port, { method: "POST", path: "/v1/upload", headers: { "content-type": "image/png" }, body: bytes });
      assert.equal(result.status, 200);
      assert.equal(result.headers["content-type"], "image/png");
      assert.deepEqual(result.body, bytes);
    });

    it("google.api.HttpBody as the body field", async () => {
      const result = await h1(port, { method: "POST", path: "/v1/upload/n1", headers: { "content-type": "text/csv" }, body: "a,b" });
      assert.deepEqual(json(result), { name: "n1", file: { contentType: "text/csv", data: Buffer.from("a,b").toString("base64"), extensions: [] } });
    });

    it("google.api.HttpBody output, unary and streamed", async () => {
      const one = await h1(port, { path: "/v1/download/bob" });
      assert.equal(one.headers["content-type"], "text/plain; charset=utf-8");
      assert.equal(one.text, "hello bob");
      const streamed = await h1(port, { path: "/v1/download-stream/x" });
      assert.equal(streamed.headers["content-type"], "text/csv");
      assert.equal(streamed.text, "one,two,three");
    });

    it("every method, annotated or not, has the default POST /<package.Service>/<Method> route", async () => {
      assert.deepEqual(json(await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/Echo`, json: { id: "d1" } })), echo({ id: "d1" }));
      assert.deepEqual(json(await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/Item`, json: { id: "d2" } })), echo({ id: "d2" }));
      const getDefault = await h1(port, { path: `/${TRANSCODING_SERVICE}/Echo` });
      assert.equal(getDefault.status, 405);
      assert.equal(getDefault.headers.allow, "POST");
    });

    it("invalid annotations are skipped with a warning; the method keeps its default route", async () => {
      assert.deepEqual(json(await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/Broken`, json: { id: "b" } })), echo({ id: "b" }));
      assert.equal((await h1(port, { path: "/v1/broken/x" })).status, 404);
      const stderr = proxy.stderr();
      assert.match(stderr, /\{labels\}: "labels" is a map field/);
      assert.match(stderr, /\{book\}: "book" is a message field/);
      assert.match(stderr, /\*\* must be the last segment/);
      assert.match(stderr, /body field "nope" is not a top-level field/);
    });

    it("an empty body on a body route is the empty message; no route is 404", async () => {
      assert.deepEqual(json(await h1(port, { method: "POST", path: "/v1/echo/e1" })), echo({ id: "e1" }));
      const missing = await h1(port, { path: "/v2/nothing" });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers["content-type"], "text/plain; charset=utf-8");
      assert.equal((await h1(port, { path: "/" })).status, 404);
      assert.equal((await h1(port, { path: "/v1/echo/" })).status, 404);
    });

    it("a reply without a payload is the empty output message, defaults included", async () => {
      assert.deepEqual(json(await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/NoReply`, json: { id: "n" } })), EMPTY_ECHO);
    });
  });

  describe("proto3 JSON mapping", () => {
    const full = {
      id: "rt",
      scalars: {
        fDouble: -1.25e300,
        fFloat: 1.5,
        fInt32: -2147483648,
        fInt64: "-9223372036854775808",
        fUint32: 4294967295,
        fUint64: "18446744073709551615",
        fSint32: 2147483647,
        fSint64: "9223372036854775807",
        fFixed32: 1,
        fFixed64: "2",
        fSfixed32: -3,
        fSfixed64: "-4",
        fBool: true,
        fString: 'héllo \u2603 \ud83d\ude00 "quoted" \\ \n',
        fBytes: "AAEC/w==",
        fEnum: "GREEN",
        fOptional: "",
      },
      wellKnown: {
        timestamp: "1972-01-01T10:00:20.021Z",
        duration: "-1.000340012s",
        any: { "@type": "type.googleapis.com/switchboard.test.http.Author", name: "A", born: 1 },
        struct: { a: 1, b: [true, null, "x", { c: {} }], d: { e: "f" } },
        value: null,
        listValue: [1, "a", false, null, [], {}],
        fieldMask: "fooBar,baz.quxQuux",
        empty: {},
        boolValue: false,
        int32Value: 0,
        int64Value: "-5",
        uint32Value: 7,
        uint64Value: "18446744073709551615",
        floatValue: 0.5,
        doubleValue: 1e-10,
        stringValue: "",
        bytesValue: "",
      },
      book: { name: "n", title: "t", tags: ["x"], author: { name: "a", born: 1900 } },
      tags: ["", "b"],
      numbers: ["0", "1", "-1"],
      colors: ["COLOR_UNSPECIFIED", "RED"],
      labels: { "": "empty key", k: "" },
      number: "123",
      books: [{ name: "", title: "", tags: [] }],
      binaryLabels: { k: "AQI=" },
    };

    it("round-trips every scalar and well-known type exactly (compact, defaults, int64 as strings)", async () => {
      const result = await h1(port, { method: "POST", path: "/v1/echo/rt", json: full });
      assert.equal(result.status, 200, result.text);
      assert.deepEqual(json(result), full);
      assert.equal(result.text, JSON.stringify(JSON.parse(result.text)), "compact output");
    });

    it("accepts the alternative input forms: proto names, numbers as strings, NaN/Infinity, enum numbers, url-safe base64", async () => {
      const result = await h1(port, {
        method: "POST",
        path: "/v1/echo/alt",
        json: {
          scalars: { f_int32: "7", f_int64: 8, f_float: "NaN", f_double: "-Infinity", f_uint64: "100", f_enum: 2, f_bytes: "_-8" },
          well_known: { double_value: "Infinity" },
          colors: [1],
        },
      });
      const body = json(result);
      const scalars = body.scalars as Record<string, unknown>;
      assert.equal(scalars.fInt32, 7);
      assert.equal(scalars.fInt64, "8");
      assert.equal(scalars.fFloat, "NaN");
      assert.equal(scalars.fDouble, "-Infinity");
      assert.equal(scalars.fUint64, "100");
      assert.equal(scalars.fEnum, "GREEN");
      assert.equal(scalars.fBytes, "/+8=");
      assert.deepEqual((body.wellKnown as Record<string, unknown>).doubleValue, "Infinity");
      assert.deepEqual(body.colors, ["RED"]);
    });

    it("the message the user function gets is the one a gRPC client would send", async () => {
      const message = create(EchoMessageSchema, { id: "same", tags: ["a"], numbers: [5n], choice: { case: "text", value: "t" }, labels: { k: "v" } });
      const viaHttp = await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/Echo`, json: toJson(EchoMessageSchema, message) });
      assert.equal(viaHttp.status, 200);
      const client = createTestClient(port);
      try {
        const viaGrpc = await client.unary(`/${TRANSCODING_SERVICE}/Echo`, EchoMessageSchema, EchoMessageSchema, message);
        assert.deepEqual(json(viaHttp), toJson(EchoMessageSchema, viaGrpc.messages[0] as typeof message, { alwaysEmitImplicit: true }));
      } finally {
        client.close();
      }
      const commands = uf.commands.filter((c) => c.command.name === "Echo").slice(-2);
      assert.deepEqual(Buffer.from(commands[0]?.command.payload?.value ?? []), Buffer.from(toBinary(EchoMessageSchema, message)));
      assert.deepEqual(commands[0]?.command.payload?.value, commands[1]?.command.payload?.value);
    });
  });

  describe("streams", () => {
    it("server streaming is NDJSON (application/x-ndjson)", async () => {
      const result = await h1(port, { path: "/v1/stream/3" });
      assert.equal(result.status, 200);
      assert.equal(result.headers["content-type"], "application/x-ndjson");
      assert.deepEqual(
        ndjson(result.text),
        [0, 1, 2].map((i) => echo({ id: String(i), numbers: [String(i)] })),
      );
    });

    it("a failure after the first message ends the stream with an error object", async () => {
      const result = await h1(port, { path: "/v1/stream/2?fail_with=stop%20here" });
      assert.equal(result.status, 200);
      const lines = ndjson(result.text);
      assert.equal(lines.length, 3);
      assert.deepEqual(lines[2], { error: { code: "UNKNOWN", message: "stop here" } });
    });

    it("a failure before any message is a plain HTTP error; an empty stream is an empty 200", async () => {
      const failed = await h1(port, { path: "/v1/stream/0?failWith=nothing" });
      assert.equal(failed.status, 500);
      assert.equal(failed.text, "nothing");
      const empty = await h1(port, { path: "/v1/stream/0" });
      assert.equal(empty.status, 200);
      assert.equal(empty.text, "");
    });

    it("server-sent events when Accept has text/event-stream, errors included", async () => {
      const result = await h1(port, { path: "/v1/stream/2?fail_with=late", headers: { accept: "application/json;q=0.5, text/event-stream" } });
      assert.equal(result.headers["content-type"], "text/event-stream");
      assert.match(result.text, /^data: \{"id":"0"/);
      assert.deepEqual(sseEvents(result.text), [
        echo({ id: "0", numbers: ["0"] }),
        echo({ id: "1", numbers: ["1"] }),
        { error: { code: "UNKNOWN", message: "late" } },
      ]);
    });

    it("client streaming takes one JSON message, or one per NDJSON line", async () => {
      const one = await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/Collect`, json: { tags: ["a"] } });
      assert.deepEqual(json(one), echo({ id: "1", tags: ["a"] }));
      const many = await h1(port, {
        method: "POST",
        path: `/${TRANSCODING_SERVICE}/Collect`,
        headers: { "content-type": "application/x-ndjson" },
        body: '{"tags":["a"]}\n\n{"tags":["b","c"]}\n{}\n',
      });
      assert.deepEqual(json(many), echo({ id: "3", tags: ["a", "b", "c"] }));
      const bad = await h1(port, {
        method: "POST",
        path: `/${TRANSCODING_SERVICE}/Collect`,
        headers: { "content-type": "application/x-ndjson" },
        body: '{}\n{"nope":1}\n',
      });
      assert.equal(bad.status, 400);
      assert.match(bad.text, /^line 2: /);
    });

    it("bidi streaming answers NDJSON", async () => {
      const result = await h1(port, {
        method: "POST",
        path: `/${TRANSCODING_SERVICE}/Chat`,
        headers: { "content-type": "application/x-ndjson" },
        body: '{"id":"1"}\n{"id":"2"}\n',
      });
      assert.equal(result.headers["content-type"], "application/x-ndjson");
      assert.deepEqual(ndjson(result.text), [echo({ id: "1" }), echo({ id: "2" })]);
    });

    it("a client that leaves mid-stream does not hurt the proxy", async () => {
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/v1/stream/1000?delay_ms=5", agent: false }, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", (error) => ((error as NodeJS.ErrnoException).code === "ECONNRESET" ? resolve() : reject(error)));
      });
      const after = await h1(port, { path: "/v1/stream/1" });
      assert.equal(after.status, 200);
    });
  });

  describe("metadata", () => {
    it("request headers become Action metadata, except pseudo-headers, te, connection, content-length, content-type and grpc-*; -bin as bytes", async () => {
      const result = await h1(port, {
        method: "POST",
        path: "/v1/headers",
        headers: {
          "x-custom": "a",
          "x-data-bin": Buffer.from([1, 2, 3]).toString("base64"),
          "grpc-foo": "no",
          te: "trailers",
          connection: "keep-alive",
          "user-agent": "ua/1",
        },
        json: {},
      });
      const body = json(result);
      const labels = body.labels as Record<string, string>;
      assert.equal(labels["x-custom"], "a");
      assert.equal(labels["user-agent"], "ua/1");
      assert.equal(labels.host, `127.0.0.1:${port}`);
      for (const skipped of ["content-type", "content-length", "connection", "te", "grpc-foo", "x-data-bin"]) assert.equal(labels[skipped], undefined, skipped);
      assert.deepEqual(body.binaryLabels, { "x-data-bin": "AQID" });
    });

    it("string entries of the reply's metadata become response headers; others are dropped safely", async () => {
      const result = await h1(port, { method: "POST", path: "/v1/headers", json: {} });
      assert.equal(result.status, 200);
      assert.equal(result.headers["x-reply"], "yes");
      assert.equal(result.headers["x-multi"], "one, two");
      assert.equal(result.headers["x-method"], "Headers");
      assert.equal(result.headers["x-bytes-bin"], undefined);
      assert.equal(result.headers["x-bad-value"], undefined);
      assert.equal(Number(result.headers["content-length"]), result.body.length);
    });

    it("over gRPC, the same reply metadata becomes headers, and entries HTTP/2 cannot carry do not break the call", async () => {
      const client = createTestClient(port);
      try {
        const result = await client.unary(`/${TRANSCODING_SERVICE}/Headers`, EchoMessageSchema, EchoMessageSchema, create(EchoMessageSchema, {}), {
          metadata: { "x-custom": "grpc" },
        });
        assert.equal(result.code, 0, result.details);
        assert.deepEqual(result.metadata?.get("x-reply"), ["yes"]);
        assert.equal(result.messages[0]?.labels["x-custom"], "grpc");
      } finally {
        client.close();
      }
      assert.equal((await h1(port, { path: "/alive" })).status, 200);
    });

    it("over h2c, pseudo-headers are not metadata", async () => {
      const result = await h2(port, { method: "POST", path: "/v1/headers", headers: { "content-type": "application/json", "x-custom": "h2" }, body: "{}" });
      const labels = json(result).labels as Record<string, string>;
      assert.equal(labels["x-custom"], "h2");
      assert.ok(
        Object.keys(labels).every((k) => !k.startsWith(":")),
        Object.keys(labels).join(","),
      );
    });
  });

  describe("h2c", () => {
    it("serves JSON unary calls and streams over HTTP/2 too", async () => {
      const unary = await h2(port, { method: "POST", path: "/v1/echo/h2", headers: { "content-type": "application/json" }, body: '{"tags":["x"]}' });
      assert.equal(unary.status, 200);
      assert.deepEqual(json(unary), echo({ id: "h2", tags: ["x"] }));
      const stream = await h2(port, { path: "/v1/stream/2", headers: { accept: "text/event-stream" } });
      assert.equal(stream.headers["content-type"], "text/event-stream");
      assert.equal(sseEvents(stream.text).length, 2);
      const failure = await h2(port, { method: "POST", path: "/v1/fail", headers: { "content-type": "application/json" }, body: '{"message":"h2 failure"}' });
      assert.equal(failure.status, 500);
      assert.equal(failure.text, "h2 failure");
    });
  });
});
