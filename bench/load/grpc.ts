/**
 * A minimal gRPC client for the load generator: hand-rolled length-prefixed framing, many
 * concurrent streams over a few HTTP/2 connections, no per-call protobuf work (requests
 * are pre-encoded bytes). It checks the status of every call (trailers or trailers-only
 * headers) and that a reply message arrived.
 *
 * Two HTTP/2 engines, chosen per client (default: {@link setGeneratorHttp2}):
 * - `builtin`: the proxy's own HTTP/2 framing (`packages/proxy/src/http2`), a header block
 *   encoded once per path and one handler object per call: about a seventh of node:http2's
 *   CPU per call, so on a 2-core machine the generator takes less from what it measures;
 * - `node`: node:http2, the generator of the earlier results.
 */
import * as http2 from "node:http2";
import { connect as netConnect } from "node:net";
import { H2Connection, type H2Stream, headerField, type StreamHandler } from "../../packages/proxy/src/http2/connection.js";
import { decodeGrpcMessage } from "../../packages/proxy/src/internal/grpc-framing.js";
import { ErrorCode } from "../../packages/proxy/src/http2/frames.js";
import { encodeHeaderBlock } from "../../packages/proxy/src/http2/hpack.js";

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE, NGHTTP2_CANCEL } = http2.constants;

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

/** Which HTTP/2 implementation the generator's gRPC clients use. */
export type GeneratorHttp2 = "builtin" | "node";
export const GENERATOR_HTTP2: readonly GeneratorHttp2[] = ["builtin", "node"];

let defaultEngine: GeneratorHttp2 = "builtin";

/** Sets the engine of clients connected without naming one (the bench's `--generator-http2`). */
export function setGeneratorHttp2(engine: GeneratorHttp2): void {
  defaultEngine = engine;
}

export function generatorHttp2(): GeneratorHttp2 {
  return defaultEngine;
}

/** One HTTP/2 connection's worth of calls. */
interface Session {
  call(path: string, body: Buffer, done: GrpcDone): void;
  stream(path: string, body: Buffer, onMessage: (message: Buffer) => void, done: GrpcDone): () => void;
  close(): void;
}

/** Splits complete length-prefixed messages off `pending`; returns what is left. */
function splitMessages(pending: Buffer, onMessage: (message: Buffer) => void): Buffer {
  let rest = pending;
  while (rest.length >= 5) {
    const size = rest.readUInt32BE(1);
    if (rest.length < 5 + size) break;
    const message = rest.subarray(5, 5 + size);
    rest = rest.subarray(5 + size);
    onMessage(message);
  }
  return rest;
}

/** The single reply message of a unary call's body, or an error text. */
function unaryReply(chunks: Buffer[]): Buffer | string {
  const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  if (all.length < 5 || all.length !== 5 + all.readUInt32BE(1)) return `malformed reply body (${all.length} bytes)`;
  return all.subarray(5);
}

// ---- builtin ---------------------------------------------------------------------------

/** One call on the builtin engine: the stream's handler, collecting the status and the body. */
class BuiltinCall implements StreamHandler {
  stream!: H2Stream;
  private status = -1;
  private message = "";
  private answered = false;
  private settled = false;
  private readonly chunks: Buffer[] = [];
  private pending: Buffer | undefined;

  constructor(
    private readonly done: GrpcDone,
    /** Server streaming: each reply message as it arrives (unary: undefined, the body is collected). */
    private readonly onMessage?: (message: Buffer) => void,
  ) {}

  headers(fields: string[]): void {
    if (!this.answered) {
      this.answered = true;
      const http = headerField(fields, ":status");
      if (http !== "200") {
        this.finish(14, `HTTP ${http}`);
        this.stream.reset(ErrorCode.Cancel);
        return;
      }
    }
    const code = headerField(fields, "grpc-status");
    if (code !== undefined) {
      this.status = Number(code);
      this.message = decodeGrpcMessage(headerField(fields, "grpc-message") ?? "");
    }
  }

