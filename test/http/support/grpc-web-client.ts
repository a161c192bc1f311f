/**
 * A hand-rolled gRPC-Web client for tests: frames request messages, sends them over
 * HTTP/1.1 or h2c, binary or base64 text, and splits the response into data frames
 * and the trailer frame.
 */
import { h1, h2, type HttpResult } from "./http-client.js";

/** What a gRPC-Web call returned. */
export interface GrpcWebResult {
  readonly http: HttpResult;
  /** The messages of the data frames. */
  readonly messages: Buffer[];
  /** The trailer frame's entries (lower-case names). */
  readonly trailers: Record<string, string>;
  /** `grpc-status` as a number (NaN when absent). */
  readonly status: number;
  /** `grpc-message`, percent-decoded. */
  readonly message: string;
}

/** Frames one message (flag 0) in the gRPC length-prefixed format. */
export function frame(message: Uint8Array, flag = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Splits a gRPC-Web response body into data messages and trailers. */
export function parseGrpcWebBody(body: Buffer): { messages: Buffer[]; trailers: Record<string, string>; rest: number } {
  const messages: Buffer[] = [];
  const trailers: Record<string, string> = {};
  let at = 0;
  while (at + 5 <= body.length) {
    const flag = body[at] as number;
    const length = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    if ((flag & 0x80) === 0x80) {
      for (const line of payload.toString("latin1").split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    } else messages.push(Buffer.from(payload));
  }
  return { messages, trailers, rest: body.length - at };
}

/** Options of {@link grpcWebCall}. */
export interface GrpcWebCallOptions {
  readonly transport?: "h1" | "h2";
  /** `application/grpc-web-text`: base64 both ways. */
  readonly text?: boolean;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
  /** Split the (encoded) body into chunks of this many bytes. */
  readonly chunkSize?: number;
  /** Encode each framed message as its own padded base64 string (text mode). */
  readonly base64PerFrame?: boolean;
  readonly method?: string;
}

/** Calls `path` with gRPC-Web and the given request messages. */
export async function grpcWebCall(port: number, path: string, requests: readonly Uint8Array[], options: GrpcWebCallOptions = {}): Promise<GrpcWebResult> {
  const frames = requests.map((m) => frame(m));
  let body: Buffer;
  if (options.text)
    body = Buffer.from(options.base64PerFrame ? frames.map((f) => f.toString("base64")).join("") : Buffer.concat(frames).toString("base64"), "latin1");
  else body = Buffer.concat(frames);
  const chunks: Buffer[] = [];
  if (options.chunkSize !== undefined) for (let i = 0; i < body.length; i += options.chunkSize) chunks.push(body.subarray(i, i + options.chunkSize));
  else chunks.push(body);
  const headers = {
    "content-type": options.contentType ?? (options.text ? "application/grpc-web-text" : "application/grpc-web+proto"),
    "x-grpc-web": "1",
    ...(options.text ? { accept: "application/grpc-web-text" } : {}),
    ...(options.headers ?? {}),
  };
  const send = options.transport === "h2" ? h2 : h1;
  const http = await send(port, { method: options.method ?? "POST", path, headers, body: chunks.length === 1 ? (chunks[0] as Buffer) : chunks });
  const decoded =
    options.text && String(http.headers["content-type"] ?? "").startsWith("application/grpc-web-text")
      ? Buffer.from(http.body.toString("latin1"), "base64")
      : http.body;
  const { messages, trailers } = parseGrpcWebBody(decoded);
  return { http, messages, trailers, status: Number(trailers["grpc-status"]), message: decodeURIComponent(trailers["grpc-message"] ?? "") };
}
