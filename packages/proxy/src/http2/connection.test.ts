import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import { describe, it } from "node:test";
import { H2Connection, type StreamHandler } from "./connection.js";
import { ErrorCode, FRAME_HEADER, Flag, FrameType, frame, PREFACE, Setting, settingsFrame } from "./frames.js";
import { encodeHeaderBlock } from "./hpack.js";

/** What one stream saw, and a promise of its end. */
class Recorder implements StreamHandler {
  readonly heads: string[][] = [];
  readonly chunks: Buffer[] = [];
  code: number | undefined;
  lost: string | undefined;
  ended = false;
  private done!: () => void;
  readonly closedPromise = new Promise<void>((resolve) => {
    this.done = resolve;
  });
  headers(fields: string[]): void {
    this.heads.push(fields);
  }
  data(payload: Buffer): void {
    this.chunks.push(Buffer.from(payload));
  }
  closed(code: number | undefined, lost: string | undefined): void {
    assert.equal(this.ended, false, "closed twice");
    this.ended = true;
    this.code = code;
    this.lost = lost;
    this.done();
  }
  body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const head = (path: string) =>
  encodeHeaderBlock([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/octet-stream"],
  ]);

const NO_EVENTS = { settled() {}, goaway() {}, protocolError() {} };

async function listen(server: net.Server | http2.Http2Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

async function dial(port: number, events = NO_EVENTS): Promise<H2Connection> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  const connection = new H2Connection(socket, events);
  await once(socket, "connect");
  return connection;
}

function field(fields: string[] | undefined, name: string): string | undefined {
  const i = fields?.indexOf(name) ?? -1;
  return i >= 0 && i % 2 === 0 ? fields?.[i + 1] : undefined;
}

/** A peer that speaks raw frames: it records what the client sent and answers with whatever the test writes. */
async function rawPeer(): Promise<{
  port: number;
  sockets: net.Socket[];
  frames: { type: number; flags: number; id: number; payload: Buffer }[];
  close(): void;
}> {
  const sockets: net.Socket[] = [];
  const frames: { type: number; flags: number; id: number; payload: Buffer }[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    let buffer = Buffer.alloc(0);
    let prefaced = false;
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!prefaced) {
        if (buffer.length < PREFACE.length) return;
        assert.deepEqual(buffer.subarray(0, PREFACE.length), PREFACE);
        buffer = buffer.subarray(PREFACE.length);
        prefaced = true;
      }
      while (buffer.length >= FRAME_HEADER) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < FRAME_HEADER + length) break;
        frames.push({ type: buffer[3] as number, flags: buffer[4] as number, id: buffer.readUInt32BE(5), payload: buffer.subarray(9, 9 + length) });
        buffer = buffer.subarray(FRAME_HEADER + length);
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    sockets,
    frames,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the proxy's HTTP/2 connection", () => {
  it("sends and receives bodies far over the peer's windows, in both directions (flow control)", async () => {
    // A peer with tiny windows makes our sending wait for WINDOW_UPDATE; an echo of 20 MiB
    // goes past our own 16 MiB windows, so we must give window back as we read.
    const server = http2.createServer({ settings: { initialWindowSize: 1000, maxFrameSize: 16_384 } });
    server.on("stream", (stream) => {
      const parts: Buffer[] = [];
      stream.on("data", (d: Buffer) => parts.push(d));
      stream.on("end", () => {
        const body = Buffer.concat(parts);
        stream.respond({ ":status": 200 });
        stream.end(Buffer.concat(Array.from({ length: 20 }, () => body)));
      });
    });
    const port = await listen(server);
    const connection = await dial(port);
    try {
      const request = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < request.length; i++) request[i] = (i * 7) % 251;
      const recorder = new Recorder();
      connection.open(head("/echo"), recorder, request, true);
      await recorder.closedPromise;
      assert.equal(recorder.code, undefined);
      assert.equal(field(recorder.heads[0], ":status"), "200");
      const body = recorder.body();
      assert.equal(body.length, 20 * request.length);
      assert.ok(body.subarray(19 * request.length).equals(request), "the echo's last copy is byte for byte the request");
      assert.equal(connection.active, 0);
    } finally {
      connection.destroy("test over");
      server.close();
    }
  });

  it("keeps streams over the peer's limit waiting until one ends, then starts them in order", async () => {
    const server = http2.createServer({ settings: { maxConcurrentStreams: 1 } });
    const started: string[] = [];
    const open: http2.ServerHttp2Stream[] = [];
    server.on("stream", (stream, headers) => {
      started.push(String(headers[":path"]));
      open.push(stream);
      stream.on("data", () => {});
    });
    const port = await listen(server);
    let settled = false;
    const connection = await dial(port, { ...NO_EVENTS, settled: () => (settled = true) });
    try {
      await until(() => settled, "the peer's SETTINGS");
      const [a, b, c] = [new Recorder(), new Recorder(), new Recorder()];
      connection.open(head("/a"), a, undefined, true);
      connection.open(head("/b"), b, undefined, true);
      connection.open(head("/c"), c, undefined, true);
      assert.equal(connection.active, 3);
      await until(() => started.length === 1, "the first stream");
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(started, ["/a"], "the others wait");
      open.shift()?.respond({ ":status": 200 }, { endStream: true });
      await a.closedPromise;
      await until(() => started.length === 2, "the second stream");
      open.shift()?.respond({ ":status": 200 }, { endStream: true });
      await until(() => started.length === 3, "the third stream");
      open.shift()?.respond({ ":status": 200 }, { endStream: true });
      await Promise.all([b.closedPromise, c.closedPromise]);
      assert.deepEqual(started, ["/a", "/b", "/c"]);
      assert.equal(connection.active, 0);
    } finally {
      connection.destroy("test over");
      server.close();
    }
  });

  it("reads padded DATA, HEADERS with priority and padding, and a header block split over CONTINUATION frames", async () => {
    const peer = await rawPeer();
    const connection = await dial(peer.port);
    try {
      const recorder = new Recorder();
      connection.open(head("/x"), recorder, Buffer.from("ping"), true);
      await until(() => peer.sockets.length === 1 && peer.frames.some((f) => f.type === FrameType.Data), "the request");
      const socket = peer.sockets[0] as net.Socket;
      const block = Buffer.from(
        encodeHeaderBlock([
          [":status", "200"],
          ["x-long", "v".repeat(300)],
        ]),
      );
      // HEADERS: PADDED (3 bytes of padding) + PRIORITY (5 bytes), first half of the block; then CONTINUATION with the rest.
      const first = Buffer.concat([Buffer.from([3]), Buffer.alloc(5), block.subarray(0, 100), Buffer.alloc(3)]);
      const data = Buffer.concat([Buffer.from([4]), Buffer.from("pong"), Buffer.alloc(4)]);
      const trailers = Buffer.from(encodeHeaderBlock([["grpc-status", "0"]]));
      socket.write(
        Buffer.concat([
          settingsFrame([]),
          frame(FrameType.Headers, Flag.Padded | Flag.Priority, 1, first),
          frame(FrameType.Continuation, Flag.EndHeaders, 1, block.subarray(100)),
          frame(FrameType.Data, Flag.Padded, 1, data),
          frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, trailers),
        ]),
      );
      await recorder.closedPromise;
      assert.equal(recorder.code, undefined);
      assert.equal(field(recorder.heads[0], "x-long"), "v".repeat(300));
      assert.equal(recorder.body().toString(), "pong");
      assert.equal(field(recorder.heads[1], "grpc-status"), "0");
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });

  it("answers the peer's PING with the same payload, and ends streams the peer reset with its code", async () => {
    const peer = await rawPeer();
    const connection = await dial(peer.port);
    try {
      const recorder = new Recorder();
      connection.open(head("/x"), recorder, undefined, false);
      await until(() => peer.sockets.length === 1 && peer.frames.some((f) => f.type === FrameType.Headers), "the request head");
      const socket = peer.sockets[0] as net.Socket;
      const rst = Buffer.alloc(4);
      rst.writeUInt32BE(ErrorCode.EnhanceYourCalm);
      socket.write(Buffer.concat([settingsFrame([]), frame(FrameType.Ping, 0, 0, Buffer.from("12345678")), frame(FrameType.RstStream, 0, 1, rst)]));
      await recorder.closedPromise;
      assert.equal(recorder.code, ErrorCode.EnhanceYourCalm);
      await until(() => peer.frames.some((f) => f.type === FrameType.Ping), "the PING's ACK");
      const ack = peer.frames.find((f) => f.type === FrameType.Ping);
      assert.equal(ack?.flags, 1);
      assert.equal(ack?.payload.toString(), "12345678");
      assert.ok(
        peer.frames.some((f) => f.type === FrameType.Settings && f.flags === 1),
        "our SETTINGS ACK",
      );
      assert.equal(connection.active, 0);
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });

  it("on GOAWAY refuses the streams the peer never saw and finishes the ones it did", async () => {
    const peer = await rawPeer();
    let goaway: number | undefined;
    const connection = await dial(peer.port, { ...NO_EVENTS, goaway: (code) => (goaway = code) });
    try {
      const [seen, unseen] = [new Recorder(), new Recorder()];
      connection.open(head("/1"), seen, undefined, true);
      connection.open(head("/3"), unseen, undefined, true);
      await until(() => peer.sockets.length === 1 && peer.frames.filter((f) => f.type === FrameType.Headers).length === 2, "both heads");
      const socket = peer.sockets[0] as net.Socket;
      const away = Buffer.alloc(8);
      away.writeUInt32BE(1, 0); // last stream processed: 1
      socket.write(Buffer.concat([settingsFrame([]), frame(FrameType.Goaway, 0, 0, away)]));
      await unseen.closedPromise;
      assert.equal(unseen.code, ErrorCode.RefusedStream);
      assert.equal(goaway, ErrorCode.NoError);
      assert.equal(connection.draining, true);
      assert.equal(seen.ended, false, "stream 1 is still served");
      socket.write(frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, Buffer.from(encodeHeaderBlock([[":status", "200"]]))));
      await seen.closedPromise;
      assert.equal(seen.code, undefined);
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });

  for (const [name, answer, detail] of [
    ["an HTTP/1.1 answer", Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"), /a frame of \d+ bytes/],
    ["a first frame that is not SETTINGS", frame(FrameType.Ping, 0, 0, Buffer.alloc(8)), /the first frame was not SETTINGS/],
    [
      "a header block that does not decode",
      Buffer.concat([settingsFrame([]), frame(FrameType.Headers, Flag.EndHeaders, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]),
      /cannot be decoded/,
    ],
    [
      "a flood of CONTINUATION frames",
      Buffer.concat([
        settingsFrame([]),
        frame(FrameType.Headers, 0, 1, Buffer.alloc(0)),
        ...Array.from({ length: 20 }, () => frame(FrameType.Continuation, 0, 1, Buffer.alloc(16_000))),
      ]),
      /a header block over/,
    ],
    ["a PUSH_PROMISE", Buffer.concat([settingsFrame([]), frame(FrameType.PushPromise, Flag.EndHeaders, 1, Buffer.alloc(4))]), /PUSH_PROMISE/],
    [
      "HEADERS on a stream it may not open",
      Buffer.concat([settingsFrame([]), frame(FrameType.Headers, Flag.EndHeaders, 2, Buffer.from(encodeHeaderBlock([[":status", "200"]])))]),
      /a HEADERS frame on stream 2, which was never opened/,
    ],
    [
      "DATA on a stream not opened yet",
      Buffer.concat([settingsFrame([]), frame(FrameType.Data, 0, 7, Buffer.from("x"))]),
      /a DATA frame on stream 7, which was never opened/,
    ],
    ["a window past 2^31 - 1", Buffer.concat([settingsFrame([[Setting.InitialWindowSize, 0x8000_0000]])]), /an initial window of/],
  ] as const) {
    it(`closes the connection on ${name}, says why, and ends its streams as lost`, async () => {
      const peer = await rawPeer();
      let reported: string | undefined;
      const connection = await dial(peer.port, { ...NO_EVENTS, protocolError: (d) => (reported = d) });
      try {
        const recorder = new Recorder();
        connection.open(head("/x"), recorder, undefined, true);
        await until(() => peer.sockets.length === 1, "the connection");
        (peer.sockets[0] as net.Socket).write(answer);
        await recorder.closedPromise;
        assert.match(reported ?? "", detail);
        assert.match(recorder.lost ?? "", /HTTP\/2 protocol error/);
        assert.equal(connection.closed, true);
        assert.equal(connection.active, 0);
        if (name !== "an HTTP/1.1 answer" && name !== "a first frame that is not SETTINGS") {
          await until(() => peer.frames.some((f) => f.type === FrameType.Goaway), "our GOAWAY");
        }
      } finally {
        connection.destroy("test over");
        peer.close();
      }
    });
  }

  it("closes gracefully: GOAWAY at once, the socket only after the open stream ended", async () => {
    const peer = await rawPeer();
    const connection = await dial(peer.port);
    try {
      const recorder = new Recorder();
      connection.open(head("/a"), recorder, undefined, true);
      await until(() => peer.sockets.length === 1 && peer.frames.some((f) => f.type === FrameType.Headers), "the request head");
      const socket = peer.sockets[0] as net.Socket;
      socket.write(settingsFrame([]));
      connection.close();
      await until(() => peer.frames.some((f) => f.type === FrameType.Goaway), "our GOAWAY");
      assert.equal(connection.draining, true);
      assert.equal(socket.readableEnded, false, "still open while the stream is");
      socket.write(frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, Buffer.from(encodeHeaderBlock([[":status", "200"]]))));
      await recorder.closedPromise;
      assert.equal(recorder.code, undefined);
      await until(() => socket.readableEnded, "our end of the socket");
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });

  it("writes a turn's first frames at once and gathers the rest of that turn into one write", async () => {
    const peer = await rawPeer();
    const socket = net.connect(peer.port, "127.0.0.1");
    socket.on("error", () => {});
    const connection = new H2Connection(socket, NO_EVENTS);
    await once(socket, "connect");
    let writes = 0;
    const write = socket.write.bind(socket) as (chunk: Uint8Array) => boolean;
    socket.write = ((chunk: Uint8Array) => {
      writes++;
      return write(chunk);
    }) as typeof socket.write;
    const recorders: Recorder[] = [];
    const openOne = (path: string) => {
      const recorder = new Recorder();
      recorders.push(recorder);
      connection.open(head(path), recorder, Buffer.from(path), true);
    };
    try {
      await new Promise((resolve) => setImmediate(resolve));
      const before = writes;
      // Twenty streams opened from twenty callbacks of one turn, each after the one before
      // had been written out (as requests read from twenty HTTP/1.1 connections are).
      const wroteAt: number[] = [];
      await new Promise<void>((resolve) => {
        let n = 0;
        const next = () => {
          openOne(`/s${n}`);
          n++;
          if (n < 20) process.nextTick(() => process.nextTick(next));
          else setImmediate(resolve);
          process.nextTick(() => wroteAt.push(writes - before));
        };
        next();
      });
      assert.equal(wroteAt[0], 1, "the turn's first stream goes out before the turn's next callback");
      assert.equal(writes - before, 2, "the other nineteen go out together, in one write");
      await until(() => peer.frames.filter((f) => f.type === FrameType.Headers).length === 20, "twenty request heads");
      // A later turn starts afresh: its first stream goes out at once again.
      const mark = writes;
      openOne("/later");
      await new Promise<void>((resolve) => process.nextTick(resolve));
      assert.equal(writes - mark, 1);
      await until(() => peer.frames.filter((f) => f.type === FrameType.Headers).length === 21, "the later request head");
      const bodies = peer.frames.filter((f) => f.type === FrameType.Data).map((f) => f.payload.toString());
      assert.deepEqual(bodies, [...Array.from({ length: 20 }, (_, i) => `/s${i}`), "/later"]);
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });

  it("ends every stream as lost when the socket closes", async () => {
    const peer = await rawPeer();
    const connection = await dial(peer.port);
    try {
      const [a, b] = [new Recorder(), new Recorder()];
      connection.open(head("/a"), a, undefined, false);
      connection.open(head("/b"), b, undefined, false);
      await until(() => peer.sockets.length === 1, "the connection");
      (peer.sockets[0] as net.Socket).destroy();
      await Promise.all([a.closedPromise, b.closedPromise]);
      assert.equal(a.lost, "the connection closed");
      assert.equal(b.lost, "the connection closed");
      assert.equal(connection.active, 0);
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });
  it("on GOAWAY refuses the streams still waiting for a slot too, and starts none of them", async () => {
    const peer = await rawPeer();
    const connection = await dial(peer.port);
    try {
      const socket = await (async () => {
        await until(() => peer.sockets.length === 1, "the connection");
        return peer.sockets[0] as net.Socket;
      })();
      socket.write(settingsFrame([[Setting.MaxConcurrentStreams, 1]]));
      await until(() => peer.frames.some((f) => f.type === FrameType.Settings && f.flags === 1), "our SETTINGS ACK");
      const [open, waiting] = [new Recorder(), new Recorder()];
      connection.open(head("/a"), open, undefined, true);
      connection.open(head("/b"), waiting, undefined, true);
      await until(() => peer.frames.some((f) => f.type === FrameType.Headers), "the first head");
      socket.write(frame(FrameType.Goaway, 0, 0, Buffer.alloc(8))); // last stream 0: stream 1 was never seen
      await Promise.all([open.closedPromise, waiting.closedPromise]);
      assert.equal(open.code, ErrorCode.RefusedStream);
      assert.equal(waiting.code, ErrorCode.RefusedStream);
      assert.equal(connection.active, 0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(peer.frames.filter((f) => f.type === FrameType.Headers).length, 1, "the waiting stream never went out");
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });

  it("closes cleanly on a graceful GOAWAY followed by a PING in the same read (nothing written after its end)", async () => {
    const peer = await rawPeer();
    const errors: Error[] = [];
    const socket = net.connect(peer.port, "127.0.0.1");
    socket.on("error", (error) => errors.push(error));
    const connection: H2Connection = new H2Connection(socket, { ...NO_EVENTS, goaway: () => connection.close() });
    await once(socket, "connect");
    try {
      await until(() => peer.sockets.length === 1, "the connection");
      const away = Buffer.alloc(8);
      away.writeUInt32BE(0x7fff_ffff, 0);
      (peer.sockets[0] as net.Socket).write(
        Buffer.concat([settingsFrame([]), frame(FrameType.Goaway, 0, 0, away), frame(FrameType.Ping, 0, 0, Buffer.alloc(8))]),
      );
      await until(() => socket.writableEnded, "our end of the socket");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(
        errors.map((e) => e.message),
        [],
      );
      assert.equal(
        connection.ping(() => {}),
        false,
        "no PING after the end",
      );
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });
  it("resets only the stream whose window a WINDOW_UPDATE pushes past 2^31 - 1", async () => {
    const peer = await rawPeer();
    const connection = await dial(peer.port);
    try {
      const [victim, other] = [new Recorder(), new Recorder()];
      connection.open(head("/a"), victim, undefined, false);
      connection.open(head("/b"), other, undefined, false);
      await until(() => peer.sockets.length === 1 && peer.frames.filter((f) => f.type === FrameType.Headers).length === 2, "both heads");
      const increment = Buffer.alloc(4);
      increment.writeUInt32BE(0x7fff_ffff);
      (peer.sockets[0] as net.Socket).write(Buffer.concat([settingsFrame([]), frame(FrameType.WindowUpdate, 0, 1, increment)]));
      await victim.closedPromise;
      assert.equal(victim.code, ErrorCode.FlowControlError);
      await until(() => peer.frames.some((f) => f.type === FrameType.RstStream && f.id === 1), "our RST_STREAM");
      assert.equal(peer.frames.find((f) => f.type === FrameType.RstStream)?.payload.readUInt32BE(0), ErrorCode.FlowControlError);
      assert.equal(other.ended, false, "the other stream goes on");
      assert.equal(connection.closed, false);
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });

  it("gives up a peer that never opens its flow-control window once 64 MiB wait for it", async () => {
    const peer = await rawPeer();
    let reported: string | undefined;
    let settled = false;
    const connection = await dial(peer.port, { ...NO_EVENTS, settled: () => (settled = true), protocolError: (d) => (reported = d) });
    try {
      await until(() => peer.sockets.length === 1, "the connection");
      (peer.sockets[0] as net.Socket).write(settingsFrame([[Setting.InitialWindowSize, 0]]));
      await until(() => settled, "its SETTINGS");
      const small = new Recorder();
      connection.open(head("/small"), small, Buffer.alloc(1000), false);
      assert.equal(connection.closed, false, "a little data may wait");
      const big = new Recorder();
      connection.open(head("/big"), big, Buffer.alloc(65 * 1024 * 1024), true);
      await Promise.all([small.closedPromise, big.closedPromise]);
      assert.match(reported ?? "", /left 65 MiB of requests waiting for its flow-control window/);
      assert.match(big.lost ?? "", /HTTP\/2 protocol error/);
      assert.equal(connection.active, 0);
    } finally {
      connection.destroy("test over");
      peer.close();
    }
  });
});