  data(payload: Buffer): void {
    if (this.settled || payload.length === 0) return;
    if (this.onMessage === undefined) {
      this.chunks.push(payload);
      return;
    }
    const pending = this.pending === undefined ? payload : Buffer.concat([this.pending, payload]);
    const rest = splitMessages(pending, this.onMessage);
    this.pending = rest.length === 0 ? undefined : rest;
  }

  closed(code: number | undefined, lost: string | undefined): void {
    if (lost !== undefined) this.finish(14, `connection lost: ${lost}`);
    else if (this.status === -1) this.finish(14, `stream closed without status (rst ${code ?? 0})`);
    else this.finish(this.status, this.message);
  }

  cancel(): void {
    if (this.settled) return;
    this.finish(1, "cancelled by the generator");
    this.stream.reset(ErrorCode.Cancel);
  }

  private finish(status: number, message: string): void {
    if (this.settled) return;
    this.settled = true;
    if (status !== 0 || this.onMessage !== undefined) {
      this.done(status, message, undefined);
      return;
    }
    const reply = unaryReply(this.chunks);
    if (typeof reply === "string") this.done(13, reply, undefined);
    else this.done(0, "", reply);
  }
}

class BuiltinSession implements Session {
  /** Request header blocks by path, encoded once. */
  private readonly heads = new Map<string, Uint8Array>();

  private constructor(
    private readonly connection: H2Connection,
    private readonly authority: string,
  ) {}

  static open(host: string, port: number): Promise<BuiltinSession> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port, noDelay: true });
      let connection: H2Connection;
      const failed = (why: string) => {
        reject(new Error(`gRPC connection to ${host}:${port}: ${why}`));
        connection.destroy(why);
      };
      connection = new H2Connection(socket, {
        settled: () => resolve(new BuiltinSession(connection, `${host}:${port}`)),
        goaway: () => connection.close(),
        protocolError: (detail) => failed(`HTTP/2 protocol error: ${detail}`),
      });
      socket.on("error", (error) => failed(error.message));
    });
  }

  private headFor(path: string): Uint8Array {
    let head = this.heads.get(path);
    if (head === undefined) {
      head = encodeHeaderBlock([
        [":method", "POST"],
        [":scheme", "http"],
        [":path", path],
        [":authority", this.authority],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
      ]);
      this.heads.set(path, head);
    }
    return head;
  }

  call(path: string, body: Buffer, done: GrpcDone): void {
    this.start(path, body, new BuiltinCall(done));
  }

  stream(path: string, body: Buffer, onMessage: (message: Buffer) => void, done: GrpcDone): () => void {
    const call = new BuiltinCall(done, onMessage);
    this.start(path, body, call);
    return () => call.cancel();
  }

  private start(path: string, body: Buffer, call: BuiltinCall): void {
    if (this.connection.closed || this.connection.draining) {
      call.closed(undefined, "the connection is closed");
      return;
    }
    call.stream = this.connection.open(this.headFor(path), call, body, true);
  }

  close(): void {
    this.connection.close();
  }
}

// ---- node:http2 ------------------------------------------------------------------------

class NodeSession implements Session {
  private constructor(private readonly session: http2.ClientHttp2Session) {}

