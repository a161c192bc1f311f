import type { IncomingHttpHeaders } from "node:http";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { Dispatcher, Invocation, ModelSource, Reply } from "../../router/types.js";
import { CallAbort } from "../../internal/call-signal.js";
import { requestMetadata } from "../http/metadata.js";
import { type Deadline, startDeadline } from "./deadline.js";
import { createRequestQueue, type RequestQueue } from "./request-queue.js";

/**
 * The protocol side of one call: how gRPC or gRPC-Web puts the response on the wire.
 * The call layer calls `open` at most once and before any `send`, and `close` exactly
 * once, last.
 */
export interface CallSink {
  /** Sends the response head, with the metadata of the first reply (if any). */
  open(reply: Reply | undefined): void;
  /** Sends one reply message; resolves when the next may be sent (backpressure). */
  send(message: Uint8Array): void | Promise<void>;
  /** Ends the response with its status: OK when `error` is undefined. */
  close(error: SwitchboardError | undefined): void;
  /** Stops reading the request body; `resume` reads it again. */
  pause(): void;
  resume(): void;
}

/** Options of {@link startGrpcCall}. */
export interface GrpcCallOptions {
  readonly models: ModelSource;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** The request path, `/<package.Service>/<Method>` (no query). */
  readonly path: string;
  /** Request headers (metadata and `grpc-timeout`). */
  readonly headers: IncomingHttpHeaders;
  /** Request messages a streaming call holds unread before the body is paused. */
  readonly requestQueueLimit: number;
  readonly sink: CallSink;
}

/** One call in progress, fed by the protocol's request framing. */
export interface GrpcCall {
  /** Whether the call has its status (request messages are then ignored). */
  readonly finished: boolean;
  /** One complete request message. */
  message(bytes: Uint8Array): void;
  /** The request side ended cleanly. */
  end(): void;
  /** The request side broke: bad framing, an oversized or truncated message. */
  fail(reason: unknown): void;
  /** The client went away: abort everything, send nothing. */
  cancel(): void;
}

const EMPTY = new Uint8Array(0);
/** The abort reason of every finished call: a shared one, as making an AbortError per call (a DOMException) is costly. */
const CALL_OVER = new SwitchboardError("call ended", Code.Canceled);

/**
 * The call path that gRPC and gRPC-Web share: finds the method in the current model,
 * turns `grpc-timeout` into a deadline that aborts the call, collects the request
 * messages (exactly one for unary and server-streaming calls, refusing a second at
 * once; a bounded queue for client-streaming and bidi calls), dispatches, and pumps
 * the replies into the protocol's sink with backpressure. A unary call the user
 * function answers without a reply gets the empty output message. A call whose
 * deadline passed before it was dispatched is answered DEADLINE_EXCEEDED and never
 * reaches the router.
 */
export function startGrpcCall(options: GrpcCallOptions): GrpcCall {
  const { models, dispatcher, logger, path, sink } = options;
  let finished = false;
  let opened = false;
  let deadline: Deadline | undefined;
  const cancellation = new CallAbort();
  let queue: RequestQueue | undefined;

  /** Ends the call once; `silent` when the client is gone and nothing can be sent. */
  const finish = (error: SwitchboardError | undefined, silent = false) => {
    if (finished) return;
    finished = true;
    deadline?.cancel();
    cancellation.abort(CALL_OVER);
    queue?.fail(error ?? new SwitchboardError("call ended", Code.Canceled));
    if (!silent) sink.close(error);
  };
  /**
   * Ends a unary call that was answered: nothing dispatched for it is still running, so
   * there is nobody to tell through the signal, and aborting it would only run the
   * listeners left on it (each costs an event dispatch per call).
   */
  const answered = () => {
    if (finished) return;
    finished = true;
    deadline?.cancel();
    sink.close(undefined);
  };
  const cancel = () => finish(new SwitchboardError("call cancelled by the client", Code.Canceled), true);
  const fail = (reason: unknown) => {
    const error = SwitchboardError.from(reason);
    if (error.code === Code.Internal || error.code === Code.Unknown) logger.debug("call failed", { path, error: error.message });
    finish(error);
  };
  const deliver = async (reply: Reply, payload: Uint8Array | undefined) => {
    if (finished) return;
    if (!opened) {
      opened = true;
      sink.open(reply);
    }
    if (payload !== undefined) await sink.send(payload);
  };
  const pump = async (replies: AsyncIterable<Reply>) => {
    try {
      for await (const reply of replies) {
        if (finished) break;
        await deliver(reply, reply.payload?.value);
      }
      finish(undefined);
    } catch (error) {
      fail(error);
    }
  };
  const ignored: GrpcCall = {
    finished: true,
    message() {},
    end() {},
    fail() {},
    cancel() {},
  };

  const model = models.current();
  if (model === undefined) {
    finish(new SwitchboardError("the user function has not been discovered yet", Code.Unavailable));
    return ignored;
  }
  const method = model.methodsByPath.get(path);
  if (method === undefined) {
    const service = path.split("/")[1] ?? "";
    finish(
      model.services.has(service)
        ? new SwitchboardError(`method ${path} is not a method of service ${service}`, Code.Unimplemented)
        : new SwitchboardError(`unknown service ${service}`, Code.Unimplemented),
    );
    return ignored;
  }
  deadline = startDeadline(options.headers["grpc-timeout"], () => finish(new SwitchboardError("deadline exceeded", Code.DeadlineExceeded)));
  if (deadline?.expired()) {
    finish(new SwitchboardError("deadline exceeded before the call started", Code.DeadlineExceeded));
    return ignored;
  }
  const invocation: Invocation = {
    method,
    metadata: requestMetadata(options.headers),
    signal: cancellation,
    ...(deadline !== undefined ? { deadline: deadline.at } : {}),
  };
  /** Whether the deadline allows dispatching now; answers DEADLINE_EXCEEDED if not. */
  const inTime = () => {
    if (deadline?.expired() !== true) return true;
    finish(new SwitchboardError("deadline exceeded before the call was dispatched", Code.DeadlineExceeded));
    return false;
  };

  if (method.kind === "client_streaming" || method.kind === "bidi_streaming") {
    const requests = createRequestQueue({ highWaterMark: options.requestQueueLimit, pause: () => sink.pause(), resume: () => sink.resume() });
    queue = requests;
    void pump(dispatcher.stream(invocation, requests));
    return {
      get finished() {
        return finished;
      },
      message: (bytes) => requests.push(bytes),
      end: () => requests.end(),
      fail,
      cancel,
    };
  }

  // Unary and server streaming: exactly one request message, dispatched when the request ends.
  let request: Uint8Array | undefined;
  return {
    get finished() {
      return finished;
    },
    message(bytes) {
      if (finished) return;
      if (request !== undefined) {
        fail(new SwitchboardError(`expected exactly one request message for ${path}, got a second one`, Code.Internal));
        return;
      }
      request = bytes;
    },
    end() {
      if (finished) return;
      if (request === undefined) {
        fail(new SwitchboardError(`expected exactly one request message for ${path}, got none`, Code.Internal));
        return;
      }
      if (!inTime()) return;
      const only = request;
      request = undefined;
      if (method.kind === "unary") {
        dispatcher.unary(invocation, only).then(
          // A unary call with no reply answers the empty output message.
          (reply) => deliver(reply, reply.payload?.value ?? EMPTY).then(answered, fail),
          fail,
        );
      } else {
        void pump(dispatcher.stream(invocation, single(only)));
      }
    },
    fail,
    cancel,
  };
}

async function* single(request: Uint8Array): AsyncIterable<Uint8Array> {
  yield request;
}
