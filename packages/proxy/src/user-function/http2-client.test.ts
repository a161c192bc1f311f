import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { describe, it } from "node:test";
import { EntityDiscovery, ProxyInfoSchema } from "@switchboard/protocol";
import { create } from "@bufbuild/protobuf";
import { Code, type SwitchboardError } from "../errors/index.js";
import type { ChannelEvent, ChannelLoss, UserFunctionClient, UserFunctionClientOptions } from "./client.js";
import { createBuiltinUserFunctionClient } from "./builtin-client.js";
import { frame } from "../http2/frames.js";
import { encodeHeaderBlock } from "../http2/hpack.js";
import { createHttp2UserFunctionClient } from "./http2-client.js";

const INFO = create(ProxyInfoSchema, { protocolMajorVersion: 0, protocolMinorVersion: 2 });

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function events(client: UserFunctionClient): { list: [ChannelEvent, ChannelLoss | undefined][] } {
  const list: [ChannelEvent, ChannelLoss | undefined][] = [];
  client.onChannelEvent((event, loss) => list.push([event, loss]));
  return { list };
}

async function discoverError(client: UserFunctionClient): Promise<SwitchboardError> {
  return client.unary(EntityDiscovery.method.discover, INFO, { deadline: Date.now() + 5000 }).then(
    () => assert.fail("discover should fail"),
    (error: SwitchboardError) => error,
  );
}

const CLIENTS: [string, (options: UserFunctionClientOptions) => UserFunctionClient][] = [
  ["built-in HTTP/2", createBuiltinUserFunctionClient],
  ["node:http2", createHttp2UserFunctionClient],
];

