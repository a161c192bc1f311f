import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { v1alpha } from "@switchboard/protocol/reflection";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { ModelSource } from "../../router/types.js";
import { encodeGrpcMessage, FrameParser, frameMessage } from "../../internal/grpc-framing.js";
import { createReflectionSession, reflectionIndexFor } from "./reflection.js";

/** Options of {@link createReflectionHandler}. */
export interface ReflectionHandlerOptions {
  readonly models: ModelSource;
  readonly maxMessageSize: number;
  readonly logger: Logger;
}

/**
 * Serves `ServerReflectionInfo` of grpc.reflection.v1alpha and v1 over gRPC (HTTP/2):
 * a bidi stream where each request gets its response at once, and requests are not
 * read while the client leaves responses unread. The two versions share
 * their wire format, so one decoder serves both. The model is read when the stream
 * opens, so a stream keeps answering from the model it started with.
 */
export function createReflectionHandler(options: ReflectionHandlerOptions): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void {
  const { models, maxMessageSize, logger } = options;
  return (stream) => {
    const model = models.current();
    if (model === undefined) {
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": String(Code.Unavailable),
          "grpc-message": encodeGrpcMessage("the user function has not been discovered yet"),
        },
        { endStream: true },
      );
      return;
    }
    const session = createReflectionSession(reflectionIndexFor(model));
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "identity" }, { waitForTrailers: true });
    let finished = false;
    const finish = (error: SwitchboardError | undefined) => {
      if (finished || stream.destroyed || stream.closed) return;
      finished = true;
      const trailers = error ? { "grpc-status": String(error.code), "grpc-message": encodeGrpcMessage(error.rawMessage) } : { "grpc-status": "0" };
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end();
    };
    const parser = new FrameParser(maxMessageSize);
    stream.on("data", (chunk: Buffer) => {
      if (finished) return;
      try {
        for (const message of parser.push(chunk)) {
          let request: v1alpha.ServerReflectionRequest;
          try {
            request = fromBinary(v1alpha.ServerReflectionRequestSchema, message);
          } catch (error) {
            throw new SwitchboardError(`cannot decode the reflection request: ${(error as Error).message}`, Code.Internal);
          }
          const response = session.answer(request);
          if (stream.destroyed) return;
          // Backpressure: a client that does not read its answers stops being read.
          if (!stream.write(frameMessage(toBinary(v1alpha.ServerReflectionResponseSchema, response))) && !stream.isPaused()) {
            stream.pause();
            stream.once("drain", () => stream.resume());
          }
        }
      } catch (reason) {
        const error = SwitchboardError.from(reason);
        logger.debug("reflection stream failed", { error: error.message });
        finish(error);
      }
    });
    stream.once("end", () => finish(parser.pending ? new SwitchboardError("truncated request message", Code.Internal) : undefined));
  };
}
