import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { Code, SwitchboardError } from "../../errors/index.js";
import { AsyncQueue } from "../../internal/async-queue.js";
import type { Logger } from "../../observability/logger.js";
import type { Dispatcher, ModelSource, Reply } from "../../router/types.js";
import { replyHeaders, requestMetadata } from "../http/metadata.js";
import { encodeGrpcMessage, FrameParser, frameMessage, parseGrpcTimeout } from "../../internal/grpc-framing.js";

/** Options of {@link createGrpcHandler}. */
export interface GrpcHandlerOptions {
  models: ModelSource;
  dispatcher: Dispatcher;
  maxMessageSize: number;
  logger: Logger;
}

/**
 * Serves gRPC calls (HTTP/2, `application/grpc*`) for every method of the current
 * service model: frames requests, hands them to the dispatcher and writes replies
 * and status trailers. Only this module turns errors into gRPC status.
 */
export function createGrpcHandler(options: GrpcHandlerOptions): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void {
  const { models, dispatcher, maxMessageSize, logger } = options;
  return (stream, headers) => {
    const path = headers[":path"] ?? "";
    let responded = false;
    let finished = false;
    const respond = (reply: Reply | undefined) => {
      if (responded || stream.destroyed) return;
      responded = true;
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "identity", ...replyHeaders(reply) },
        { waitForTrailers: true },
      );
    };
    const finish = (error: SwitchboardError | undefined) => {
      if (finished || stream.destroyed || stream.closed) return;
      finished = true;
      const trailers = error ? { "grpc-status": String(error.code), "grpc-message": encodeGrpcMessage(error.rawMessage) } : { "grpc-status": "0" };
      if (!responded) {
        // Trailers-only response: status in the headers of a single frame.
        responded = true;
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
        return;
      }
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end();
    };
    const write = (reply: Reply) => {
      respond(reply);
      if (reply.payload !== undefined && !stream.destroyed) stream.write(frameMessage(reply.payload.value));
    };
    const fail = (reason: unknown) => {
      const error = SwitchboardError.from(reason);
      if (error.code === Code.Internal || error.code === Code.Unknown) logger.debug("call failed", { path, error: error.message });
      finish(error);
    };

    const model = models.current();
    if (model === undefined) {
      finish(new SwitchboardError("the user function has not been discovered yet", Code.Unavailable));
      return;
    }
    const method = model.methodsByPath.get(path);
    if (method === undefined) {
      const service = path.split("/")[1] ?? "";
      finish(
        model.services.has(service)
          ? new SwitchboardError(`method ${path} is not a method of service ${service}`, Code.Unimplemented)
          : new SwitchboardError(`unknown service ${service}`, Code.Unimplemented),
      );
      return;
    }

    const controller = new AbortController();
    const timeoutMs = parseGrpcTimeout(headers["grpc-timeout"] as string | undefined);
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        controller.abort();
        finish(new SwitchboardError("deadline exceeded", Code.DeadlineExceeded));
      }, timeoutMs);
    }
    stream.once("close", () => {
      if (timer) clearTimeout(timer);
      if (!finished) controller.abort();
    });
    const invocation = {
      method,
      metadata: requestMetadata(headers),
      signal: controller.signal,
      ...(timeoutMs !== undefined ? { deadline: Date.now() + timeoutMs } : {}),
    };

    const parser = new FrameParser(maxMessageSize);
    if (method.kind === "unary" || method.kind === "server_streaming") {
      const messages: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => {
        try {
          for (const m of parser.push(chunk)) messages.push(m);
        } catch (error) {
          fail(error);
          stream.close();
        }
      });
      stream.once("end", () => {
        if (finished) return;
        if (messages.length !== 1 || parser.pending) {
          finish(
            new SwitchboardError(
              `expected exactly one request message for ${path}, got ${messages.length}${parser.pending ? " and a truncated one" : ""}`,
              Code.Internal,
            ),
          );
          return;
        }
        const request = messages[0] as Buffer;
        if (method.kind === "unary") {
          dispatcher.unary(invocation, request).then((reply) => {
            // A unary call with no reply answers the empty output message (zero bytes).
            write(
              reply.payload === undefined
                ? { ...reply, payload: { $typeName: "google.protobuf.Any", typeUrl: method.outputTypeUrl, value: new Uint8Array() } }
                : reply,
            );
            finish(undefined);
          }, fail);
        } else {
          void pump(dispatcher.stream(invocation, single(request)));
        }
      });
      return;
    }

    const requests = new AsyncQueue<Uint8Array>();
    stream.on("data", (chunk: Buffer) => {
      try {
        for (const m of parser.push(chunk)) requests.push(m);
      } catch (error) {
        requests.fail(error);
        fail(error);
        stream.close();
      }
    });
    stream.once("end", () => {
      if (parser.pending) requests.fail(new SwitchboardError("truncated request message", Code.Internal));
      else requests.end();
    });
    stream.once("aborted", () => requests.fail(new SwitchboardError("call cancelled by the client", Code.Canceled)));
    void pump(dispatcher.stream(invocation, requests));

    async function pump(replies: AsyncIterable<Reply>): Promise<void> {
      try {
        for await (const reply of replies) {
          if (finished) break;
          write(reply);
        }
        finish(undefined);
      } catch (error) {
        fail(error);
      }
    }
  };
}

async function* single(request: Uint8Array): AsyncIterable<Uint8Array> {
  yield request;
}
