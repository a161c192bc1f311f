import * as http2 from "node:http2";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, SwitchboardError } from "../../errors/index.js";
import { AsyncQueue } from "../../internal/async-queue.js";
import { decodeGrpcMessage, FrameParser, frameMessage } from "../../internal/grpc-framing.js";
import type { Logger } from "../../observability/logger.js";
import type { RemoteNode } from "../types.js";
import { DEFAULT_MESH_MAX_MESSAGE_SIZE } from "./wire.js";
import type { CallSignal } from "../../internal/call-signal.js";

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Flow-control windows large enough that a big outcome or gossip batch does not stall. */
const WINDOW = 16 * 1024 * 1024;

/** Options of {@link createMeshClient}. */
export interface MeshClientOptions {
  readonly logger: Logger;
  /** Largest message accepted from a peer (default 16 MiB). */
  readonly maxMessageSize?: number;
  /** How long a peer may take to accept the TCP connection (default 2000 ms). */
  readonly connectTimeoutMs?: number;
  /** PING interval on an idle-or-busy session, so a peer that vanished without a FIN is noticed (default 5000 ms; 0: off). */
  readonly keepAliveIntervalMs?: number;
  /** How long a PING may stay unanswered before the session is dropped (default 3000 ms). */
  readonly keepAliveTimeoutMs?: number;
}

/** Per-call options: the absolute deadline (ms since the epoch) and the caller's cancellation. */
export interface MeshCallOptions {
  readonly deadline?: number;
  readonly signal?: CallSignal;
}

/**
 * The calling side of the mesh: one HTTP/2 session per peer address, reused by every call
 * to that peer and dialled again after it fails. Calls are gRPC (length-prefixed
 * protobuf, status in trailers); the deadline travels as `grpc-timeout` and a cancelled
 * call resets its stream. Every failure is a SwitchboardError naming the peer: UNAVAILABLE
 * when it cannot be reached or goes away mid-call, DEADLINE_EXCEEDED, CANCELLED, or the
 * status the peer answered.
 */
export interface MeshClient {
  unary<I extends DescMessage, O extends DescMessage>(
    peer: RemoteNode,
    path: string,
    input: I,
    request: MessageShape<I>,
    output: O,
    options?: MeshCallOptions,
  ): Promise<MessageShape<O>>;
  /** A server-streamed call; breaking out of the iteration cancels it. */
  serverStream<I extends DescMessage, O extends DescMessage>(
    peer: RemoteNode,
    path: string,
    input: I,
    request: MessageShape<I>,
    output: O,
    options?: MeshCallOptions,
  ): AsyncIterable<MessageShape<O>>;
  /** Closes every session; calls in flight fail UNAVAILABLE. */
  close(): void;
}

interface Peer {
  readonly session: http2.ClientHttp2Session;
  lastFailure: string | undefined;
  pingTimer: NodeJS.Timeout | undefined;
  /** Calls open on the session; an idle session does not keep the process alive. */
  active: number;
  /** The TCP connection is up. */
  connected: boolean;
}

/** Says in one line why a connection to a peer failed. */
function describeFailure(error: NodeJS.ErrnoException): string {
  const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
  const code = cause?.code ?? error.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "cannot resolve its host";
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot reach it (${code})`;
    default:
      return (cause ?? error).message;
  }
}

function authorityOf(address: string): string {
  // A bare IPv6 literal (`::1:7000`) needs brackets in a URL.
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon);
  return host.includes(":") && !host.startsWith("[") ? `http://[${host}]${address.slice(colon)}` : `http://${address}`;
}

const nameOf = (peer: RemoteNode) => `node ${peer.nodeId} (${peer.address})`;

/** What the caller of one call can do with it. */
interface CallControls {
  cancel(): void;
  pause(): void;
  resume(): void;
}
const NO_CONTROLS: CallControls = { cancel() {}, pause() {}, resume() {} };

/** Messages of a streamed call read ahead of its consumer before reading pauses. */
const STREAM_HIGH_WATER = 64;

