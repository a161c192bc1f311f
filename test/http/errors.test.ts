/**
 * Error mapping and bad input on the HTTP/JSON side (docs/protocol.md#errors): every gRPC code
 * through the one table (checked against docs/http.md), and through the real proxy the
 * user-function failure, 400s that name the problem, 404, 405, 413, 503 and 504, with
 * the proxy still serving afterwards.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Code, codeName, httpStatusFor, SwitchboardError } from "../../packages/proxy/src/errors/index.js";
import type { HttpExchange } from "../../packages/proxy/src/ingress/http/exchange.js";
import { sendHttpError } from "../../packages/proxy/src/ingress/http/http-handler.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "./support/echo-user-function.js";
import { h1, h2 } from "./support/http-client.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MAX = 64 * 1024;

/** A fake exchange that records what is sent. */
function recordingExchange() {
  const sent = { status: 0, headers: {} as Record<string, unknown>, body: "" };
  const exchange = {
    method: "POST",
    url: "/",
    headers: {},
    httpVersion: "1.1",
    signal: new AbortController().signal,
    headersSent: false,
    respond(status: number, headers: Record<string, unknown>) {
      sent.status = status;
      sent.headers = headers;
    },
    end(chunk?: Buffer | string) {
      sent.body = chunk === undefined ? "" : chunk.toString();
    },
  } as unknown as HttpExchange;
  return { exchange, sent };
}

describe("the code → HTTP status table", () => {
  const documented = new Map<string, number>();
  before(() => {
    const doc = readFileSync(path.join(ROOT, "docs/http.md"), "utf8");
    for (const match of doc.matchAll(/^\|\s*(\d+)\s*\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)) documented.set(match[2] as string, Number(match[3]));
  });

  it("docs/http.md publishes the status of every code, as errors/http-status.ts maps it", () => {
    for (let code = Code.Ok; code <= Code.Unauthenticated; code++) {
      assert.equal(documented.get(codeName(code)), httpStatusFor(code), codeName(code));
    }
  });

  it("an error of each code is answered with that status and its raw message as text/plain", () => {
    for (let code = Code.Canceled; code <= Code.Unauthenticated; code++) {
      const { exchange, sent } = recordingExchange();
      sendHttpError(exchange, new SwitchboardError(`message of ${codeName(code)}`, code));
      assert.equal(sent.status, httpStatusFor(code));
      assert.equal(sent.body, `message of ${codeName(code)}`, "the body is the raw message, without the [code] prefix");
      assert.equal(sent.headers["content-type"], "text/plain; charset=utf-8");
    }
  });

  it("the documented cases: failure 500, unavailable 503, deadline 504, conflict 409, oversized 413, unimplemented 501", () => {
    assert.equal(httpStatusFor(Code.Unknown), 500);
    assert.equal(httpStatusFor(Code.Unavailable), 503);
    assert.equal(httpStatusFor(Code.DeadlineExceeded), 504);
    assert.equal(httpStatusFor(Code.Aborted), 409);
    assert.equal(httpStatusFor(Code.ResourceExhausted), 413);
    assert.equal(httpStatusFor(Code.Internal), 500);
    assert.equal(httpStatusFor(Code.InvalidArgument), 400);
    assert.equal(httpStatusFor(Code.Unimplemented), 501);
  });
});

