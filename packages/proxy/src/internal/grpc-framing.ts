import { Code, SwitchboardError } from "../errors/index.js";

/** Frames one message in gRPC's length-prefixed format (uncompressed). */
export function frameMessage(message: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.byteLength);
  frame[0] = flags;
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** Frames many messages into one buffer (one write for a batch such as a journal replay). */
export function frameMessages(messages: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const m of messages) total += 5 + m.byteLength;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const m of messages) {
    out[at] = 0;
    out.writeUInt32BE(m.byteLength, at + 1);
    out.set(m, at + 5);
    at += 5 + m.byteLength;
  }
  return out;
}

/** The parser's buffer when nothing is pending: one shared empty buffer, not a view that pins the last chunk. */
const NOTHING = Buffer.alloc(0);

/**
 * Incremental parser of gRPC length-prefixed messages. Feed it body chunks; it returns
 * the complete messages found so far. Rejects compressed messages (we advertise
 * identity only) and messages over `maxMessageSize` with the status gRPC prescribes.
 */
export class FrameParser {
  private buffer: Buffer = NOTHING;

  constructor(private readonly maxMessageSize: number) {}

  /** Appends a chunk and returns every complete message, or throws a SwitchboardError. */
  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const messages: Buffer[] = [];
    while (this.buffer.length >= 5) {
      const flags = this.buffer[0] ?? 0;
      const length = this.buffer.readUInt32BE(1);
      if (length > this.maxMessageSize) {
        throw new SwitchboardError(`request message of ${length} bytes exceeds the maximum of ${this.maxMessageSize} bytes`, Code.ResourceExhausted);
      }
      if ((flags & 1) === 1) {
        throw new SwitchboardError("compressed request messages are not supported (grpc-accept-encoding: identity)", Code.Unimplemented);
      }
      if (this.buffer.length < 5 + length) break;
      messages.push(this.buffer.subarray(5, 5 + length));
      // A long-lived stream (an entity's) keeps its parser between messages: an empty view
      // of the chunk would keep the chunk's memory alive until the next message arrives.
      this.buffer = this.buffer.length === 5 + length ? NOTHING : this.buffer.subarray(5 + length);
    }
    return messages;
  }

  /** Whether a partial message is buffered (a truncated request if the stream ends now). */
  get pending(): boolean {
    return this.buffer.length > 0;
  }
}

/** Percent-encodes a grpc-message value as the gRPC HTTP/2 spec requires. */
export function encodeGrpcMessage(message: string): string {
  const bytes = Buffer.from(message, "utf8");
  let out = "";
  for (const byte of bytes) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Parses a `grpc-timeout` header into milliseconds, or undefined when absent/invalid. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  const amount = Number(match[1]);
  switch (match[2]) {
    case "H":
      return amount * 3_600_000;
    case "M":
      return amount * 60_000;
    case "S":
      return amount * 1000;
    case "m":
      return amount;
    case "u":
      return amount / 1000;
    default:
      return amount / 1_000_000;
  }
}

/** Decodes a percent-encoded grpc-message value (invalid escapes are kept as they are). */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