  static open(host: string, port: number): Promise<NodeSession> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${host}:${port}`, {
        settings: { initialWindowSize: 1 << 20, enablePush: false },
        maxSessionMemory: 64,
      });
      session.once("connect", () => {
        session.off("error", reject);
        session.on("error", () => {});
        // A larger connection window than the 64 KiB default, as gRPC clients do.
        session.setLocalWindowSize(8 << 20);
        resolve(new NodeSession(session));
      });
      session.once("error", reject);
    });
  }

  /** Opens a stream with the request sent; `done` hears a failure to open it. */
  private request(path: string, body: Buffer, done: GrpcDone): http2.ClientHttp2Stream | undefined {
    try {
      const req = this.session.request(
        {
          [HTTP2_HEADER_METHOD]: "POST",
          [HTTP2_HEADER_PATH]: path,
          [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
          [HTTP2_HEADER_TE]: "trailers",
        },
        { endStream: false },
      );
      req.end(body);
      return req;
    } catch (error) {
      done(14, `request failed: ${(error as Error).message}`, undefined);
      return undefined;
    }
  }

  /** Listens for the status and the end of `req`; `finish` runs once with the outcome. */
  private watch(req: http2.ClientHttp2Stream, finish: (status: number, message: string) => void): void {
    let status = -1;
    let message = "";
    req.on("response", (headers) => {
      const st = headers["grpc-status"];
      if (st !== undefined) {
        status = Number(st);
        message = decodeGrpcMessage((headers["grpc-message"] as string | undefined) ?? "");
      } else if (headers[":status"] !== 200) {
        status = 14;
        message = `HTTP ${headers[":status"]}`;
      }
    });
    req.on("trailers", (trailers) => {
      status = Number(trailers["grpc-status"] ?? -1);
      message = decodeGrpcMessage((trailers["grpc-message"] as string | undefined) ?? "");
    });
    req.on("error", (error: Error) => finish(14, `stream error: ${error.message}`));
    req.on("close", () => {
      if (status !== -1) finish(status, message);
      else if (req.rstCode === NGHTTP2_CANCEL) finish(1, "cancelled by the generator");
      else finish(14, `stream closed without status (rst ${req.rstCode})`);
    });
  }

  call(path: string, body: Buffer, done: GrpcDone): void {
    const req = this.request(path, body, done);
    if (req === undefined) return;
    const chunks: Buffer[] = [];
    let settled = false;
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    this.watch(req, (status, message) => {
      if (settled) return;
      settled = true;
      if (status !== 0) {
        done(status, message, undefined);
        return;
      }
      const reply = unaryReply(chunks);
      if (typeof reply === "string") done(13, reply, undefined);
      else done(0, "", reply);
    });
  }

  stream(path: string, body: Buffer, onMessage: (message: Buffer) => void, done: GrpcDone): () => void {
    const req = this.request(path, body, done);
    if (req === undefined) return () => {};
    let pending: Buffer = Buffer.alloc(0);
    let settled = false;
    req.on("data", (chunk: Buffer) => {
      pending = splitMessages(pending.length === 0 ? chunk : Buffer.concat([pending, chunk]), onMessage);
    });
    this.watch(req, (status, message) => {
      if (settled) return;
      settled = true;
      done(status, message, undefined);
    });
    return () => {
      if (!req.closed) req.close(NGHTTP2_CANCEL);
    };
  }

  close(): void {
    this.session.close();
  }
}

// ---- the client ------------------------------------------------------------------------

/** A pool of HTTP/2 connections to one gRPC server. */
export class GrpcClient {
  private next = 0;

  private constructor(
    private readonly sessions: Session[],
    readonly authority: string,
    readonly engine: GeneratorHttp2,
  ) {}

  /** Opens `sessions` HTTP/2 connections to host:port (h2c) and waits until they are up. */
  static async connect(host: string, port: number, sessions = 4, engine: GeneratorHttp2 = defaultEngine): Promise<GrpcClient> {
    const open = engine === "builtin" ? BuiltinSession.open : NodeSession.open;
    const opened = await Promise.all(Array.from({ length: sessions }, () => open(host, port)));
    return new GrpcClient(opened, `http://${host}:${port}`, engine);
  }

  private pick(session: number | undefined): Session {
    const index = session ?? this.next++ % this.sessions.length;
    return this.sessions[index % this.sessions.length] as Session;
  }

  /**
   * Starts one unary call of `path` with the framed request `body` (see {@link frame}).
   * Calls go round-robin over the sessions unless `session` picks one.
   */
  call(path: string, body: Buffer, done: GrpcDone, session?: number): void {
    this.pick(session).call(path, body, done);
  }

  /**
   * Starts one server-streaming call of `path` with the framed request `body`: `onMessage`
   * gets every reply message as it arrives, `done` the final status (its `reply` is
   * undefined; 1 CANCELLED after the returned function cancelled it with RST_STREAM).
   */
  stream(path: string, body: Buffer, onMessage: (message: Buffer) => void, done: GrpcDone, session?: number): () => void {
    return this.pick(session).stream(path, body, onMessage, done);
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