describe("HTTP/JSON errors through the proxy", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  let port: number;
  const post = (p: string, body: string | Buffer, contentType = "application/json") =>
    h1(port, { method: "POST", path: p, headers: { "content-type": contentType }, body });
  const expect400 = async (result: Promise<{ status: number; text: string; headers: Record<string, unknown> }>, pattern: RegExp) => {
    const r = await result;
    assert.equal(r.status, 400, `${r.status} ${r.text}`);
    assert.equal(r.headers["content-type"], "text/plain; charset=utf-8");
    assert.match(r.text, pattern);
  };

  before(async () => {
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--max-message-size", String(MAX), "--relay-timeout", "1000"] });
    port = proxy.port;
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
  });

  it("a user-function failure is 500 with exactly its description as text/plain", async () => {
    const r = await post("/v1/fail", JSON.stringify({ message: "expected failure" }));
    assert.equal(r.status, 500);
    assert.equal(r.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(r.text, "expected failure");
    const unicode = await post("/v1/fail", JSON.stringify({ message: "é ☃ [unknown] 100%" }));
    assert.equal(unicode.text, "é ☃ [unknown] 100%");
  });

  it("malformed JSON is a 400 that says so", async () => {
    await expect400(post("/v1/echo/x", "{"), /request body is not valid JSON/);
    await expect400(post("/v1/echo/x", "[1,2]"), /invalid request body/);
    await expect400(post("/v1/echo/x", '"text"'), /invalid request body/);
  });

  it("unknown fields and wrong value types are 400s naming the field", async () => {
    await expect400(post("/v1/echo/x", '{"nope":1}'), /key "nope" is unknown/);
    await expect400(post("/v1/echo/x", '{"scalars":{"fInt32":"abc"}}'), /f_int32/);
    await expect400(post("/v1/echo/x", '{"scalars":{"fEnum":"PURPLE"}}'), /Color/);
    await expect400(post("/v1/echo/x", '{"tags":"notalist"}'), /tags/);
    await expect400(post("/v1/echo/x", '{"wellKnown":{"timestamp":"not a time"}}'), /Timestamp/);
    await expect400(post("/v1/echo/x", '{"wellKnown":{"any":{"@type":"type.googleapis.com/no.Such"}}}'), /no\.Such/);
    await expect400(post("/v1/echo/x", '{"text":"a","number":"1"}'), /oneof/);
  });

  it("a wrong content type or charset is a 400 naming it", async () => {
    await expect400(
      post("/v1/echo/x", "id=1", "application/x-www-form-urlencoded"),
      /content type must be application\/json, got "application\/x-www-form-urlencoded"/,
    );
    await expect400(h1(port, { method: "POST", path: "/v1/echo/x", body: "{}" }), /content type must be application\/json, got none/);
    await expect400(post("/v1/echo/x", "{}", "application/json; charset=iso-8859-1"), /UTF-8/);
    assert.equal((await post("/v1/echo/x", "{}", "application/json; charset=UTF-8")).status, 200);
    assert.equal((await post("/v1/echo/x", "{}", "application/merge-patch+json")).status, 200);
  });

  it("invalid UTF-8 in a JSON body is a 400", async () => {
    await expect400(post("/v1/echo/x", Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])), /not valid UTF-8/);
    await expect400(post("/v1/echo/x", Buffer.from([0xff, 0xfe, 0x7b, 0x7d])), /not valid UTF-8/);
  });

  it("deeply nested JSON is a 400, at any depth, and the proxy survives", async () => {
    for (const depth of [101, 5_000, 30_000]) {
      const body = `{"wellKnown":{"value":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
      await expect400(post(`/${TRANSCODING_SERVICE}/Echo`, body), /nests deeper than 100 levels|recursion/);
    }
    const objects = `{"wellKnown":{"struct":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}}`;
    await expect400(post(`/${TRANSCODING_SERVICE}/Echo`, objects), /nests deeper/);
    const ok = await post(`/${TRANSCODING_SERVICE}/Echo`, `{"wellKnown":{"value":${"[".repeat(10)}${"]".repeat(10)}}}`);
    assert.equal(ok.status, 200, ok.text);
  });

  it("bodies over --max-message-size are 413, declared or chunked, HTTP/1.1 or h2c; the proxy keeps serving", async () => {
    const big = Buffer.alloc(MAX + 1, 0x20);
    const declared = await post("/v1/echo/x", big);
    assert.equal(declared.status, 413);
    assert.match(declared.text, /exceeds the maximum of 65536 bytes/);
    const chunks = Array.from({ length: 40 }, () => Buffer.alloc(4096, 0x20));
    const chunked = await h1(port, {
      method: "POST",
      path: "/v1/echo/x",
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      body: chunks,
    });
    assert.equal(chunked.status, 413);
    const upload = await h1(port, { method: "POST", path: "/v1/upload", headers: { "content-type": "application/octet-stream" }, body: big });
    assert.equal(upload.status, 413);
    const overH2 = await h2(port, { method: "POST", path: "/v1/echo/x", headers: { "content-type": "application/json" }, body: big });
    assert.equal(overH2.status, 413);
    assert.equal((await post("/v1/echo/x", "{}")).status, 200);
  });

  it("query parameters that do not fit are 400s naming them", async () => {
    await expect400(h1(port, { path: "/v1/echo/x?nope=1" }), /query parameter "nope": .* has no field "nope"/);
    await expect400(h1(port, { path: "/v1/echo/x?text=a&text=b" }), /given 2 times/);
    await expect400(h1(port, { path: "/v1/echo/x?labels=a" }), /map field/);
    await expect400(h1(port, { path: "/v1/echo/x?book=a" }), /message field/);
    await expect400(h1(port, { path: "/v1/echo/x?numbers=1&numbers=z" }), /numbers/);
    await expect400(h1(port, { path: "/v1/echo/x?scalars.f_bool=maybe" }), /not a bool/);
    await expect400(h1(port, { path: "/v1/echo/x?id=y" }), /path already sets/);
  });

  it("unknown routes are 404 and wrong verbs 405 with Allow", async () => {
    const missing = await h1(port, { path: "/no/such/route" });
    assert.equal(missing.status, 404);
    assert.match(missing.text, /no route for GET \/no\/such\/route/);
    const verb = await h1(port, { method: "PUT", path: "/v1/echo/x" });
    assert.equal(verb.status, 405);
    assert.equal(verb.headers.allow, "DELETE, GET, POST");
    const unknownMethod = await post(`/${TRANSCODING_SERVICE}/NoSuchMethod`, "{}");
    assert.equal(unknownMethod.status, 404);
  });

  it("a relay timeout is 504", async () => {
    const r = await post(`/${TRANSCODING_SERVICE}/Slow`, JSON.stringify({ delayMs: 3000 }));
    assert.equal(r.status, 504, r.text);
  });

  it("gRPC over HTTP/1.1 is refused with 505, not served as JSON", async () => {
    const r = await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/Echo`, headers: { "content-type": "application/grpc" }, body: Buffer.alloc(5) });
    assert.equal(r.status, 505);
  });

  it("still serves after all that", async () => {
    assert.equal((await post("/v1/echo/fine", "{}")).status, 200);
    assert.equal((await h1(port, { path: "/alive" })).status, 200);
  });
});

describe("HTTP/JSON before discovery", () => {
  it("answers 503 while the user function is not discovered", async () => {
    const proxy = await startProxy({ userFunctionPort: 9, waitFor: "spawn", httpPort: 0 });
    try {
      // The port is chosen by the OS; read it from the log line that reports the bound port.
      const until = Date.now() + 10_000;
      let port = 0;
      while (port === 0 && Date.now() < until) {
        const match = /front port bound.*?:(\d+)/.exec(proxy.stderr());
        if (match) port = Number(match[1]);
        else await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(port > 0, proxy.stderr());
      const r = await h1(port, { method: "POST", path: `/${TRANSCODING_SERVICE}/Echo`, headers: { "content-type": "application/json" }, body: "{}" });
      assert.equal(r.status, 503);
      assert.match(r.text, /not been discovered/);
      assert.equal((await h1(port, { path: "/ready" })).status, 503);
    } finally {
      await proxy.kill();
    }
  });
});
