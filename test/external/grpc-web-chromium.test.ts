/**
 * gRPC-Web from a real browser: headless Chromium (Debian package `chromium`, driven
 * by playwright-core) loads a page from another origin and calls the proxy with
 * `fetch`, binary and text, unary and server streaming, across CORS. Fails (never
 * skips) when /usr/bin/chromium is missing: CI installs it with
 * `apt-get install -y chromium`.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Browser, chromium, type Page } from "playwright-core";
import { EchoMessageSchema, StreamRequestSchema } from "../http/gen/switchboard/test/http/transcoding_pb.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { parseGrpcWebBody } from "../http/support/grpc-web-client.js";
import { CurrentCounterSchema, GetCounterSchema, IncreaseValueSchema } from "../../examples/counter/src/gen/counter_pb.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { type CounterExample, startCounterExample } from "./support/counter-example.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The page: a tiny gRPC-Web client on fetch, as a browser app would have. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Switchboard gRPC-Web</title></head>
<body><p id="status">loading</p>
<script>
function fromBase64(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }
function toBase64(bytes) { let s = ""; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); }
function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0; for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}
window.grpcWeb = async function (url, requestBase64, mode) {
  const text = mode === "text";
  const message = fromBase64(requestBase64);
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": text ? "application/grpc-web-text" : "application/grpc-web+proto",
        accept: text ? "application/grpc-web-text" : "application/grpc-web+proto",
        "x-grpc-web": "1",
        "x-user-agent": "switchboard-chromium-test",
      },
      body: text ? toBase64(frame) : frame,
    });
    const reader = response.body.getReader();
    const chunks = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    let body = concat(chunks);
    if (text) body = fromBase64(new TextDecoder().decode(body));
    return { status: response.status, contentType: response.headers.get("content-type"), method: response.headers.get("x-method"), body: toBase64(body), reads: chunks.length };
  } catch (error) {
    return { error: String(error) };
  }
};
document.getElementById("status").textContent = "ready";
</script></body></html>`;

interface PageResult {
  status?: number;
  contentType?: string | null;
  method?: string | null;
  body?: string;
  reads?: number;
  error?: string;
}

function servePage(): Promise<{ server: http.Server; origin: string }> {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(PAGE);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })),
  );
}

describe("gRPC-Web from headless Chromium", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  let counter: CounterExample;
  let counterProxy: ProxyProcess;
  let browser: Browser;
  let page: Page;
  let allowed: { server: http.Server; origin: string };
  let other: { server: http.Server; origin: string };
  const call = (target: Page, path: string, request: Uint8Array, mode: "binary" | "text", port = proxy.port) =>
    target.evaluate(([url, body, m]) => (globalThis as unknown as { grpcWeb(u: string, b: string, m: string): Promise<PageResult> }).grpcWeb(url, body, m), [
      `http://127.0.0.1:${port}${path}`,
      Buffer.from(request).toString("base64"),
      mode,
    ] as const);

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
    allowed = await servePage();
    other = await servePage();
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--cors-origin", allowed.origin] });
    counter = await startCounterExample();
    counterProxy = await startProxy({ userFunctionPort: counter.port, extraArgs: ["--cors-origin", allowed.origin] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    page = await browser.newPage();
    await page.goto(allowed.origin);
    await page.waitForFunction('document.getElementById("status")?.textContent === "ready"');
  });
  after(async () => {
    await browser?.close();
    await proxy?.stop();
    await counterProxy?.stop();
    await uf?.close();
    await counter?.stop();
    allowed?.server.close();
    other?.server.close();
  });

  for (const mode of ["binary", "text"] as const) {
    it(`unary call (${mode}) across origins, reading an exposed reply header`, async () => {
      const result = await call(
        page,
        `/${TRANSCODING_SERVICE}/Echo`,
        toBinary(EchoMessageSchema, create(EchoMessageSchema, { id: "from-chromium", tags: ["é"] })),
        mode,
      );
      assert.equal(result.error, undefined, result.error);
      assert.equal(result.status, 200);
      assert.equal(result.contentType, mode === "text" ? "application/grpc-web-text+proto" : "application/grpc-web+proto");
      assert.equal(result.method, "Echo", "x-method is exposed to scripts through CORS");
      const { messages, trailers } = parseGrpcWebBody(Buffer.from(result.body as string, "base64"));
      assert.equal(messages.length, 1);
      const reply = fromBinary(EchoMessageSchema, messages[0] as Buffer);
      assert.equal(reply.id, "from-chromium");
      assert.deepEqual(reply.tags, ["é"]);
      assert.equal(trailers["grpc-status"], "0");
    });

    it(`server streaming (${mode}): messages arrive as they are sent, then the trailers`, async () => {
      const request = toBinary(StreamRequestSchema, create(StreamRequestSchema, { count: 3, delayMs: 150, failWith: "the end" }));
      const result = await call(page, `/${TRANSCODING_SERVICE}/Stream`, request, mode);
      assert.equal(result.error, undefined, result.error);
      const { messages, trailers } = parseGrpcWebBody(Buffer.from(result.body as string, "base64"));
      assert.deepEqual(
        messages.map((m) => fromBinary(EchoMessageSchema, m).id),
        ["0", "1", "2"],
      );
      assert.equal(trailers["grpc-status"], "2");
      assert.equal(decodeURIComponent(trailers["grpc-message"] ?? ""), "the end");
      // A proxy that buffered the reply would hand the browser one chunk. The user function
      // sends its messages 150 ms apart, so a streamed reply reaches the page in several reads
      // (the browser may still coalesce neighbours on a loaded machine: at least two).
      assert.ok((result.reads ?? 0) >= 2, `expected the stream in several reads, got ${result.reads}`);
    });
  }

  it("a page from an origin that is not allowed cannot read the answer", async () => {
    const stranger = await browser.newPage();
    try {
      await stranger.goto(other.origin);
      await stranger.waitForFunction('document.getElementById("status")?.textContent === "ready"');
      const result = await call(stranger, `/${TRANSCODING_SERVICE}/Echo`, toBinary(EchoMessageSchema, create(EchoMessageSchema, { id: "x" })), "binary");
      assert.match(result.error ?? "", /TypeError|Failed to fetch/);
    } finally {
      await stranger.close();
    }
  });

  it("calls the counter example: increase twice, then read it back", async () => {
    for (const value of [3n, 4n]) {
      const result = await call(
        page,
        "/com.example.counter.CounterService/Increase",
        toBinary(IncreaseValueSchema, create(IncreaseValueSchema, { counterId: "browser", value })),
        "binary",
        counterProxy.port,
      );
      assert.equal(result.error, undefined, result.error);
      assert.equal(parseGrpcWebBody(Buffer.from(result.body as string, "base64")).trailers["grpc-status"], "0");
    }
    const result = await call(
      page,
      "/com.example.counter.CounterService/GetCurrentCounter",
      toBinary(GetCounterSchema, create(GetCounterSchema, { counterId: "browser" })),
      "text",
      counterProxy.port,
    );
    const { messages, trailers } = parseGrpcWebBody(Buffer.from(result.body as string, "base64"));
    assert.equal(trailers["grpc-status"], "0");
    assert.equal(fromBinary(CurrentCounterSchema, messages[0] as Buffer).value, 7n);
  });
});
