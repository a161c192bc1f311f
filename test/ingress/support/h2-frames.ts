/**
 * Raw HTTP/2 frames for tests that must send what no client library sends: bad
 * frames, streams over the advertised limit, headers without END_HEADERS.
 */
import * as net from "node:net";

/** The client connection preface. */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Frame types used here. */
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;

/** One frame: 9-byte header and payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK block of literal fields without indexing or Huffman coding (names lower-case, values < 127 bytes each... or longer). */
export function hpack(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const int7 = (n: number): Buffer => {
    if (n < 127) return Buffer.from([n]);
    const out = [127];
    let rest = n - 127;
    while (rest >= 128) {
      out.push((rest % 128) + 128);
      rest = Math.floor(rest / 128);
    }
    out.push(rest);
    return Buffer.from(out);
  };
  for (const [name, value] of Object.entries(headers)) {
    parts.push(Buffer.from([0]), int7(name.length), Buffer.from(name, "latin1"), int7(Buffer.byteLength(value)), Buffer.from(value, "utf8"));
  }
  return Buffer.concat(parts);
}

/** A raw TCP connection with everything it received. */
export interface RawConnection {
  readonly socket: net.Socket;
  /** All bytes received so far. */
  received(): Buffer;
  /** Resolves when the server closed the connection (or rejects after `timeoutMs`). */
  closed(timeoutMs: number): Promise<void>;
}

/** Opens a raw TCP connection to 127.0.0.1:`port`. */
export function rawConnect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let isClosed = false;
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.once("close", () => {
      isClosed = true;
    });
    socket.once("connect", () =>
      resolve({
        socket,
        received: () => Buffer.concat(chunks),
        closed: (timeoutMs) =>
          isClosed
            ? Promise.resolve()
            : new Promise<void>((done, fail) => {
                const timer = setTimeout(() => fail(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
                socket.once("close", () => {
                  clearTimeout(timer);
                  done();
                });
              }),
      }),
    );
    socket.once("error", reject);
  });
}

/** Splits received bytes (after the server's preface-less start) into frames. */
export function parseFrames(bytes: Buffer): { type: number; flags: number; streamId: number; payload: Buffer }[] {
  const frames: { type: number; flags: number; streamId: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({
      type: bytes[at + 3] as number,
      flags: bytes[at + 4] as number,
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return frames;
}
