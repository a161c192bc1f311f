import * as http2 from "node:http2";
import { Code, SwitchboardError } from "../../errors/index.js";
import { encodeGrpcMessage, FrameParser, frameMessage } from "../../internal/grpc-framing.js";
import type { Logger } from "../../observability/logger.js";
import type { Dispatcher, ModelSource } from "../../router/types.js";
import { startGrpcCall } from "../call/grpc-call.js";
import { replyHeaders } from "../http/metadata.js";

/** Options of {@link createGrpcHandler}. */
export interface GrpcHandlerOptions {
  readonly models: ModelSource;
  readonly dispatcher: Dispatcher;
  readonly maxMessageSize: number;
  /** Request messages a streaming call holds unread before the stream is paused. */
  readonly requestQueueLimit: number;
  /** Turns an error into the text a client may see. */
  readonly clientMessage: (error: SwitchboardError) => string;
  readonly logger: Logger;
}

/** The response head of a reply without metadata, and the trailers of a call that succeeded: the same for every call (Node copies them). */
const RESPONSE_HEADERS = Object.freeze({ ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "identity" });
const OK_TRAILERS = Object.freeze({ "grpc-status": "0" });
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true });

/**
 * Serves gRPC calls (HTTP/2, `application/grpc*`): the gRPC framing of the shared call
 * layer (`call/grpc-call.ts`): length-prefixed messages in, replies out, and the status
 * as trailers (or a trailers-only response when nothing was sent).
 */
export function createGrpcHandler(options: GrpcHandlerOptions): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void {
  const { models, dispatcher, logger, requestQueueLimit, maxMessageSize, clientMessage } = options;
  return (stream, headers) => {
    const path = String(headers[":path"] ?? "");
    if (headers[":method"] !== "POST") {
      // gRPC calls are POSTs; anything else is refused before it can run.
      stream.respond(
        {
          ":status": 405,
          allow: "POST",
          "content-type": "application/grpc",
          "grpc-status": String(Code.Unimplemented),
          "grpc-message": encodeGrpcMessage(`gRPC calls are POST requests, not ${String(headers[":method"])}`),
        },
        { endStream: true },
      );
      stream.resume();
      return;
    }
    const statusOf = (error: SwitchboardError | undefined) =>
      error ? { "grpc-status": String(error.code), "grpc-message": encodeGrpcMessage(clientMessage(error)) } : OK_TRAILERS;
    let opened = false;
    const call = startGrpcCall({
      models,
      dispatcher,
      logger,
      requestQueueLimit,
      path,
      headers,
      sink: {
        open(reply) {
          if (stream.destroyed || stream.closed) return;
          opened = true;
          const extra = reply?.metadata === undefined || reply.metadata.length === 0 ? undefined : replyHeaders(reply);
          stream.respond(extra === undefined ? RESPONSE_HEADERS : { ...RESPONSE_HEADERS, ...extra }, WAIT_FOR_TRAILERS);
        },
        send(message) {
          if (stream.destroyed || stream.closed) return;
          if (stream.write(frameMessage(message))) return;
          return new Promise<void>((resolve) => {
            const done = () => {
              stream.off("drain", done);
              stream.off("close", done);
              resolve();
            };
            stream.once("drain", done);
            stream.once("close", done);
          });
        },
        close(error) {
          if (stream.destroyed || stream.closed) return;
          const trailers = statusOf(error);
          if (!stream.readableEnded) {
            // The status came before the request ended: stop the client sending, once the status is out.
            stream.off("data", onData);
            stream.resume();
            stream.once("finish", () => {
              if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
            });
          }
          if (!opened) {
            // Trailers-only response: the status in the headers of a single frame.
            stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
            return;
          }
          stream.once("wantTrailers", () => stream.sendTrailers(trailers));
          stream.end();
        },
        pause: () => stream.pause(),
        resume: () => stream.resume(),
      },
    });
    const parser = new FrameParser(maxMessageSize);
    function onData(chunk: Buffer) {
      try {
        for (const message of parser.push(chunk)) call.message(message);
      } catch (error) {
        call.fail(error);
      }
    }
    stream.once("close", () => {
      if (!call.finished) call.cancel();
    });
    if (call.finished) return;
    stream.on("data", onData);
    stream.once("end", () => {
      if (parser.pending) call.fail(new SwitchboardError("truncated request message", Code.Internal));
      else call.end();
    });
  };
}
