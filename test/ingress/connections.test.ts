/**
 * No connection can take the front port down: bad HTTP/2 frames leave no socket in
 * CLOSE-WAIT, every stage of a connection has a timeout, HTTP/2 sessions are PINGed,
 * connections and streams over their caps are refused one by one, and oversized
 * request heads get 431. Real proxy process, raw sockets; on both HTTP/2 stacks and both
 * HTTP/1.1 stacks (the proxy's own with Node's behind it, and Node's alone).
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { FRAME, h2Frame, hpack, PREFACE, parseFrames, rawConnect } from "./support/h2-frames.js";
import { fdCount, socketsInState, TCP_STATE } from "./support/proc.js";

/** Both HTTP/2 stacks of the front port: the proxy's own and node:http2. */
const STACKS = ["builtin", "node"] as const;
const SETTINGS = h2Frame(FRAME.SETTINGS, 0, 0);
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, headers, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (c: string) => {
        body += c;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

function h2Get(session: http2.ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, ...headers });
    let status = 0;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => {
      status = Number(h[":status"]);
    });
    stream.on("data", (c: string) => {
      body += c;
    });
    stream.on("end", () => resolve({ status, body }));
    stream.on("error", reject);
    stream.end();
  });
}

for (const stack of STACKS)
  describe(`front port connections (${stack} HTTP/2 and HTTP/1.1)`, () => {
    let uf: EchoUserFunction;
    let proxy: ProxyProcess;
    let pid: number;

    before(async () => {
      uf = await startEchoUserFunction();
      proxy = await startProxy({
        userFunctionPort: uf.port,
        extraArgs: [
          "--front-http2",
          stack,
          "--front-http1",
          stack,
          "--keepalive-interval",
          "300",
          "--keepalive-timeout",
          "300",
          "--idle-timeout",
          "1500",
          "--header-timeout",
          "1000",
          "--sniff-timeout",
          "1000",
        ],
      });
      pid = proxy.child.pid as number;
    });
    after(async () => {
      await proxy.stop();
      await uf.close();
    });

    const badFrames: Record<string, Buffer> = {
      "PING with a 7-byte payload": h2Frame(FRAME.PING, 0, 0, Buffer.alloc(7)),
      "an oversized frame": h2Frame(FRAME.DATA, 0, 1, Buffer.alloc(20_000)),
      "DATA on an idle stream": h2Frame(FRAME.DATA, 0, 3, Buffer.from("x")),
      "bad header compression": h2Frame(FRAME.HEADERS, END_HEADERS | END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f])),
      "SETTINGS with a bad length": h2Frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5)),
      "CONTINUATION without HEADERS": h2Frame(FRAME.CONTINUATION, END_HEADERS, 1, hpack({ ":method": "GET", ":path": "/alive" })),
    };

    it("leaves no socket in CLOSE-WAIT after bad HTTP/2 frames, and no descriptor behind", async () => {
      const baseline = fdCount(pid);
      for (const [name, bad] of Object.entries(badFrames)) {
        const connections = await Promise.all(Array.from({ length: 10 }, () => rawConnect(proxy.port)));
        for (const c of connections) c.socket.write(Buffer.concat([PREFACE, SETTINGS, bad]));
        // Wait for the server's answer (its SETTINGS and GOAWAY), then leave.
        await eventually(() => connections.every((c) => c.received().length > 0), 5000, `answers to ${name}`);
        for (const c of connections) c.socket.end();
        await eventually(() => socketsInState(proxy.port, TCP_STATE.CLOSE_WAIT) === 0, 5000, `no CLOSE-WAIT after ${name}`);
      }
      await eventually(() => fdCount(pid) <= baseline + 2, 5000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
      assert.equal((await get(proxy.port, "/alive")).status, 200);
    });

    it("closes a connection that sends nothing, or only part of the preface, after the sniff timeout", async () => {
      const silent = await rawConnect(proxy.port);
      const partial = await rawConnect(proxy.port);
      partial.socket.write(PREFACE.subarray(0, 10));
      await Promise.all([silent.closed(4000), partial.closed(4000)]);
    });

    it("closes an HTTP/1.1 connection whose headers drip in slower than the header timeout", async () => {
      const drip = await rawConnect(proxy.port);
      const text = "GET /alive HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
      let i = 0;
      const timer = setInterval(() => {
        if (i < text.length && !drip.socket.destroyed) drip.socket.write(text[i++] as string);
      }, 100);
      try {
        await drip.closed(5000);
        assert.ok(i < text.length, "the whole request got through");
      } finally {
        clearInterval(timer);
      }
    });

    it("PINGs an idle HTTP/2 session and closes it after the idle timeout", async () => {
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      session.on("error", () => {});
      let pings = 0;
      session.on("ping", () => pings++);
      let goaway = false;
      session.on("goaway", () => {
        goaway = true;
      });
      await new Promise<void>((resolve) => session.once("connect", () => resolve()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("idle session still open")), 6000);
        session.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      assert.ok(pings >= 2, `expected keep-alive PINGs, got ${pings}`);
      assert.ok(goaway, "closed with GOAWAY");
    });

    it("keeps a session that makes calls open past the idle timeout", async () => {
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      session.on("error", () => {});
      let closed = false;
      session.on("close", () => {
        closed = true;
      });
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        assert.equal((await h2Get(session, "/alive")).status, 200);
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(closed, false);
      session.close();
    });

    it("closes a session whose HEADERS never end (no END_HEADERS) and that ignores PINGs", async () => {
      const c = await rawConnect(proxy.port);
      c.socket.write(Buffer.concat([PREFACE, SETTINGS, h2Frame(FRAME.HEADERS, END_STREAM, 1, hpack({ ":method": "GET" }))]));
      await c.closed(5000);
    });

    it("answers oversized request heads with 431 over HTTP/1.1 and HTTP/2", async () => {
      assert.equal((await get(proxy.port, "/alive", { "x-big": "a".repeat(20_000) })).status, 431);
      assert.equal((await get(proxy.port, `/v1/echo/${"u".repeat(20_000)}`)).status, 431);
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      session.on("error", () => {});
      try {
        assert.equal((await h2Get(session, "/alive", { "x-big": "a".repeat(20_000) })).status, 431);
        assert.equal((await h2Get(session, `/v1/echo/${"u".repeat(20_000)}`)).status, 431);
        assert.equal((await h2Get(session, "/alive")).status, 200, "the session survives");
      } finally {
        session.close();
      }
    });
  });

