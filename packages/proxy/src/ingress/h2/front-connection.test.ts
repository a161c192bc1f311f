/**
 * The proxy's own HTTP/2 server (the front port's default stack), one connection at a
 * time: requests and responses against Node's HTTP/2 client, and what a raw peer can do
 * to it (flow control, malformed heads, GOAWAY on close, PINGs). Real sockets.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import type { H2Stream } from "../../http2/connection.js";
import { ErrorCode, FRAME_HEADER, Flag, FrameType, frame, goawayFrame, PREFACE, settingsFrame, windowUpdateFrame } from "../../http2/frames.js";
import { encodeHeaderBlock } from "../../http2/hpack.js";
import { createLogger } from "../../observability/logger.js";
import { DEFAULT_CONNECTION_LIMITS } from "../connection-guard.js";
import { type FrontConnection, headerObject, serveFrontConnection } from "./front-connection.js";

type OnStream = (stream: H2Stream, headers: http2.IncomingHttpHeaders, end: boolean) => void;

/** A TCP server whose connections are served by {@link serveFrontConnection}; each test sets `onStream`. */
async function frontServer(limits: Partial<typeof DEFAULT_CONNECTION_LIMITS> = {}) {
  const state: { onStream: OnStream; connections: FrontConnection[] } = { onStream: () => {}, connections: [] };
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    state.connections.push(
      serveFrontConnection(socket, {
        limits: { ...DEFAULT_CONNECTION_LIMITS, ...limits },
        logger: createLogger({ level: "error" }),
        overCap: false,
        onStream: (stream, headers, end) => state.onStream(stream, headers, end),
        onClose: () => {},
      }),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { state, server, port: (server.address() as net.AddressInfo).port };
}

interface RawFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/** A client that writes raw frames and collects what the server sends. */
async function rawClient(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, "connect");
  const frames: RawFrame[] = [];
  let input = Buffer.alloc(0);
  let ended = false;
  socket.on("data", (chunk: Buffer) => {
    input = Buffer.concat([input, chunk]);
    while (input.length >= FRAME_HEADER) {
      const length = input.readUIntBE(0, 3);
      if (input.length < FRAME_HEADER + length) break;
      frames.push({ type: input[3] as number, flags: input[4] as number, id: input.readUInt32BE(5) & 0x7fffffff, payload: input.subarray(9, 9 + length) });
      input = input.subarray(FRAME_HEADER + length);
    }
  });
  socket.on("close", () => {
    ended = true;
  });
  socket.write(Buffer.concat([PREFACE, settingsFrame([])]));
  return {
    socket,
    frames,
    get ended() {
      return ended;
    },
    send: (...buffers: Buffer[]) => socket.write(Buffer.concat(buffers)),
    async waitFor(test: (f: RawFrame) => boolean, what: string): Promise<RawFrame> {
      for (let i = 0; i < 200; i++) {
        const found = frames.find(test);
        if (found !== undefined) return found;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no ${what} within 2 s; got types ${frames.map((f) => f.type).join(",")}`);
    },
  };
}

const request = (path: string, extra: [string, string][] = []) =>
  Buffer.from(encodeHeaderBlock([[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", "localhost"], ...extra]));

/** Answers every stream with its request body echoed back and a trailer. */
const echo: OnStream = (stream) => {
  const chunks: Buffer[] = [];
  stream.handler = {
    headers() {},
    data(payload, end) {
      chunks.push(Buffer.from(payload));
      if (!end) return;
      stream.sendHeaders(encodeHeaderBlock([[":status", "200"]]), false);
      stream.write(Buffer.concat(chunks), false);
      stream.sendHeaders(encodeHeaderBlock([["x-bytes", String(Buffer.concat(chunks).length)]]), true);
    },
    closed() {},
  };
};

describe("the front port's own HTTP/2 server", () => {
  let front: Awaited<ReturnType<typeof frontServer>>;
  before(async () => {
    front = await frontServer({ maxConcurrentStreams: 4, keepaliveIntervalMs: 200, keepaliveTimeoutMs: 300, idleTimeoutMs: 60_000 });
  });
  after(() => front.server.close());

  it("serves Node's HTTP/2 client: request body in, response body and trailers out, past the client's window", async () => {
    front.state.onStream = echo;
    const session = http2.connect(`http://127.0.0.1:${front.port}`);
    try {
      // 300 kB is more than the client's 64 KiB window: the rest waits for WINDOW_UPDATE, and the trailers wait behind it.
      const body = Buffer.alloc(300_000, 7);
      const stream = session.request({ ":method": "POST", ":path": "/echo" });
      stream.end(body);
      const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      const [trailers] = (await once(stream, "trailers")) as [http2.IncomingHttpHeaders];
      await once(stream, "close");
      assert.equal(headers[":status"], 200);
      assert.deepEqual(Buffer.concat(chunks), body);
      assert.equal(trailers["x-bytes"], "300000");
    } finally {
      session.close();
    }
  });

  it("gives a paused stream's window back only when it resumes, and resets a stream that sends past its window", async () => {
    let held: H2Stream | undefined;
    front.state.onStream = (stream) => {
      held = stream;
      stream.pause();
      stream.handler = { headers() {}, data() {}, closed() {} };
    };
    const peer = await rawClient(front.port);
    try {
      peer.send(frame(FrameType.Headers, Flag.EndHeaders, 1, request("/upload")));
      // 1 MiB is the stream's window: all of it may be sent, none given back while paused.
      for (let i = 0; i < 64; i++) peer.send(frame(FrameType.Data, 0, 1, Buffer.alloc(16_384)));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(
        peer.frames.some((f) => f.type === FrameType.WindowUpdate && f.id === 1),
        false,
        "no window given back to a paused stream",
      );
      held?.resume();
      const update = await peer.waitFor((f) => f.type === FrameType.WindowUpdate && f.id === 1, "stream WINDOW_UPDATE after resume");
      assert.equal(update.payload.readUInt32BE(0), 1024 * 1024);
      // Stream 3, paused too, gets one byte more than its window: only that stream is reset.
      peer.send(frame(FrameType.Headers, Flag.EndHeaders, 3, request("/upload")));
      for (let i = 0; i < 64; i++) peer.send(frame(FrameType.Data, 0, 3, Buffer.alloc(16_384)));
      peer.send(frame(FrameType.Data, 0, 3, Buffer.alloc(1)));
      const reset = await peer.waitFor((f) => f.type === FrameType.RstStream && f.id === 3, "RST_STREAM on stream 3");
      assert.equal(reset.payload.readUInt32BE(0), ErrorCode.FlowControlError);
      assert.equal(peer.ended, false, "the connection stays");
    } finally {
      peer.socket.destroy();
    }
  });

  it("resets a malformed request head with PROTOCOL_ERROR and keeps the connection", async () => {
    front.state.onStream = echo;
    const peer = await rawClient(front.port);
    try {
      peer.send(frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, request("/x", [["X-Upper", "1"]])));
      const reset = await peer.waitFor((f) => f.type === FrameType.RstStream && f.id === 1, "RST_STREAM for the upper-case name");
      assert.equal(reset.payload.readUInt32BE(0), ErrorCode.ProtocolError);
      peer.send(frame(FrameType.Headers, Flag.EndHeaders, 3, request("/x", [["connection", "keep-alive"]])));
      await peer.waitFor((f) => f.type === FrameType.RstStream && f.id === 3, "RST_STREAM for a connection header");
      peer.send(frame(FrameType.Headers, Flag.EndHeaders, 5, request("/x")), frame(FrameType.Data, Flag.EndStream, 5, Buffer.from("ok")));
      const trailers = await peer.waitFor((f) => f.type === FrameType.Headers && f.id === 5 && (f.flags & Flag.EndStream) !== 0, "a response on stream 5");
      assert.ok(trailers);
    } finally {
      peer.socket.destroy();
    }
  });

  it("refuses streams over its limit with REFUSED_STREAM", async () => {
    front.state.onStream = (stream) => {
      stream.handler = { headers() {}, data() {}, closed() {} };
    };
    const peer = await rawClient(front.port);
    try {
      for (const id of [1, 3, 5, 7, 9]) peer.send(frame(FrameType.Headers, Flag.EndHeaders, id, request("/hold")));
      const refused = await peer.waitFor((f) => f.type === FrameType.RstStream && f.id === 9, "the fifth stream refused");
      assert.equal(refused.payload.readUInt32BE(0), ErrorCode.RefusedStream);
      assert.equal(
        peer.frames.some((f) => f.type === FrameType.RstStream && f.id < 9),
        false,
      );
    } finally {
      peer.socket.destroy();
    }
  });

  it("closes with GOAWAY naming the last stream it took, ignores a stream opened after it, finishes the one it took even after the client's own GOAWAY, then ends the connection", async () => {
    let open: H2Stream | undefined;
    front.state.onStream = (stream) => {
      open = stream;
      stream.handler = { headers() {}, data() {}, closed() {} };
    };
    const before = front.state.connections.length;
    const peer = await rawClient(front.port);
    try {
      peer.send(frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 7, request("/slow")));
      while (open === undefined) await new Promise((r) => setTimeout(r, 10));
      front.state.connections[before]?.close();
      const goaway = await peer.waitFor((f) => f.type === FrameType.Goaway, "GOAWAY");
      assert.equal(goaway.payload.readUInt32BE(0), 7);
      assert.equal(goaway.payload.readUInt32BE(4), ErrorCode.NoError);
      assert.equal(peer.ended, false, "stays open for the stream in progress");
      // A stream the client opened as the GOAWAY crossed it is ignored, its body too: no protocol error.
      peer.send(frame(FrameType.Headers, Flag.EndHeaders, 9, request("/late")), frame(FrameType.Data, Flag.EndStream, 9, Buffer.from("late")));
      // The client closing its side too (as Node's client does on a GOAWAY) must not end the stream it waits for.
      peer.send(goawayFrame(ErrorCode.NoError));
      await new Promise((r) => setTimeout(r, 100));
      open.sendHeaders(encodeHeaderBlock([[":status", "204"]]), true);
      await peer.waitFor((f) => f.type === FrameType.Headers && f.id === 7, "the answer of stream 7");
      assert.deepEqual(
        peer.frames.filter((f) => f.type === FrameType.Goaway).map((f) => f.payload.readUInt32BE(4)),
        [ErrorCode.NoError],
        "one GOAWAY, without error",
      );
      for (let i = 0; i < 200 && !peer.ended; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(peer.ended, true, "the connection ended after its last stream");
    } finally {
      peer.socket.destroy();
    }
  });

  it("PINGs the client and drops a connection whose PING stays unanswered", async () => {
    const peer = await rawClient(front.port);
    try {
      const ping = await peer.waitFor((f) => f.type === FrameType.Ping && (f.flags & 1) === 0, "a PING");
      assert.equal(ping.payload.length, 8);
      for (let i = 0; i < 200 && !peer.ended; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(peer.ended, true, "no PING ACK: the connection is closed");
    } finally {
      peer.socket.destroy();
    }
  });

  it("ends a connection that breaks the protocol with GOAWAY PROTOCOL_ERROR (a frame on a stream it never opened)", async () => {
    const peer = await rawClient(front.port);
    try {
      peer.send(windowUpdateFrame(5, 100));
      const goaway = await peer.waitFor((f) => f.type === FrameType.Goaway, "GOAWAY");
      assert.equal(goaway.payload.readUInt32BE(4), ErrorCode.ProtocolError);
      assert.match(goaway.payload.subarray(8).toString(), /never opened/);
    } finally {
      peer.socket.destroy();
    }
  });
});

