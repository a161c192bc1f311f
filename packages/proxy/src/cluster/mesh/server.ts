import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { mesh } from "@switchboard/protocol/cluster";
import { Code, SwitchboardError } from "../../errors/index.js";
import { encodeGrpcMessage, FrameParser, frameMessage, parseGrpcTimeout } from "../../internal/grpc-framing.js";
import type { Logger } from "../../observability/logger.js";
import type { EntityHost } from "../types.js";
import type { MeshReplicaSink } from "./types.js";
import { commandFromWire, DEFAULT_MESH_MAX_MESSAGE_SIZE, MESH_PATHS, MESH_SERVICE, outcomeToWire } from "./wire.js";

const { NGHTTP2_CANCEL } = http2.constants;

/** Flow-control windows large enough that a big command or gossip batch does not stall. */
const WINDOW = 16 * 1024 * 1024;

/** Options of {@link startMeshServer}. */
export interface MeshServerOptions {
  /** Address to bind (e.g. `0.0.0.0`, `127.0.0.1`). */
  readonly host: string;
  /** Port to bind; 0 picks a free one (see {@link MeshServer.address}). */
  readonly port: number;
  /** Runs the commands other nodes forward here. */
  readonly entityHost: EntityHost;
  /**
   * Takes CRDT deltas and anti-entropy exchanges; without it, Gossip and Exchange answer
   * UNIMPLEMENTED. A function is asked on every such call, so the replicas may be built
   * after the server (they usually need the membership, which needs the bound address).
   */
  readonly replicas?: MeshReplicaSink | (() => MeshReplicaSink | undefined);
  readonly logger: Logger;
  /** Largest request message accepted (default 16 MiB); a larger one is refused with RESOURCE_EXHAUSTED. */
  readonly maxMessageSize?: number;
  /** Streams one peer may have open at once (default 10000). */
  readonly maxConcurrentStreams?: number;
  /** How long `close` lets calls in flight finish before resetting them (default 2000 ms). */
  readonly closeGraceMs?: number;
}

/** A running mesh server. */
export interface MeshServer {
  /** The bound `host:port` (the real port when 0 was asked). */
  readonly address: string;
  /** Stops accepting, lets calls in flight finish for a grace period, then resets what is left. */
  close(): Promise<void>;
}

/** The answer side of one mesh call: one or more messages, then a status in the trailers. */
class Reply {
  private started = false;
  private finished = false;
  private trailers: http2.OutgoingHttpHeaders = { "grpc-status": String(Code.Ok) };

  constructor(private readonly stream: http2.ServerHttp2Stream) {
    stream.on("wantTrailers", () => {
      if (!stream.destroyed) stream.sendTrailers(this.trailers);
    });
  }

  get open(): boolean {
    return !this.finished && !this.stream.destroyed && !this.stream.closed;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  }

  /** Writes one message; resolves once the stream can take more (backpressure) or is gone. */
  send(bytes: Uint8Array): Promise<void> {
    if (!this.open) return Promise.resolve();
    this.start();
    if (this.stream.write(frameMessage(bytes))) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        this.stream.off("close", done);
        resolve();
      };
      this.stream.on("drain", done);
      this.stream.on("close", done);
    });
  }

  /** Ends the call with OK, or with the error's code and message. */
  end(error?: SwitchboardError): void {
    if (!this.open) return;
    this.finished = true;
    const status =
      error === undefined ? { "grpc-status": String(Code.Ok) } : { "grpc-status": String(error.code), "grpc-message": encodeGrpcMessage(error.rawMessage) };
    if (!this.started) {
      // Trailers-only answer: the status in the one HEADERS frame.
      this.started = true;
      this.stream.respond({ ":status": 200, "content-type": "application/grpc", ...status }, { endStream: true });
      return;
    }
    this.trailers = status;
    this.stream.end();
  }
}

/**
 * Starts the internal port of a node: `switchboard.cluster.Mesh` as gRPC over cleartext
 * HTTP/2. Forwarded commands run through the node's {@link EntityHost} (which refuses
 * entities this node does not own), with the caller's deadline (`grpc-timeout`) and
 * cancellation (a stream reset aborts the command's signal); CRDT gossip goes to
 * `replicas`. Requests are bounded (`maxMessageSize`); a malformed one is answered with
 * INVALID_ARGUMENT (or RESOURCE_EXHAUSTED, UNIMPLEMENTED) and a message saying what was
 * wrong, never by dropping the connection.
 */
