import { Code, SwitchboardError } from "../../errors/index.js";

/**
 * Decodes a `application/grpc-web-text` request body as it arrives. The body is
 * base64, possibly split anywhere across chunks, and possibly several padded base64
 * strings one after another (clients may encode each frame on its own).
 */
export class Base64StreamDecoder {
  private pending = "";

  /** Decodes what is complete so far; keeps an unfinished 4-character group for later. */
  push(chunk: Buffer): Buffer {
    const text = this.pending + chunk.toString("latin1").replace(/[\s]/g, "");
    const usable = text.length - (text.length % 4);
    this.pending = text.slice(usable);
    return decodeGroups(text.slice(0, usable));
  }

  /** Fails when the body ended inside a 4-character group. */
  end(): SwitchboardError | undefined {
    return this.pending === "" ? undefined : new SwitchboardError("grpc-web-text body is not valid base64 (truncated)", Code.Internal);
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeGroups(text: string): Buffer {
  if (text === "") return Buffer.alloc(0);
  // Padding can only end a base64 string; split after each padded group so that
  // concatenated padded strings decode one by one.
  const pad = text.indexOf("=");
  if (pad < 0 || pad >= text.length - 2) return checked(text);
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i += 4) {
    const group = text.slice(i, i + 4);
    if (group.includes("=")) {
      parts.push(checked(text.slice(start, i + 4)));
      start = i + 4;
    }
  }
  if (start < text.length) parts.push(checked(text.slice(start)));
  return Buffer.concat(parts);
}

function checked(text: string): Buffer {
  if (!BASE64.test(text)) throw new SwitchboardError("grpc-web-text body is not valid base64", Code.Internal);
  return Buffer.from(text, "base64");
}

/**
 * Encodes a `application/grpc-web-text` response as one base64 string across chunks:
 * bytes that do not fill a 3-byte group wait for the next chunk, and only the last
 * chunk is padded, so any base64 decoder reads the whole body.
 */
export class Base64StreamEncoder {
  private carry: Buffer = Buffer.alloc(0);

  /** Encodes a chunk, holding back up to two bytes. */
  push(chunk: Buffer): string {
    const data = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    const usable = data.length - (data.length % 3);
    this.carry = Buffer.from(data.subarray(usable));
    return data.subarray(0, usable).toString("base64");
  }

  /** Encodes the last chunk and whatever was held back, with padding. */
  end(chunk: Buffer): string {
    const data = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    this.carry = Buffer.alloc(0);
    return data.toString("base64");
  }
}