describe("request heads as handlers see them", () => {
  it("joins repeated fields the way Node's HTTP/2 server does", () => {
    const headers = headerObject([
      ":method",
      "GET",
      ":path",
      "/a",
      "x-a",
      "1",
      "x-a",
      "2",
      "cookie",
      "a=1",
      "cookie",
      "b=2",
      "content-type",
      "text/plain",
      "content-type",
      "x/y",
    ]);
    assert.deepEqual(headers, { ":method": "GET", ":path": "/a", "x-a": ["1", "2"], cookie: "a=1; b=2", "content-type": "text/plain" });
  });

  it("says what is wrong with a malformed head", () => {
    assert.equal(headerObject([":path", "/a"]), "no :method");
    assert.equal(headerObject([":method", "GET", "x", "1", ":path", "/a"]), "pseudo-header :path after regular headers");
    assert.equal(headerObject([":method", "GET", ":path", "/a", ":path", "/b"]), "pseudo-header :path repeated");
    assert.equal(headerObject([":method", "GET", ":path", "/a", ":protocol", "x"]), "unknown pseudo-header :protocol");
    assert.equal(headerObject([":method", "GET", ":path", "/a", "te", "gzip"]), "connection-specific header te");
    assert.equal(typeof headerObject([":method", "GET", ":path", "/a", "te", "trailers"]), "object");
  });
});