export function startMeshServer(options: MeshServerOptions): Promise<MeshServer> {
  const { entityHost } = options;
  const replicasOf = (): MeshReplicaSink | undefined => (typeof options.replicas === "function" ? options.replicas() : options.replicas);
  const logger = options.logger.child({ component: "mesh-server" });
  const maxMessageSize = options.maxMessageSize ?? DEFAULT_MESH_MAX_MESSAGE_SIZE;
  const closeGraceMs = options.closeGraceMs ?? 2000;
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer({
    settings: { initialWindowSize: WINDOW, maxConcurrentStreams: options.maxConcurrentStreams ?? 10_000, enablePush: false, maxHeaderListSize: 64 * 1024 },
    maxSessionMemory: 64,
  });
  // Small frames (one outcome, an acknowledgement) must not wait for Nagle's algorithm.
  server.on("connection", (socket: Socket) => socket.setNoDelay(true));

  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", (error) => logger.debug("mesh session error", { error: error.message }));
    session.on("connect", () => session.setLocalWindowSize(WINDOW));
  });
  server.on("sessionError", (error) => logger.debug("mesh session error", { error: error.message }));

  server.on("stream", (stream, headers) => {
    serve(stream, headers).catch((error: unknown) => {
      // serve() answers every failure itself; this is a broken invariant, and must not crash the node.
      logger.error("mesh call failed unexpectedly", { error: (error as Error).message });
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    });
  });

  /** Reads the one request message of a call; undefined once it answered an error itself. */
  function readRequest<I extends DescMessage>(stream: http2.ServerHttp2Stream, reply: Reply, path: string, input: I): Promise<MessageShape<I> | undefined> {
    return new Promise((resolve) => {
      const parser = new FrameParser(maxMessageSize);
      const messages: Buffer[] = [];
      let failed = false;
      const refuse = (error: SwitchboardError) => {
        if (failed) return;
        failed = true;
        logger.warn("bad mesh request", { path, error: error.rawMessage });
        reply.end(error);
        resolve(undefined);
      };
      stream.on("data", (chunk: Buffer) => {
        if (failed) return;
        try {
          messages.push(...parser.push(chunk));
        } catch (error) {
          const e = SwitchboardError.from(error, Code.InvalidArgument);
          refuse(new SwitchboardError(`bad mesh request on ${path}: ${e.rawMessage}`, e.code));
          return;
        }
        if (messages.length > 1) refuse(new SwitchboardError(`bad mesh request on ${path}: more than one request message`, Code.InvalidArgument));
      });
      stream.on("end", () => {
        if (failed) return;
        const [bytes] = messages;
        if (bytes === undefined || parser.pending) {
          refuse(
            new SwitchboardError(`bad mesh request on ${path}: ${parser.pending ? "truncated request message" : "no request message"}`, Code.InvalidArgument),
          );
          return;
        }
        try {
          resolve(fromBinary(input, bytes));
        } catch (error) {
          refuse(new SwitchboardError(`bad mesh request on ${path}: cannot decode ${input.typeName}: ${(error as Error).message}`, Code.InvalidArgument));
        }
      });
      stream.on("close", () => {
        if (!failed) resolve(undefined);
      });
    });
  }

  async function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on("error", () => {
      // A reset by the caller; 'close' does the rest.
    });
    const reply = new Reply(stream);
    const path = String(headers[":path"] ?? "");
    const contentType = String(headers["content-type"] ?? "");
    if (headers[":method"] !== "POST" || !contentType.startsWith("application/grpc")) {
      // Not gRPC at all: a plain HTTP answer says what this port is.
      stream.respond({ ":status": 415, "content-type": "text/plain; charset=utf-8" });
      stream.end(`this is a Switchboard cluster port: it speaks gRPC (${MESH_SERVICE}) over HTTP/2 POST with content-type application/grpc\n`);
      return;
    }
    // Cancelled by the caller (stream reset) or its deadline: the command's signal aborts.
    const controller = new AbortController();
    const timeoutHeader = headers["grpc-timeout"];
    const timeoutMs = parseGrpcTimeout(typeof timeoutHeader === "string" ? timeoutHeader : undefined);
    if (timeoutHeader !== undefined && timeoutMs === undefined) {
      reply.end(new SwitchboardError(`bad mesh request on ${path}: invalid grpc-timeout ${JSON.stringify(timeoutHeader)}`, Code.InvalidArgument));
      return;
    }
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const error = new SwitchboardError(`deadline of the forwarded call on ${path} exceeded`, Code.DeadlineExceeded);
        controller.abort(error);
        reply.end(error);
      }, timeoutMs);
    }
    stream.on("close", () => {
      if (timer !== undefined) clearTimeout(timer);
      if (!controller.signal.aborted) controller.abort(new SwitchboardError("the calling node cancelled the call", Code.Canceled));
    });
    try {
      switch (path) {
        case MESH_PATHS.handle: {
          const request = await readRequest(stream, reply, path, mesh.RemoteCommandSchema);
          if (request === undefined || !checkCommand(request, reply, path)) return;
          const outcome = await entityHost.handle(commandFromWire(request, deadline, controller.signal));
          await reply.send(toBinary(mesh.EntityOutcomeSchema, outcomeToWire(outcome)));
          reply.end();
          return;
        }
        case MESH_PATHS.handleStreamed: {
          const request = await readRequest(stream, reply, path, mesh.RemoteCommandSchema);
          if (request === undefined || !checkCommand(request, reply, path)) return;
          for await (const outcome of entityHost.handleStreamed(commandFromWire(request, deadline, controller.signal))) {
            if (!reply.open) break;
            await reply.send(toBinary(mesh.EntityOutcomeSchema, outcomeToWire(outcome)));
          }
          reply.end();
          return;
        }
        case MESH_PATHS.gossip: {
          const request = await readRequest(stream, reply, path, mesh.DeltaBatchSchema);
          if (request === undefined) return;
          const replicas = replicasOf();
          if (replicas === undefined) throw new SwitchboardError("this node keeps no CRDT replicas", Code.Unimplemented);
          if (request.from === "") throw new SwitchboardError(`bad mesh request on ${path}: the sending node is not named`, Code.InvalidArgument);
          await replicas.receive(request.from, request.deltas);
          await reply.send(toBinary(mesh.GossipAckSchema, create(mesh.GossipAckSchema)));
          reply.end();
          return;
        }
        case MESH_PATHS.exchange: {
          const request = await readRequest(stream, reply, path, mesh.StateDigestsSchema);
          if (request === undefined) return;
          const replicas = replicasOf();
          if (replicas === undefined) throw new SwitchboardError("this node keeps no CRDT replicas", Code.Unimplemented);
          if (request.from === "") throw new SwitchboardError(`bad mesh request on ${path}: the sending node is not named`, Code.InvalidArgument);
          const answer = await replicas.exchange(request.from, request.digests);
          await reply.send(toBinary(mesh.ExchangeReplySchema, create(mesh.ExchangeReplySchema, { states: [...answer.states], wanted: [...answer.wanted] })));
          reply.end();
          return;
        }
        default:
          stream.resume();
          reply.end(new SwitchboardError(`unknown mesh method ${path}: this port serves ${MESH_SERVICE}`, Code.Unimplemented));
      }
    } catch (error) {
      const e = controller.signal.aborted && controller.signal.reason instanceof SwitchboardError ? controller.signal.reason : SwitchboardError.from(error);
      if (e.code === Code.Internal) logger.warn("mesh call failed", { path, error: e.rawMessage });
      reply.end(e);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  function checkCommand(request: mesh.RemoteCommand, reply: Reply, path: string): boolean {
    const missing = request.service === "" ? "service" : request.method === "" ? "method" : request.payload === undefined ? "payload" : undefined;
    if (missing === undefined) return true;
    reply.end(new SwitchboardError(`bad mesh request on ${path}: the command has no ${missing}`, Code.InvalidArgument));
    return false;
  }

  return new Promise((resolve, reject) => {
    const onError = (error: Error) =>
      reject(new SwitchboardError(`cannot listen on the cluster port ${options.host}:${options.port}: ${error.message}`, Code.Unavailable));
    server.once("error", onError);
    server.listen(options.port, options.host, () => {
      server.off("error", onError);
      server.on("error", (error) => logger.error("cluster port error", { error: error.message }));
      const bound = server.address() as AddressInfo;
      const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
      const address = `${host}:${bound.port}`;
      logger.info("cluster port listening", { address });
      let closing: Promise<void> | undefined;
      resolve({
        address,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            for (const session of sessions) session.close();
            const grace = setTimeout(() => {
              for (const session of sessions) session.destroy();
            }, closeGraceMs);
            grace.unref();
            if (sessions.size === 0) clearTimeout(grace);
          });
          return closing;
        },
      });
    });
  });
}