for (const [name, createClient] of CLIENTS)
  describe(`the user-function client over ${name}`, () => {
    it("gives up a connection whose peer accepts it but never speaks HTTP/2, and says so", async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((socket) => sockets.add(socket)).listen(0, "127.0.0.1");
      await once(silent, "listening");
      const { port } = silent.address() as net.AddressInfo;
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20, connectTimeoutMs: 200 });
      try {
        // Without the settle timeout the call would wait until its deadline instead.
        const error = await client.unary(EntityDiscovery.method.discover, INFO, { deadline: Date.now() + 60_000 }).then(
          () => assert.fail("discover should fail"),
          (e: SwitchboardError) => e,
        );
        assert.equal(error.code, Code.Unavailable);
        assert.match(error.rawMessage, /did not answer the HTTP\/2 preface within 200 ms .*if it serves TLS, start the proxy with --user-function-tls/);
      } finally {
        client.close();
        for (const socket of sockets) socket.destroy();
        silent.close();
      }
    });

    it("says that nothing listens on the port", async () => {
      const port = await freePort();
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20 });
      try {
        const error = await discoverError(client);
        assert.equal(error.code, Code.Unavailable);
        assert.equal(
          error.rawMessage,
          `user function at 127.0.0.1:${port} is unavailable: connection refused at 127.0.0.1:${port} — is the user function running?`,
        );
      } finally {
        client.close();
      }
    });

    it("says that an HTTP/1.1 server is not an HTTP/2 gRPC server, and keeps backing off while it connects", async () => {
      let connections = 0;
      const server = http.createServer((_request, response) => response.end("hello"));
      server.on("connection", () => connections++);
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20, minBackoffMs: 100, maxBackoffMs: 1000 });
      try {
        const error = await discoverError(client);
        assert.equal(error.code, Code.Unavailable);
        assert.match(error.rawMessage, new RegExp(`127\\.0\\.0\\.1:${port} is not an HTTP/2 gRPC server`));
        // With a listener the client reconnects by itself; TCP connects must not reset the backoff:
        // 100, 200, 400, 800, 1000 ms between dials gives at most 6 dials in 2.5 s (a reset on
        // each connect would give about 20).
        connections = 0;
        events(client);
        const started = Date.now();
        const retried: number[] = [];
        while (Date.now() - started < 2500) {
          retried.push((await discoverError(client)).code);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(connections >= 2, `it does retry (${connections} connections)`);
        assert.ok(connections <= 7, `${connections} connections in 2.5 s`);
        assert.ok(
          retried.every((code) => code === Code.Unavailable),
          "calls between dials fail at once with UNAVAILABLE",
        );
      } finally {
        client.close();
        server.closeAllConnections();
        server.close();
      }
    });

    it("sends a call's deadline as grpc-timeout but not its relay deadline, and ends the call at the earlier of the two", async () => {
      // A server that records each request's grpc-timeout and never answers.
      const server = http2.createServer();
      const timeouts: (string | undefined)[] = [];
      server.on("stream", (stream, headers) => {
        timeouts.push(headers["grpc-timeout"] as string | undefined);
        stream.on("error", () => {});
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20 });
      const fails = (options: Parameters<UserFunctionClient["unary"]>[2]) =>
        client.unary(EntityDiscovery.method.discover, INFO, options).then(
          () => assert.fail("the call should not succeed"),
          (error: SwitchboardError) => error,
        );
      try {
        let started = Date.now();
        const relayOnly = await fails({ relayDeadline: Date.now() + 200 });
        assert.equal(relayOnly.code, Code.DeadlineExceeded, relayOnly.message);
        assert.ok(Date.now() - started >= 190, "not before the relay deadline");
        started = Date.now();
        const both = await fails({ deadline: Date.now() + 300, relayDeadline: Date.now() + 60_000 });
        assert.equal(both.code, Code.DeadlineExceeded, both.message);
        assert.ok(Date.now() - started < 5000, "at the client's deadline, not the relay deadline");
        assert.equal(timeouts.length, 2);
        assert.equal(timeouts[0], undefined, "the relay deadline is not sent");
        assert.match(timeouts[1] ?? "", /^\d+m$/);
        assert.ok(Number.parseInt(timeouts[1] ?? "", 10) <= 300);
      } finally {
        client.close();
        server.close();
      }
    });

    it("reports a graceful goodbye (GOAWAY without error) as such", async () => {
      const server = http2.createServer();
      server.on("stream", (stream) => stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true }));
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const sessions: http2.ServerHttp2Session[] = [];
      server.on("session", (session) => sessions.push(session));
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20 });
      const seen = events(client);
      try {
        await until(() => seen.list.some(([event]) => event === "ready"), 5000, "ready");
        for (const session of sessions) session.close();
        await until(() => seen.list.some(([event]) => event === "lost"), 5000, "lost");
        assert.deepEqual(seen.list.at(-1), ["lost", { reason: `the user function at 127.0.0.1:${port} closed the connection`, graceful: true }]);
      } finally {
        client.close();
        server.close();
      }
    });

    it("loses a hung user function (SIGSTOP) through keep-alive PINGs, and gets it back after SIGCONT", async () => {
      const child = spawn(
        process.execPath,
        [
          "-e",
          `const s = require("node:http2").createServer((q, r) => { r.writeHead(200, { "content-type": "application/grpc" }); r.addTrailers({ "grpc-status": "0" }); r.end(); });
             s.listen(0, "127.0.0.1", () => console.log("port " + s.address().port));`,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      try {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        await until(() => /port \d+/.test(out), 10_000, "the user function's port");
        const port = Number(/port (\d+)/.exec(out)?.[1]);
        const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20, keepAliveIntervalMs: 100, keepAliveTimeoutMs: 300 });
        const seen = events(client);
        try {
          await until(() => seen.list.some(([event]) => event === "ready"), 5000, "ready");
          // An answer (no message: the call fails, but the user function spoke), then quiet: PINGs go out and are answered.
          await discoverError(client);
          await new Promise((resolve) => setTimeout(resolve, 400));
          assert.deepEqual(
            seen.list.map(([event]) => event),
            ["ready"],
          );
          // It answers once more and stops right after: the next quiet interval's PING finds it hung.
          await discoverError(client);
          child.kill("SIGSTOP");
          await until(() => seen.list.some(([event]) => event === "lost"), 5000, "lost");
          const loss = seen.list.find(([event]) => event === "lost")?.[1];
          assert.equal(loss?.graceful, false);
          assert.match(loss?.reason ?? "", /did not answer a keep-alive PING within 300 ms — is it hung\?/);
          child.kill("SIGCONT");
          await until(() => seen.list.filter(([event]) => event === "ready").length === 2, 10_000, "ready again");
        } finally {
          client.close();
        }
      } finally {
        child.kill("SIGKILL");
      }
    });

    it("opens another connection when one is at the user function's stream limit", async () => {
      const server = http2.createServer({ settings: { maxConcurrentStreams: 4 } });
      const sessions = new Set<http2.ServerHttp2Session>();
      let streams = 0;
      server.on("stream", (stream) => {
        streams++;
        sessions.add(stream.session as http2.ServerHttp2Session);
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.on("data", () => {});
        stream.on("end", () => stream.end());
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20 });
      const seen = events(client);
      try {
        await until(() => seen.list.some(([event]) => event === "ready"), 5000, "ready");
        const ended: (SwitchboardError | undefined)[] = [];
        const calls = Array.from({ length: 10 }, () =>
          client.stream(EntityDiscovery.method.discover, { onMessage() {}, onEnd: (error) => ended.push(error) }, { first: INFO }),
        );
        await until(() => streams === 10, 5000, `10 streams open at once (${streams})`);
        assert.equal(sessions.size, 3, "4 + 4 + 2 streams on three connections");
        for (const call of calls) call.end();
        await until(() => ended.length === 10, 5000, "every call ended");
      } finally {
        client.close();
        server.close();
      }
    });
    it("fails a call whose response is over the size limit or does not decode, with the status that says so", async () => {
      // The first call gets a 2,048-byte message (the limit is 1,024), the second 4 bytes that are no protobuf.
      const bodies = [Buffer.concat([Buffer.from([0, 0, 0, 8, 0]), Buffer.alloc(2048)]), Buffer.from([0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff])];
      const server = http2.createServer();
      server.on("stream", (stream) => {
        const body = bodies.shift() ?? Buffer.alloc(0);
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.on("error", () => {});
        stream.on("data", () => {});
        stream.on("end", () => stream.end(body));
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1024 });
      try {
        const tooBig = await discoverError(client);
        assert.equal(tooBig.code, Code.ResourceExhausted);
        assert.match(tooBig.rawMessage, /^message from the user function is too large: .*2048 bytes exceeds the maximum of 1024 bytes/);
        const garbage = await discoverError(client);
        assert.equal(garbage.code, Code.Internal);
        assert.match(garbage.rawMessage, /^cannot decode a message from the user function on \/cloudstate\.EntityDiscovery\/discover: /);
      } finally {
        client.close();
        server.close();
      }
    });
    it("maps an HTTP status other than 200 to the gRPC code the gRPC spec gives it", async () => {
      const statuses = [404, 429, 401, 418];
      const server = http2.createServer();
      server.on("stream", (stream) => {
        stream.on("error", () => {});
        stream.respond({ ":status": statuses.shift() ?? 500 }, { endStream: true });
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20 });
      try {
        const codes: Code[] = [];
        for (let i = 0; i < 4; i++) {
          const error = await discoverError(client);
          assert.match(error.rawMessage, /^user function at 127\.0\.0\.1:\d+ answered HTTP \d+$/);
          codes.push(error.code);
        }
        assert.deepEqual(codes, [Code.Unimplemented, Code.Unavailable, Code.Unauthenticated, Code.Unknown]);
      } finally {
        client.close();
        server.close();
      }
    });

    it("fails calls UNAVAILABLE when the TLS stack refuses its material, and stays up", async () => {
      const port = await freePort();
      const client = createClient({
        host: "127.0.0.1",
        port,
        maxMessageSize: 1 << 20,
        connectTimeoutMs: 100,
        tls: { cert: Buffer.from("not a certificate"), key: Buffer.from("not a key") },
      });
      try {
        const error = await discoverError(client);
        assert.equal(error.code, Code.Unavailable);
        assert.match(error.rawMessage, /cannot connect to 127\.0\.0\.1:\d+: /);
        await new Promise((resolve) => setTimeout(resolve, 300)); // past the settle timeout: no timer may fire on a half-made connection
        assert.equal((await discoverError(client)).code, Code.Unavailable);
      } finally {
        client.close();
      }
    });
    it("PINGs a quiet connection at most twice while the user function sends nothing (gRPC servers close on more)", async () => {
      let pings = 0;
      const sockets: net.Socket[] = [];
      const answer = Buffer.from(
        encodeHeaderBlock([
          [":status", "200"],
          ["content-type", "application/grpc"],
          ["grpc-status", "0"],
        ]),
      );
      // A bare HTTP/2 peer: SETTINGS, a trailers-only answer to every request, and an ACK to every PING, counted.
      const server = net.createServer((socket) => {
        sockets.push(socket);
        socket.on("error", () => {});
        socket.write(frame(4, 0, 0));
        let buffer = Buffer.alloc(0);
        let prefaced = false;
        socket.on("data", (chunk: Buffer) => {
          buffer = Buffer.concat([buffer, chunk]);
          if (!prefaced) {
            if (buffer.length < 24) return;
            buffer = buffer.subarray(24);
            prefaced = true;
          }
          while (buffer.length >= 9 && buffer.length >= 9 + buffer.readUIntBE(0, 3)) {
            const length = buffer.readUIntBE(0, 3);
            const type = buffer[3];
            const flags = buffer[4] ?? 0;
            const id = buffer.readUInt32BE(5) & 0x7fffffff;
            const payload = buffer.subarray(9, 9 + length);
            buffer = buffer.subarray(9 + length);
            if (type === 4 && (flags & 1) === 0) socket.write(frame(4, 1, 0));
            if (type === 6 && (flags & 1) === 0) {
              pings++;
              socket.write(frame(6, 1, 0, payload));
            }
            if (type === 1) socket.write(frame(1, 0x4 | 0x1, id, answer));
          }
        });
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const client = createClient({ host: "127.0.0.1", port, maxMessageSize: 1 << 20, keepAliveIntervalMs: 50, keepAliveTimeoutMs: 1000 });
      const seen = events(client);
      try {
        await until(() => seen.list.some(([event]) => event === "ready"), 5000, "ready");
        await discoverError(client); // the user function answers (HEADERS): PINGs may follow
        await new Promise((resolve) => setTimeout(resolve, 600)); // twelve intervals of quiet
        assert.equal(pings, 2, "two PINGs after the answer, then none");
        await discoverError(client); // it spoke again: two more
        await new Promise((resolve) => setTimeout(resolve, 600));
        assert.equal(pings, 4);
        assert.deepEqual(
          seen.list.map(([event]) => event),
          ["ready"],
          "never lost",
        );
      } finally {
        client.close();
        for (const socket of sockets) socket.destroy();
        server.close();
      }
    });
  });
