/**
 * CORS on the front port: off by default; with --cors-origin, preflights (JSON and
 * gRPC-Web) and actual responses from allowed origins get the headers, others not.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "./support/echo-user-function.js";
import { h1, h2 } from "./support/http-client.js";

const ALLOWED = "http://allowed.test";

describe("CORS", () => {
  let uf: EchoUserFunction;
  let withCors: ProxyProcess;
  let withoutCors: ProxyProcess;
  let anyOrigin: ProxyProcess;

  before(async () => {
    uf = await startEchoUserFunction();
    [withCors, withoutCors, anyOrigin] = await Promise.all([
      startProxy({ userFunctionPort: uf.port, extraArgs: ["--cors-origin", ALLOWED, "--cors-origin", "http://second.test"] }),
      startProxy({ userFunctionPort: uf.port }),
      startProxy({ userFunctionPort: uf.port, extraArgs: ["--cors-origin", "*"] }),
    ]);
  });
  after(async () => {
    await Promise.all([withCors.stop(), withoutCors.stop(), anyOrigin.stop()]);
    await uf.close();
  });

  const preflight = (port: number, origin: string, path = "/v1/echo/x", method = "POST", headers = "content-type") =>
    h1(port, { method: "OPTIONS", path, headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers } });

  it("is off by default: no CORS headers, and a preflight is just an OPTIONS request (405)", async () => {
    const answer = await preflight(withoutCors.port, ALLOWED);
    assert.equal(answer.status, 405);
    assert.equal(answer.headers["access-control-allow-origin"], undefined);
    // With CORS off, no other origin may send state-changing requests at all.
    const actual = await h1(withoutCors.port, { method: "POST", path: "/v1/echo/x", headers: { origin: ALLOWED }, json: {} });
    assert.equal(actual.status, 403);
    assert.equal(actual.headers["access-control-allow-origin"], undefined);
    const read = await h1(withoutCors.port, { method: "GET", path: "/v1/echo/x", headers: { origin: ALLOWED } });
    assert.equal(read.status, 200);
    assert.equal(read.headers["access-control-allow-origin"], undefined);
  });

  it("answers a preflight from an allowed origin with 204, the methods and the requested headers", async () => {
    for (const origin of [ALLOWED, "http://second.test"]) {
      const answer = await preflight(withCors.port, origin);
      assert.equal(answer.status, 204);
      assert.equal(answer.headers["access-control-allow-origin"], origin);
      assert.match(String(answer.headers["access-control-allow-methods"]), /POST/);
      assert.equal(answer.headers["access-control-allow-headers"], "content-type");
      assert.equal(answer.headers["access-control-max-age"], "86400");
      assert.match(String(answer.headers.vary), /Origin/);
    }
  });

  it("answers a gRPC-Web preflight (custom headers, custom method) the same way, over h2c too", async () => {
    const web = await preflight(withCors.port, ALLOWED, `/${TRANSCODING_SERVICE}/Echo`, "POST", "content-type,x-grpc-web,x-user-agent,grpc-timeout");
    assert.equal(web.status, 204);
    assert.equal(web.headers["access-control-allow-headers"], "content-type,x-grpc-web,x-user-agent,grpc-timeout");
    const report = await preflight(withCors.port, ALLOWED, "/v1/report/x", "REPORT");
    assert.match(String(report.headers["access-control-allow-methods"]), /REPORT/);
    const overH2 = await h2(withCors.port, { method: "OPTIONS", path: "/v1/echo/x", headers: { origin: ALLOWED, "access-control-request-method": "POST" } });
    assert.equal(overH2.status, 204);
    assert.equal(overH2.headers["access-control-allow-origin"], ALLOWED);
  });

  it("does not answer preflights from other origins", async () => {
    const answer = await preflight(withCors.port, "http://evil.test");
    assert.notEqual(answer.status, 204);
    assert.equal(answer.headers["access-control-allow-origin"], undefined);
  });

  it("adds Access-Control-Allow-Origin and exposes grpc-status, grpc-message and the reply headers on responses, errors included", async () => {
    const ok = await h1(withCors.port, { method: "POST", path: "/v1/headers", headers: { origin: ALLOWED }, json: {} });
    assert.equal(ok.headers["access-control-allow-origin"], ALLOWED);
    const exposed = String(ok.headers["access-control-expose-headers"]);
    for (const name of ["grpc-status", "grpc-message", "x-reply", "x-method"]) assert.ok(exposed.includes(name), exposed);
    const failed = await h1(withCors.port, { method: "POST", path: "/v1/fail", headers: { origin: ALLOWED }, json: { message: "no" } });
    assert.equal(failed.status, 500);
    assert.equal(failed.headers["access-control-allow-origin"], ALLOWED);
    const missing = await h1(withCors.port, { path: "/nope", headers: { origin: ALLOWED } });
    assert.equal(missing.headers["access-control-allow-origin"], ALLOWED);
    const evil = await h1(withCors.port, { method: "POST", path: "/v1/echo/x", headers: { origin: "http://evil.test" }, json: {} });
    assert.equal(evil.headers["access-control-allow-origin"], undefined);
  });

  it("* allows any origin (echoed back)", async () => {
    const answer = await preflight(anyOrigin.port, "http://anything.test");
    assert.equal(answer.status, 204);
    assert.equal(answer.headers["access-control-allow-origin"], "http://anything.test");
  });
});
