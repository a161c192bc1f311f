import { Code, SwitchboardError } from "../../errors/index.js";
import { AsyncQueue } from "../../internal/async-queue.js";
import type { Logger } from "../../observability/logger.js";
import type { Dispatcher, Invocation, ModelSource, Reply } from "../../router/types.js";
import { encodeGrpcMessage, FrameParser, frameMessage, parseGrpcTimeout } from "../../internal/grpc-framing.js";
import type { Cors } from "../http/cors.js";
import type { HttpExchange } from "../http/exchange.js";
import { sendHttpPlain } from "../http/http-handler.js";
import { mediaType } from "../http/json-codec.js";
import { replyHeaders, requestMetadata } from "../http/metadata.js";
import { Base64StreamDecoder, Base64StreamEncoder } from "./base64-stream.js";

/** Options of {@link createGrpcWebHandler}. */
export interface GrpcWebHandlerOptions {
  readonly models: ModelSource;
  readonly dispatcher: Dispatcher;
  readonly maxMessageSize: number;
  readonly cors: Cors;
  readonly logger: Logger;
}

const WEB = "application/grpc-web";
const WEB_TEXT = "application/grpc-web-text";
/** The trailer frame's flag byte. */
const TRAILER_FLAG = 0x80;

/** Whether a content type is gRPC-Web (`application/grpc-web`, `-text`, with or without `+codec`). */
export function isGrpcWebContentType(contentType: string | undefined): boolean {
  return contentType?.startsWith(WEB) === true;
}

/**
 * Serves gRPC-Web calls over HTTP/1.1 and h2c (docs/protocol.md#front-port): `application/grpc-web`,
 * `application/grpc-web+proto` and `application/grpc-web-text` (base64 both ways), for
 * every call shape; browsers use unary and server streaming. The response is always
 * HTTP 200 with the messages as length-prefixed frames and the status in a final
 * trailer frame (flag 0x80, `grpc-status`/`grpc-message` lines).
 */
export function createGrpcWebHandler(options: GrpcWebHandlerOptions): (exchange: HttpExchange) => void {
  const { models, dispatcher, maxMessageSize, cors, logger } = options;

  return (exchange) => {
    const contentType = mediaType(exchange.headers["content-type"]);
    const text = contentType.startsWith(WEB_TEXT);
    const codec = contentType.slice(text ? WEB_TEXT.length : WEB.length);
    if (codec !== "" && codec !== "+proto") {
      exchange.body.resume();
      sendHttpPlain(
        exchange,
        415,
        `unsupported gRPC-Web content type "${contentType}": only application/grpc-web(-text) with the proto codec`,
        cors.responseHeaders(exchange.headers),
      );
      return;
    }
    if (exchange.method !== "POST") {
      exchange.body.resume();
      sendHttpPlain(exchange, 405, "gRPC-Web calls are POST requests", { ...cors.responseHeaders(exchange.headers), allow: "POST" });
      return;
    }
    const accept = String(exchange.headers.accept ?? "");
    const textResponse = text || accept.includes(WEB_TEXT);
    const encoder = textResponse ? new Base64StreamEncoder() : undefined;
    const url = exchange.url;
    const path = url.includes("?") ? url.slice(0, url.indexOf("?")) : url;

    let responded = false;
    let finished = false;
    const respond = (reply: Reply | undefined) => {
      if (responded) return;
      responded = true;
      const extra = replyHeaders(reply);
      exchange.respond(200, {
        ...extra,
        ...cors.responseHeaders(exchange.headers, Object.keys(extra)),
        "content-type": textResponse ? `${WEB_TEXT}+proto` : `${WEB}+proto`,
        "grpc-accept-encoding": "identity",
      });
    };
    const encode = (frame: Buffer): Buffer | string => (encoder ? encoder.push(frame) : frame);
    const finish = (error: SwitchboardError | undefined) => {
      if (finished) return;
      finished = true;
      controller.abort();
      if (timer) clearTimeout(timer);
      if (exchange.signal.aborted) return;
      respond(undefined);
      let trailers = `grpc-status:${error ? error.code : Code.Ok}\r\n`;
      if (error) trailers += `grpc-message:${encodeGrpcMessage(error.rawMessage)}\r\n`;
      const frame = frameMessage(Buffer.from(trailers, "latin1"), TRAILER_FLAG);
      // The request body may still be arriving (a failure before it ended): stop reading it.
      const last = encoder ? encoder.end(frame) : frame;
      if (exchange.body.readableEnded) exchange.end(last);
      else exchange.endAndDiscard(last);
    };
    const fail = (reason: unknown) => {
      const error = SwitchboardError.from(reason);
      if (error.code === Code.Internal || error.code === Code.Unknown) logger.debug("gRPC-Web call failed", { path, error: error.message });
      finish(error);
    };

    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
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
    exchange.signal.addEventListener("abort", () => controller.abort(), { once: true });
    const timeoutMs = parseGrpcTimeout(exchange.headers["grpc-timeout"] as string | undefined);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => finish(new SwitchboardError("deadline exceeded", Code.DeadlineExceeded)), timeoutMs);
    }
    const invocation: Invocation = {
      method,
      metadata: requestMetadata(exchange.headers),
      signal: controller.signal,
      ...(timeoutMs !== undefined ? { deadline: Date.now() + timeoutMs } : {}),
    };

    const decoder = text ? new Base64StreamDecoder() : undefined;
    const parser = new FrameParser(maxMessageSize);
    const single = method.kind === "unary" || method.kind === "server_streaming";
    const messages: Buffer[] = [];
    const requests = single ? undefined : new AsyncQueue<Uint8Array>();
    const body = exchange.body;
    const onData = (chunk: Buffer) => {
      try {
        for (const message of parser.push(decoder ? decoder.push(chunk) : chunk)) {
          if (requests) requests.push(message);
          else if (messages.push(message) > 1) throw new SwitchboardError(`expected exactly one request message for ${path}`, Code.Internal);
        }
      } catch (error) {
        body.off("data", onData);
        requests?.fail(error);
        fail(error);
      }
    };
    body.on("data", onData);
    body.on("error", () => {});
    body.once("end", () => {
      if (finished) return;
      const truncated = decoder?.end() ?? (parser.pending ? new SwitchboardError("truncated request message", Code.Internal) : undefined);
      if (requests) {
        if (truncated) {
          requests.fail(truncated);
          fail(truncated);
        } else requests.end();
        return;
      }
      if (truncated) {
        fail(truncated);
        return;
      }
      if (messages.length !== 1) {
        finish(new SwitchboardError(`expected exactly one request message for ${path}, got ${messages.length}`, Code.Internal));
        return;
      }
      const request = messages[0] as Buffer;
      if (method.kind === "unary") {
        dispatcher
          .unary(invocation, request)
          .then(async (reply) => {
            if (finished) return;
            respond(reply);
            if (reply.payload !== undefined) await exchange.write(encode(frameMessage(reply.payload.value)));
            finish(undefined);
          }, fail)
          .catch(fail);
      } else {
        void pump(dispatcher.stream(invocation, once(request)));
      }
    });
    if (requests) void pump(dispatcher.stream(invocation, requests));

    async function pump(replies: AsyncIterable<Reply>): Promise<void> {
      try {
        for await (const reply of replies) {
          if (finished) break;
          respond(reply);
          if (reply.payload !== undefined) await exchange.write(encode(frameMessage(reply.payload.value)));
        }
        finish(undefined);
      } catch (error) {
        fail(error);
      }
    }
  };
}

async function* once(request: Uint8Array): AsyncIterable<Uint8Array> {
  yield request;
}
