/**
 * The benchmark's gRPC load client (bench/load/grpc.ts) on both of its HTTP/2 engines,
 * against a real node:http2 server on 127.0.0.1: a benchmark that miscounts failures or
 * truncated replies as successes reports throughput that never happened.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { frame, GENERATOR_HTTP2, GrpcClient } from "../bench/load/grpc.js";

const BIG = Buffer.alloc(200_000, 7);

function startServer(): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const path = headers[":path"];
    const body: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => body.push(chunk));
    stream.on("error", () => {});
    stream.on("end", () => {
      const request = Buffer.concat(body);
      switch (path) {
        case "/test.Echo/Unary":
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(request);
          return;
        case "/test.Echo/Big":
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(frame(BIG));
          return;
        case "/test.Echo/Missing":
          stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "5", "grpc-message": "no%20such%20thing" }, { endStream: true });
          return;
        case "/test.Echo/LateError":
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "13", "grpc-message": "broke after a message" }));
          stream.end(frame(Buffer.from("partial")));
          return;
        case "/test.Echo/Truncated":
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          // Announces 100 bytes, sends 3.
          stream.end(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.from("abc")]));
          return;
        case "/test.Echo/NoStatus":
          stream.respond({ ":status": 200, "content-type": "application/grpc" });
          stream.end(frame(Buffer.from("x")));
          return;
        case "/test.Echo/Http":
          stream.respond({ ":status": 503 }, { endStream: true });
          return;
        case "/test.Echo/Watch": {
          stream.respond({ ":status": 200, "content-type": "application/grpc" });
          // Three messages in one write (split by the client), then silence until cancelled.
          stream.write(Buffer.concat([frame(Buffer.from("one")), frame(Buffer.from("two")), frame(Buffer.from("three"))]));
          return;
        }
        default:
          stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

type Outcome = { status: number; message: string; reply: Buffer | undefined };

function call(client: GrpcClient, path: string, body = frame(Buffer.from("hello"))): Promise<Outcome> {
  return new Promise((resolve) => client.call(path, body, (status, message, reply) => resolve({ status, message, reply })));
}

let server: http2.Http2Server;
let port: number;
before(async () => {
  server = await startServer();
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

for (const engine of GENERATOR_HTTP2) {
  describe(`bench gRPC client, ${engine} HTTP/2`, () => {
    let client: GrpcClient;
    before(async () => {
      client = await GrpcClient.connect("127.0.0.1", port, 2, engine);
      assert.equal(client.engine, engine);
    });
    after(() => client.close());

    test("a unary call returns the reply message, on every session", async () => {
      const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => call(client, "/test.Echo/Unary", frame(Buffer.from(`msg-${i}`)))));
      outcomes.forEach((o, i) => {
        assert.equal(o.status, 0, o.message);
        assert.equal(o.reply?.toString(), `msg-${i}`);
      });
    });

    test("a reply larger than a frame and the default window arrives whole", async () => {
      const o = await call(client, "/test.Echo/Big");
      assert.equal(o.status, 0, o.message);
      assert.ok(o.reply?.equals(BIG), `reply of ${o.reply?.length} bytes`);
    });

    test("statuses: trailers-only, an error after a message, unimplemented", async () => {
      assert.deepEqual(await call(client, "/test.Echo/Missing"), { status: 5, message: "no such thing", reply: undefined });
      assert.deepEqual(await call(client, "/test.Echo/LateError"), { status: 13, message: "broke after a message", reply: undefined });
      assert.equal((await call(client, "/test.Echo/Other")).status, 12);
    });

    test("a truncated reply, a missing status and an HTTP error are failures, not successes", async () => {
      const truncated = await call(client, "/test.Echo/Truncated");
      assert.equal(truncated.status, 13);
      assert.match(truncated.message, /malformed reply body \(8 bytes\)/);
      const noStatus = await call(client, "/test.Echo/NoStatus");
      assert.equal(noStatus.status, 14);
      assert.match(noStatus.message, /without status/);
      const http = await call(client, "/test.Echo/Http");
      assert.equal(http.status, 14);
      assert.match(http.message, /HTTP 503/);
      // The connection still serves calls after all of them.
      assert.equal((await call(client, "/test.Echo/Unary")).status, 0);
    });

    test("a server stream delivers each message and ends CANCELLED when the client cancels", async () => {
      const messages: string[] = [];
      let cancel: () => void = () => {};
      const status = await new Promise<number>((resolve) => {
        cancel = client.stream(
          "/test.Echo/Watch",
          frame(Buffer.from("watch")),
          (m) => {
            messages.push(m.toString());
            if (messages.length === 3) setImmediate(() => cancel());
          },
          (code) => resolve(code),
        );
      });
      assert.deepEqual(messages, ["one", "two", "three"]);
      assert.equal(status, 1);
    });

    test("unary() rejects with the path and status", async () => {
      await assert.rejects(client.unary("/test.Echo/Missing", frame(Buffer.alloc(0))), /\/test\.Echo\/Missing: grpc-status 5: no such thing/);
    });
  });

  test(`bench gRPC client, ${engine} HTTP/2: connecting to a closed port fails`, async () => {
    const closed = http2.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", () => resolve()));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(GrpcClient.connect("127.0.0.1", free, 1, engine), /ECONNREFUSED/);
  });
}