/** Creates a mesh client. */
export function createMeshClient(options: MeshClientOptions): MeshClient {
  const maxMessageSize = options.maxMessageSize ?? DEFAULT_MESH_MAX_MESSAGE_SIZE;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? 5000;
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 3000;
  const logger = options.logger;
  const peers = new Map<string, Peer>();
  let closed = false;

  const keepAlive = (peer: Peer) => {
    if (keepAliveIntervalMs <= 0) return;
    peer.pingTimer = setTimeout(() => {
      peer.pingTimer = undefined;
      const { session } = peer;
      if (session.closed || session.destroyed) return;
      const hung = setTimeout(() => {
        peer.lastFailure = `it did not answer a keep-alive PING within ${keepAliveTimeoutMs} ms`;
        session.destroy();
      }, keepAliveTimeoutMs);
      hung.unref();
      const sent = session.ping((error) => {
        clearTimeout(hung);
        if (error === null) keepAlive(peer);
      });
      if (!sent) {
        clearTimeout(hung);
        keepAlive(peer);
      }
    }, keepAliveIntervalMs);
    peer.pingTimer.unref();
  };

  const sessionFor = (target: RemoteNode): Peer => {
    if (closed) throw new SwitchboardError(`cannot call ${nameOf(target)}: the mesh client is closed`, Code.Unavailable);
    const existing = peers.get(target.address);
    if (existing !== undefined && !existing.session.closed && !existing.session.destroyed) return existing;
    const session = http2.connect(authorityOf(target.address), {
      settings: { initialWindowSize: WINDOW, enablePush: false, maxHeaderListSize: 64 * 1024 },
      maxSessionMemory: 64,
      // Passed on to net.connect: small frames must not wait for Nagle's algorithm.
      noDelay: true,
    } as http2.ClientSessionOptions);
    const peer: Peer = { session, lastFailure: undefined, pingTimer: undefined, active: 0, connected: false };
    peers.set(target.address, peer);
    const connecting = setTimeout(() => {
      peer.lastFailure = `it did not accept a connection within ${connectTimeoutMs} ms`;
      session.destroy();
    }, connectTimeoutMs);
    connecting.unref();
    session.on("connect", () => {
      peer.connected = true;
      clearTimeout(connecting);
      session.setLocalWindowSize(WINDOW);
      keepAlive(peer);
    });
    session.on("error", (error: NodeJS.ErrnoException) => {
      peer.lastFailure = describeFailure(error);
    });
    session.on("goaway", (code: number) => {
      if (code !== http2.constants.NGHTTP2_NO_ERROR) peer.lastFailure = `it closed the connection (GOAWAY code ${code})`;
    });
    session.on("close", () => {
      clearTimeout(connecting);
      if (peer.pingTimer !== undefined) clearTimeout(peer.pingTimer);
      if (peers.get(target.address) === peer) peers.delete(target.address);
      logger.debug("mesh session closed", { peer: target.nodeId, address: target.address, reason: peer.lastFailure });
    });
    // A session with no calls open must not keep the process alive.
    session.unref();
    return peer;
  };

  /**
   * Opens one call: `onMessage` per response message, then exactly one `onEnd` (undefined
   * when the peer answered OK). Returns its controls: cancel (idempotent), and pause/resume
   * of reading, so a slow consumer holds the peer back through HTTP/2 flow control.
   */
  function call(
    target: RemoteNode,
    path: string,
    body: Uint8Array,
    callOptions: MeshCallOptions,
    onMessage: (bytes: Uint8Array) => SwitchboardError | undefined,
    onEnd: (error: SwitchboardError | undefined) => void,
  ): CallControls {
    let ended = false;
    const settle = (error: SwitchboardError | undefined) => {
      if (ended) return;
      ended = true;
      onEnd(error);
    };
    if (callOptions.signal?.aborted) {
      settle(new SwitchboardError(`call to ${nameOf(target)} cancelled`, Code.Canceled));
      return NO_CONTROLS;
    }
    if (callOptions.deadline !== undefined && callOptions.deadline <= Date.now()) {
      settle(new SwitchboardError(`deadline exceeded before the call to ${nameOf(target)} was sent`, Code.DeadlineExceeded));
      return NO_CONTROLS;
    }
    let peer: Peer;
    try {
      peer = sessionFor(target);
    } catch (error) {
      settle(SwitchboardError.from(error, Code.Unavailable));
      return NO_CONTROLS;
    }
    const headers: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    if (callOptions.deadline !== undefined) headers["grpc-timeout"] = `${Math.max(1, Math.ceil(callOptions.deadline - Date.now()))}m`;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = peer.session.request(headers);
    } catch (error) {
      settle(new SwitchboardError(`${nameOf(target)} is unreachable: ${(error as Error).message}`, Code.Unavailable));
      return NO_CONTROLS;
    }
    if (peer.active++ === 0) peer.session.ref();
    const parser = new FrameParser(maxMessageSize);
    let status: { code: number; message: string } | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (error: SwitchboardError | undefined) => {
      if (timer !== undefined) clearTimeout(timer);
      callOptions.signal?.removeEventListener("abort", onAbort);
      settle(error);
    };
    const fail = (error: SwitchboardError) => {
      finish(error);
      if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    };
    const onAbort = () => fail(new SwitchboardError(`call to ${nameOf(target)} cancelled`, Code.Canceled));
    callOptions.signal?.addEventListener("abort", onAbort, { once: true });
    if (callOptions.deadline !== undefined) {
      timer = setTimeout(
        () => fail(new SwitchboardError(`${nameOf(target)} did not answer ${path} within the deadline`, Code.DeadlineExceeded)),
        Math.max(0, callOptions.deadline - Date.now()),
      );
    }
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      const raw = h["grpc-status"];
      if (raw !== undefined) status = { code: Number(raw), message: decodeGrpcMessage(String(h["grpc-message"] ?? "")) };
    };
    stream.on("response", (h) => {
      const httpStatus = Number(h[":status"]);
      if (httpStatus !== 200) {
        fail(new SwitchboardError(`${nameOf(target)} answered HTTP ${httpStatus} on ${path}: is it a Switchboard cluster port?`, Code.Unavailable));
        return;
      }
      readStatus(h);
    });
    stream.on("trailers", readStatus);
    stream.on("data", (chunk: Buffer) => {
      if (ended) return;
      let messages: Buffer[];
      try {
        messages = parser.push(chunk);
      } catch (error) {
        const e = SwitchboardError.from(error);
        fail(new SwitchboardError(`message from ${nameOf(target)} refused: ${e.rawMessage}`, e.code));
        return;
      }
      for (const message of messages) {
        const error = onMessage(message);
        if (error !== undefined) {
          fail(error);
          return;
        }
        if (ended) return;
      }
    });
    stream.on("error", (error: NodeJS.ErrnoException) => {
      // Reported by 'close'; a stream failing before the session connected says why it could not.
      if (!peer.connected) peer.lastFailure = describeFailure(error);
    });
    stream.on("close", () => {
      if (--peer.active === 0 && !peer.session.destroyed) peer.session.unref();
      if (ended) return;
      if (status === undefined) {
        // A refused stream was never processed (RFC 9113 §8.7): a peer that is closing refuses
        // streams it did not start, and saying "not delivered" lets the caller place it again.
        const why =
          stream.rstCode === NGHTTP2_REFUSED_STREAM
            ? "the call was not delivered (it refused the stream, as a closing node does)"
            : (peer.lastFailure ?? `it went away during the call${stream.rstCode ? ` (stream reset, code ${stream.rstCode})` : ""}`);
        finish(new SwitchboardError(`${nameOf(target)} is unavailable: ${why}`, Code.Unavailable));
      } else if (status.code === Code.Ok) {
        if (parser.pending) finish(new SwitchboardError(`${nameOf(target)} sent a truncated message on ${path}`, Code.Unavailable));
        else finish(undefined);
      } else {
        finish(new SwitchboardError(status.message, status.code in Code ? (status.code as Code) : Code.Unknown));
      }
    });
    stream.end(body);
    return {
      cancel: () => fail(new SwitchboardError(`call to ${nameOf(target)} cancelled`, Code.Canceled)),
      pause: () => stream.pause(),
      resume: () => stream.resume(),
    };
  }

  const decoder =
    <O extends DescMessage>(target: RemoteNode, path: string, output: O) =>
    (bytes: Uint8Array): MessageShape<O> | SwitchboardError => {
      try {
        return fromBinary(output, bytes);
      } catch (error) {
        return new SwitchboardError(`cannot decode the answer of ${nameOf(target)} on ${path}: ${(error as Error).message}`, Code.Internal);
      }
    };

  return {
    unary(target, path, input, request, output, callOptions = {}) {
      const decode = decoder(target, path, output);
      return new Promise((resolve, reject) => {
        let response: MessageShape<typeof output> | undefined;
        call(
          target,
          path,
          frameMessage(toBinary(input, request)),
          callOptions,
          (bytes) => {
            const decoded = decode(bytes);
            if (decoded instanceof SwitchboardError) return decoded;
            if (response !== undefined) return new SwitchboardError(`${nameOf(target)} sent more than one answer on ${path}`, Code.Internal);
            response = decoded;
            return undefined;
          },
          (error) => {
            if (error !== undefined) reject(error);
            else if (response === undefined) reject(new SwitchboardError(`${nameOf(target)} sent no answer on ${path}`, Code.Internal));
            else resolve(response);
          },
        );
      });
    },
    serverStream(target, path, input, request, output, callOptions = {}) {
      return {
        async *[Symbol.asyncIterator]() {
          const decode = decoder(target, path, output);
          const queue = new AsyncQueue<MessageShape<typeof output>>();
          let done = false;
          let buffered = 0;
          let paused = false;
          const controls = call(
            target,
            path,
            frameMessage(toBinary(input, request)),
            callOptions,
            (bytes) => {
              const decoded = decode(bytes);
              if (decoded instanceof SwitchboardError) return decoded;
              queue.push(decoded);
              if (++buffered >= STREAM_HIGH_WATER && !paused) {
                paused = true;
                controls.pause();
              }
              return undefined;
            },
            (error) => {
              done = true;
              if (error === undefined) queue.end();
              else queue.fail(error);
            },
          );
          try {
            for await (const message of queue) {
              if (--buffered <= STREAM_HIGH_WATER / 2 && paused) {
                paused = false;
                controls.resume();
              }
              yield message;
            }
          } finally {
            // The consumer stopped early (break, a throw): the peer's stream is reset.
            if (!done) controls.cancel();
          }
        },
      };
    },
    close() {
      closed = true;
      for (const peer of peers.values()) {
        peer.lastFailure = "the mesh client closed";
        peer.session.destroy();
      }
      peers.clear();
    },
  };
}
