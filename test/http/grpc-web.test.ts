/**
 * gRPC-Web through the real proxy with a hand-rolled client: binary and base64 text,
 * unary, server streaming and bidi, over HTTP/1.1 and h2c, trailers in the final frame.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../packages/proxy/src/errors/index.js";
import { EchoMessageSchema, FailRequestSchema, StreamRequestSchema } from "../http/gen/switchboard/test/http/transcoding_pb.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "./support/echo-user-function.js";
import { grpcWebCall } from "./support/grpc-web-client.js";

const ECHO = `/${TRANSCODING_SERVICE}/Echo`;
const STREAM = `/${TRANSCODING_SERVICE}/Stream`;
const echo = (id: string, tags: string[] = []) => toBinary(EchoMessageSchema, create(EchoMessageSchema, { id, tags }));
const decode = (bytes: Buffer) => fromBinary(EchoMessageSchema, bytes);

describe("gRPC-Web", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  let port: number;

  before(async () => {
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--cors-origin", "http://allowed.test"] });
    port = proxy.port;
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
  });

  for (const transport of ["h1", "h2"] as const) {
    describe(`over ${transport === "h1" ? "HTTP/1.1" : "h2c"}`, () => {
      it("unary, binary: the message, the reply metadata as headers, status 0 in the trailer frame", async () => {
        const result = await grpcWebCall(port, ECHO, [echo("w1", ["a"])], { transport });
        assert.equal(result.http.status, 200);
        assert.equal(result.http.headers["content-type"], "application/grpc-web+proto");
        assert.equal(result.http.headers["x-method"], "Echo");
        assert.equal(result.messages.length, 1);
        assert.equal(decode(result.messages[0] as Buffer).id, "w1");
        assert.deepEqual(decode(result.messages[0] as Buffer).tags, ["a"]);
        assert.equal(result.status, 0);
      });

      it("unary, text: base64 in and out", async () => {
        const result = await grpcWebCall(port, ECHO, [echo("w2")], { transport, text: true });
        assert.equal(result.http.headers["content-type"], "application/grpc-web-text+proto");
        assert.match(result.http.text, /^[A-Za-z0-9+/]+=*$/);
        assert.equal(decode(result.messages[0] as Buffer).id, "w2");
        assert.equal(result.status, 0);
      });

      it("server streaming: one data frame per message, then the trailers", async () => {
        const request = toBinary(StreamRequestSchema, create(StreamRequestSchema, { count: 3 }));
        const result = await grpcWebCall(port, STREAM, [request], { transport });
        assert.deepEqual(
          result.messages.map((m) => decode(m).id),
          ["0", "1", "2"],
        );
        assert.equal(result.status, 0);
      });

      it("server streaming in text mode, with a failure after two messages", async () => {
        const request = toBinary(StreamRequestSchema, create(StreamRequestSchema, { count: 2, failWith: "stream broke" }));
        const result = await grpcWebCall(port, STREAM, [request], { transport, text: true });
        assert.equal(result.messages.length, 2);
        assert.equal(result.status, Code.Unknown);
        assert.equal(result.message, "stream broke");
      });

      it("a user-function failure: HTTP 200, grpc-status 2 and the percent-encoded description", async () => {
        const result = await grpcWebCall(
          port,
          `/${TRANSCODING_SERVICE}/Fail`,
          [toBinary(FailRequestSchema, create(FailRequestSchema, { message: "boom 100% ☃" }))],
          { transport },
        );
        assert.equal(result.http.status, 200);
        assert.equal(result.messages.length, 0);
        assert.equal(result.status, Code.Unknown);
        assert.equal(result.message, "boom 100% ☃");
      });
    });
  }

  it("text bodies split at odd places and made of padded pieces decode", async () => {
    const requests = [echo("p")];
    const split = await grpcWebCall(port, ECHO, requests, { text: true, chunkSize: 3 });
    assert.equal(decode(split.messages[0] as Buffer).id, "p");
    const bidi = await grpcWebCall(port, `/${TRANSCODING_SERVICE}/Chat`, [echo("x"), echo("yy"), echo("zzz")], {
      text: true,
      base64PerFrame: true,
      chunkSize: 5,
    });
    assert.deepEqual(
      bidi.messages.map((m) => decode(m).id),
      ["x", "yy", "zzz"],
    );
    assert.equal(bidi.status, 0);
  });

  it("a binary request may get a text response when Accept asks for it", async () => {
    const result = await grpcWebCall(port, ECHO, [echo("acc")], { headers: { accept: "application/grpc-web-text" }, text: false });
    assert.equal(result.http.headers["content-type"], "application/grpc-web-text+proto");
    const body = Buffer.from(result.http.text, "base64");
    assert.equal(body[0], 0);
  });

  it("client streaming takes every frame of the body", async () => {
    const result = await grpcWebCall(port, `/${TRANSCODING_SERVICE}/Collect`, [echo("1", ["a"]), echo("2", ["b"])], { contentType: "application/grpc-web" });
    assert.equal(result.status, 0);
    assert.deepEqual(decode(result.messages[0] as Buffer).tags, ["a", "b"]);
  });

  it("request headers reach the Action as metadata", async () => {
    const result = await grpcWebCall(port, `/${TRANSCODING_SERVICE}/Headers`, [echo("")], { headers: { "x-custom": "web" } });
    const labels = decode(result.messages[0] as Buffer).labels;
    assert.equal(labels["x-custom"], "web");
    assert.equal(labels["content-type"], undefined);
    assert.equal(result.http.headers["x-reply"], "yes");
  });

  it("grpc-timeout is honoured: DEADLINE_EXCEEDED", async () => {
    const request = toBinary(StreamRequestSchema, create(StreamRequestSchema, { delayMs: 3000 }));
    const started = Date.now();
    const result = await grpcWebCall(port, `/${TRANSCODING_SERVICE}/Slow`, [request], { headers: { "grpc-timeout": "200m" } });
    assert.equal(result.status, Code.DeadlineExceeded);
    assert.ok(Date.now() - started < 2500);
  });

  it("unknown methods and services are UNIMPLEMENTED in the trailers", async () => {
    const method = await grpcWebCall(port, `/${TRANSCODING_SERVICE}/Nope`, [echo("")]);
    assert.equal(method.status, Code.Unimplemented);
    const service = await grpcWebCall(port, "/no.Such/Thing", [echo("")]);
    assert.equal(service.status, Code.Unimplemented);
    assert.match(service.message, /unknown service no\.Such/);
  });

  it("malformed calls: two messages to a unary method, truncated frames, bad base64, oversized frames", async () => {
    const two = await grpcWebCall(port, ECHO, [echo("a"), echo("b")]);
    assert.equal(two.status, Code.Internal);
    const truncated = await grpcWebCall(port, ECHO, [], { contentType: "application/grpc-web", headers: {} });
    assert.equal(truncated.status, Code.Internal);
    const { h1 } = await import("./support/http-client.js");
    const cut = await h1(port, { method: "POST", path: ECHO, headers: { "content-type": "application/grpc-web" }, body: Buffer.from([0, 0, 0, 0, 9, 1]) });
    assert.match(cut.body.subarray(5).toString("latin1"), /grpc-status:13/);
    const badText = await h1(port, { method: "POST", path: ECHO, headers: { "content-type": "application/grpc-web-text" }, body: "!!!!" });
    assert.match(Buffer.from(badText.text, "base64").toString("latin1"), /grpc-status:13/);
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(100 * 1024 * 1024, 1);
    const oversized = await h1(port, { method: "POST", path: ECHO, headers: { "content-type": "application/grpc-web" }, body: huge });
    assert.match(oversized.body.subarray(5).toString("latin1"), /grpc-status:8/);
  });

  it("other codecs get 415 and other methods 405", async () => {
    const json = await grpcWebCall(port, ECHO, [echo("")], { contentType: "application/grpc-web+json" });
    assert.equal(json.http.status, 415);
    const get = await grpcWebCall(port, ECHO, [], { method: "GET" });
    assert.equal(get.http.status, 405);
    assert.equal(get.http.headers.allow, "POST");
  });

  it("CORS: allowed origins get Access-Control-Allow-Origin and grpc-status/grpc-message exposed", async () => {
    const allowed = await grpcWebCall(port, ECHO, [echo("c")], { headers: { origin: "http://allowed.test" } });
    assert.equal(allowed.http.headers["access-control-allow-origin"], "http://allowed.test");
    const exposed = String(allowed.http.headers["access-control-expose-headers"]);
    for (const name of ["grpc-status", "grpc-message", "x-method"]) assert.ok(exposed.includes(name), exposed);
    const other = await grpcWebCall(port, ECHO, [echo("c")], { headers: { origin: "http://evil.test" } });
    assert.equal(other.http.headers["access-control-allow-origin"], undefined);
    assert.equal(other.status, 0);
  });
});