for (const stack of STACKS)
  describe(`front port caps (${stack} HTTP/2 and HTTP/1.1)`, () => {
    let uf: EchoUserFunction;
    let proxy: ProxyProcess;

    before(async () => {
      uf = await startEchoUserFunction();
      proxy = await startProxy({
        userFunctionPort: uf.port,
        extraArgs: [
          "--front-http2",
          stack,
          "--front-http1",
          stack,
          "--max-connections",
          "4",
          "--max-concurrent-streams",
          "5",
          "--keepalive-interval",
          "300",
          "--keepalive-timeout",
          "300",
        ],
      });
    });
    after(async () => {
      await proxy.stop();
      await uf.close();
    });

    it("refuses connections over the cap cleanly (503 over HTTP/1.1, GOAWAY over HTTP/2) and takes new ones when there is room", async () => {
      const sessions = Array.from({ length: 4 }, () => {
        const s = http2.connect(`http://127.0.0.1:${proxy.port}`);
        s.on("error", () => {});
        return s;
      });
      try {
        for (const s of sessions) assert.equal((await h2Get(s, "/alive")).status, 200);
        const over = await get(proxy.port, "/alive");
        assert.equal(over.status, 503);
        assert.match(over.body, /too many connections/);
        const refused = http2.connect(`http://127.0.0.1:${proxy.port}`);
        refused.on("error", () => {});
        const goaway = new Promise<void>((resolve) => refused.once("goaway", () => resolve()));
        await goaway;
        refused.destroy();
        for (const s of sessions) assert.equal((await h2Get(s, "/alive")).status, 200, "the admitted connections keep working");
      } finally {
        for (const s of sessions.splice(0, 2)) s.close();
      }
      await eventually(async () => (await get(proxy.port, "/alive")).status === 200, 5000, "room for a new connection");
      for (const s of sessions) s.close();
    });

    it("refuses streams over the per-connection cap with REFUSED_STREAM and keeps the connection and its accepted calls", async () => {
      await eventually(async () => (await get(proxy.port, "/alive")).status === 200, 5000, "room for a new connection");
      const c = await rawConnect(proxy.port);
      const open = (id: number) =>
        h2Frame(
          FRAME.HEADERS,
          END_HEADERS,
          id,
          hpack({ ":method": "POST", ":scheme": "http", ":authority": "x", ":path": `/${TRANSCODING_SERVICE}/Echo`, "content-type": "application/json" }),
        );
      const ids = Array.from({ length: 12 }, (_, i) => 1 + 2 * i);
      // A client that floods at once, before it has seen the limit: 12 streams that wait for their bodies.
      c.socket.write(Buffer.concat([PREFACE, SETTINGS, ...ids.map(open)]));
      const frames = () => parseFrames(c.received());
      await eventually(() => frames().filter((f) => f.type === FRAME.RST_STREAM).length >= 7, 5000, "7 refused streams");
      const resets = frames().filter((f) => f.type === FRAME.RST_STREAM);
      assert.deepEqual(
        resets.map((f) => f.payload.readUInt32BE(0)),
        resets.map(() => http2.constants.NGHTTP2_REFUSED_STREAM),
      );
      assert.deepEqual(
        resets.map((f) => f.streamId),
        ids.slice(5),
      );
      // The five accepted calls still complete on the same connection.
      c.socket.write(Buffer.concat(ids.slice(0, 5).map((id) => h2Frame(FRAME.DATA, END_STREAM, id, Buffer.from('{"id":"ok"}')))));
      await eventually(() => frames().filter((f) => f.type === FRAME.DATA && (f.flags & END_STREAM) !== 0).length >= 5, 5000, "five answers");
      assert.equal(frames().filter((f) => f.type === FRAME.GOAWAY).length, 0, "no GOAWAY");
      c.socket.destroy();
    });
  });
