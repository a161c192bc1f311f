/**
 * A minimal gRPC unary client over node:http2 for the load generator: hand-rolled
 * length-prefixed framing, many concurrent streams over a few HTTP/2 sessions, no
 * per-call protobuf work (requests are pre-encoded bytes). It checks the status of
 * every call (trailers or trailers-only headers) and that a reply message arrived.
 */
import * as http2 from "node:http2";

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE } = http2.constants;

/** Frames one message in gRPC's length-prefixed format (uncompressed). */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.byteLength);
  out[0] = 0;
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}

/** The outcome of one call: `status` 0 is success; `reply` is the reply message bytes. */
export type GrpcDone = (status: number, message: string, reply: Buffer | undefined) => void;

/** A pool of HTTP/2 sessions to one gRPC server. */
export class GrpcClient {
  private next = 0;

  private constructor(
    private readonly sessions: http2.ClientHttp2Session[],
    readonly authority: string,
  ) {}

  /** Opens `sessions` HTTP/2 connections to host:port (h2c) and waits until they are up. */
  static async connect(host: string, port: number, sessions = 4): Promise<GrpcClient> {
    const authority = `http://${host}:${port}`;
    const opened = await Promise.all(
      Array.from(
        { length: sessions },
        () =>
          new Promise<http2.ClientHttp2Session>((resolve, reject) => {
            const session = http2.connect(authority, {
              settings: { initialWindowSize: 1 << 20, enablePush: false },
              maxSessionMemory: 64,
            });
            session.once("connect", () => {
              session.off("error", reject);
              session.on("error", () => {});
              // A larger connection window than the 64 KiB default, as gRPC clients do.
              session.setLocalWindowSize(8 << 20);
              resolve(session);
            });
            session.once("error", reject);
          }),
      ),
    );
    return new GrpcClient(opened, authority);
  }

  /**
   * Starts one unary call of `path` with the framed request `body` (see {@link frame}).
   * Calls go round-robin over the sessions unless `session` picks one.
   */
  call(path: string, body: Buffer, done: GrpcDone, session?: number): void {
    const index = session ?? this.next++ % this.sessions.length;
    const s = this.sessions[index % this.sessions.length] as http2.ClientHttp2Session;
    let status = -1;
    let message = "";
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (code: number, text: string) => {
      if (settled) return;
      settled = true;
      if (code !== 0) {
        done(code, text, undefined);
        return;
      }
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      if (all.length < 5 || all.length !== 5 + all.readUInt32BE(1)) {
        done(13, `malformed reply body (${all.length} bytes)`, undefined);
        return;
      }
      done(0, "", all.subarray(5));
    };
    let req: http2.ClientHttp2Stream;
    try {
      req = s.request(
        {
          [HTTP2_HEADER_METHOD]: "POST",
          [HTTP2_HEADER_PATH]: path,
          [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
          [HTTP2_HEADER_TE]: "trailers",
        },
        { endStream: false },
      );
    } catch (error) {
      finish(14, `request failed: ${(error as Error).message}`);
      return;
    }
    req.on("response", (headers) => {
      const st = headers["grpc-status"];
      if (st !== undefined) {
        status = Number(st);
        message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
      } else if (headers[":status"] !== 200) {
        status = 14;
        message = `HTTP ${headers[":status"]}`;
      }
    });
    req.on("trailers", (trailers) => {
      status = Number(trailers["grpc-status"] ?? -1);
      message = decodeURIComponent(String(trailers["grpc-message"] ?? ""));
    });
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", (error: Error) => finish(14, `stream error: ${error.message}`));
    req.on("close", () => {
      if (status === -1) finish(14, `stream closed without status (rst ${req.rstCode})`);
      else finish(status, message);
    });
    req.end(body);
  }

  /**
   * Starts one server-streaming call of `path` with the framed request `body`: `onMessage`
   * gets every reply message as it arrives, `done` the final status (its `reply` is
   * undefined). Returns a function that cancels the call (RST_STREAM CANCEL).
   */
  stream(path: string, body: Buffer, onMessage: (message: Buffer) => void, done: GrpcDone, session?: number): () => void {
    const index = session ?? this.next++ % this.sessions.length;
    const s = this.sessions[index % this.sessions.length] as http2.ClientHttp2Session;
    let status = -1;
    let text = "";
    let settled = false;
    let pending: Buffer = Buffer.alloc(0);
    const finish = (code: number, message: string) => {
      if (settled) return;
      settled = true;
      done(code, message, undefined);
    };
    let req: http2.ClientHttp2Stream;
    try {
      req = s.request(
        {
          [HTTP2_HEADER_METHOD]: "POST",
          [HTTP2_HEADER_PATH]: path,
          [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
          [HTTP2_HEADER_TE]: "trailers",
        },
        { endStream: false },
      );
    } catch (error) {
      finish(14, `request failed: ${(error as Error).message}`);
      return () => {};
    }
    req.on("response", (headers) => {
      const st = headers["grpc-status"];
      if (st !== undefined) {
        status = Number(st);
        text = decodeURIComponent(String(headers["grpc-message"] ?? ""));
      } else if (headers[":status"] !== 200) {
        status = 14;
        text = `HTTP ${headers[":status"]}`;
      }
    });
    req.on("trailers", (trailers) => {
      status = Number(trailers["grpc-status"] ?? -1);
      text = decodeURIComponent(String(trailers["grpc-message"] ?? ""));
    });
    req.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const size = pending.readUInt32BE(1);
        if (pending.length < 5 + size) break;
        const message = pending.subarray(5, 5 + size);
        pending = pending.subarray(5 + size);
        onMessage(message);
      }
    });
    req.on("error", (error: Error) => finish(14, `stream error: ${error.message}`));
    req.on("close", () => {
      if (status === -1) finish(req.rstCode === http2.constants.NGHTTP2_CANCEL ? 1 : 14, `stream closed without status (rst ${req.rstCode})`);
      else finish(status, text);
    });
    req.end(body);
    return () => {
      if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
    };
  }

  /** Promise form of {@link call}: resolves to the reply bytes, rejects on a non-OK status. */
  unary(path: string, body: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) =>
      this.call(path, body, (status, message, reply) => {
        if (status === 0 && reply !== undefined) resolve(reply);
        else reject(new Error(`${path}: grpc-status ${status}: ${message}`));
      }),
    );
  }

  close(): void {
    for (const s of this.sessions) s.close();
  }
}
