/**
 * Calls that must be refused or answered truthfully, through the real proxy process:
 * a unary call's second message, grpc-timeout at both ends of its range, gRPC with
 * GET, reflection turned off, cross-site requests, and error texts that do not name
 * where the user function runs.
 */
import assert from "node:assert/strict";
import type * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../packages/proxy/src/errors/index.js";
import { EchoMessageSchema } from "../http/gen/switchboard/test/http/transcoding_pb.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { h1 } from "../http/support/http-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { connect, rawGrpc } from "./support/raw-grpc.js";

const ECHO = `/${TRANSCODING_SERVICE}/Echo`;
const REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
const echo = (id: string) => toBinary(EchoMessageSchema, create(EchoMessageSchema, { id }));
const FORM = "application/x-www-form-urlencoded";

describe("call hardening", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  let session: http2.ClientHttp2Session;
  const commands = () => uf.commands.length;

  before(async () => {
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--cors-origin", "http://allowed.test"] });
    session = connect(proxy.port);
  });
  after(async () => {
    session.close();
    await proxy.stop();
    await uf.close();
  });

  it("refuses the second message of a unary call at once, before the request ends", async () => {
    const before = commands();
    const result = await rawGrpc(session, ECHO, [echo("a"), echo("b")], { keepOpen: true, timeoutMs: 5000 });
    assert.equal(result.status, Code.Internal);
    assert.match(result.message, /expected exactly one request message .* got a second one/);
    assert.equal(commands(), before, "nothing was executed");
  });

  it("honours grpc-timeout values past 2^31-1 ms instead of expiring at once", async () => {
    for (const timeout of ["597H", "99999999S", "99999999M"]) {
      const result = await rawGrpc(session, ECHO, [echo(timeout)], { headers: { "grpc-timeout": timeout } });
      assert.equal(result.status, Code.Ok, `grpc-timeout ${timeout}: ${result.message}`);
      assert.equal(fromBinary(EchoMessageSchema, result.messages[0] as Buffer).id, timeout);
    }
  });

  it("answers an already expired deadline with DEADLINE_EXCEEDED without executing it", async () => {
    for (const timeout of ["1n", "0m", "0S"]) {
      const before = commands();
      const result = await rawGrpc(session, ECHO, [echo("late")], { headers: { "grpc-timeout": timeout } });
      assert.equal(result.status, Code.DeadlineExceeded, `grpc-timeout ${timeout}`);
      assert.equal(commands(), before, `grpc-timeout ${timeout} reached the user function`);
    }
  });

  it("refuses gRPC with method GET without executing it", async () => {
    const before = commands();
    const result = await rawGrpc(session, ECHO, [], { method: "GET" });
    assert.equal(result.headers[":status"], 405);
    assert.equal(result.status, Code.Unimplemented);
    assert.equal(commands(), before);
  });

  it("serves reflection by default", async () => {
    const result = await rawGrpc(session, REFLECTION, [Buffer.from([0x3a, 0x00])]);
    assert.equal(result.status, Code.Ok);
    assert.equal(result.messages.length, 1);
  });

  describe("cross-site requests", () => {
    const post = (path: string, headers: Record<string, string>, body?: string, method = "POST") =>
      h1(proxy.port, { method, path, headers, ...(body !== undefined ? { body } : {}) });

    it("refuses a form-encoded POST from another origin, and does not execute it", async () => {
      const before = commands();
      const answer = await post("/v1/echo/victim", { origin: "http://evil.example", "content-type": FORM }, "id=x");
      assert.equal(answer.status, 403);
      assert.match(answer.text, /origin http:\/\/evil\.example refused/);
      const bodiless = await post("/v1/echo/victim", { origin: "http://evil.example" }, undefined, "DELETE");
      assert.equal(bodiless.status, 403);
      assert.equal(commands(), before);
    });

    it("refuses JSON from a disallowed origin, takes it from an allowed one, the same origin or a non-browser client", async () => {
      const json = { "content-type": "application/json" };
      assert.equal((await post("/v1/echo/a", { ...json, origin: "http://evil.example" }, "{}")).status, 403);
      assert.equal((await post("/v1/echo/a", { ...json, origin: "http://allowed.test" }, "{}")).status, 200);
      assert.equal((await post("/v1/echo/a", { ...json, origin: `http://127.0.0.1:${proxy.port}` }, "{}")).status, 200);
      assert.equal((await post("/v1/echo/a", json, "{}")).status, 200);
    });

    it("refuses form and text/plain requests (a browser sends those without a preflight): 415 on body-less routes, 400 where JSON is read", async () => {
      const before = commands();
      for (const type of [FORM, "text/plain", "multipart/form-data; boundary=x"]) {
        const bodiless = await post("/v1/echo/a", { "content-type": type }, "", "DELETE");
        assert.equal(bodiless.status, 415, type);
        assert.match(bodiless.text, /send application\/json/);
        const withBody = await post("/v1/echo/a", { "content-type": type }, "{}");
        assert.equal(withBody.status, 400, type);
        assert.match(withBody.text, /content type must be application\/json/);
      }
      assert.equal(commands(), before);
      assert.equal((await post("/v1/echo/a", {}, undefined, "DELETE")).status, 200, "a body-less DELETE without a content type is fine");
    });
  });
});

describe("front port options", () => {
  it("--no-reflection (and NO_REFLECTION) turn reflection off", async () => {
    const uf = await startEchoUserFunction();
    for (const options of [{ extraArgs: ["--no-reflection"] }, { env: { NO_REFLECTION: "true" } }]) {
      const proxy = await startProxy({ userFunctionPort: uf.port, ...options });
      const session = connect(proxy.port);
      try {
        const result = await rawGrpc(session, REFLECTION, [Buffer.from([0x3a, 0x00])]);
        assert.equal(result.status, Code.Unimplemented);
        assert.equal((await rawGrpc(session, ECHO, [echo("still")])).status, Code.Ok);
      } finally {
        session.close();
        await proxy.stop();
      }
    }
    await uf.close();
  });

  it("error texts sent to clients do not name the user function's address; the log does", async () => {
    const uf = await startEchoUserFunction();
    const proxy = await startProxy({ userFunctionPort: uf.port });
    const session = connect(proxy.port);
    try {
      await uf.close();
      const address = `127.0.0.1:${uf.port}`;
      const grpc = await rawGrpc(session, ECHO, [echo("gone")]);
      assert.equal(grpc.status, Code.Unavailable);
      assert.ok(!grpc.message.includes(address), grpc.message);
      const json = await h1(proxy.port, { method: "POST", path: "/v1/echo/gone", json: {} });
      assert.equal(json.status, 503);
      assert.ok(!json.text.includes(address), json.text);
      assert.ok(proxy.stderr().includes(address));
    } finally {
      session.close();
      await proxy.stop();
    }
  });
});
