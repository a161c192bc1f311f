/**
 * A raw gRPC client over node:http2 for tests that need what grpc-js will not send:
 * any method, any headers, several messages on a unary call, a body that never ends.
 */
import * as http2 from "node:http2";
import { frame } from "../../http/support/grpc-web-client.js";

/** What a raw gRPC call returned. */
export interface RawGrpcResult {
  /** Response headers (for a trailers-only answer, the status is here). */
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  /** The messages of the response body. */
  readonly messages: Buffer[];
  /** `grpc-status` from the trailers or the trailers-only headers (NaN if absent). */
  readonly status: number;
  /** `grpc-message`, percent-decoded. */
  readonly message: string;
  /** How the stream ended: `end` (clean) or the RST_STREAM code. */
  readonly rstCode: number;
}

/** Options of {@link rawGrpc}. */
export interface RawGrpcOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** Leave the request open after the messages (the call must answer on its own). */
  readonly keepOpen?: boolean;
  readonly timeoutMs?: number;
}

/** Splits a gRPC response body into messages. */
export function splitMessages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 5 <= body.length) {
    const length = body.readUInt32BE(at + 1);
    out.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}

/** Opens an h2c session to the proxy. */
export function connect(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  return session;
}

/** Sends `messages` (each framed) to `path` and collects the answer. */
export async function rawGrpc(session: http2.ClientHttp2Session, path: string, messages: Uint8Array[], options: RawGrpcOptions = {}): Promise<RawGrpcResult> {
  const stream = session.request({
    ":method": options.method ?? "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...options.headers,
  });
  stream.on("error", () => {});
  for (const m of messages) stream.write(frame(m));
  if (!options.keepOpen) stream.end();
  let headers: http2.IncomingHttpHeaders = {};
  let trailers: http2.IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  stream.on("response", (h) => {
    headers = h;
  });
  stream.on("trailers", (t) => {
    trailers = t;
  });
  stream.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${path} within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
    stream.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const statusText = trailers["grpc-status"] ?? headers["grpc-status"];
  const message = String(trailers["grpc-message"] ?? headers["grpc-message"] ?? "");
  return {
    headers,
    trailers,
    messages: splitMessages(Buffer.concat(chunks)),
    status: statusText === undefined ? Number.NaN : Number(statusText),
    message: decodeURIComponent(message),
    rstCode: stream.rstCode ?? 0,
  };
}
