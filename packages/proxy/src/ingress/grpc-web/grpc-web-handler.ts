import { Code, SwitchboardError } from "../../errors/index.js";
import { encodeGrpcMessage, FrameParser, frameMessage } from "../../internal/grpc-framing.js";
import type { Logger } from "../../observability/logger.js";
import type { Dispatcher, ModelSource } from "../../router/types.js";
import { startGrpcCall } from "../call/grpc-call.js";
import type { Cors } from "../http/cors.js";
import type { HttpExchange } from "../http/exchange.js";
import { sendHttpPlain } from "../http/http-handler.js";
import { mediaType } from "../http/json-codec.js";
import { replyHeaders } from "../http/metadata.js";
import { Base64StreamDecoder, Base64StreamEncoder } from "./base64-stream.js";

/** Options of {@link createGrpcWebHandler}. */
export interface GrpcWebHandlerOptions {
  readonly models: ModelSource;
  readonly dispatcher: Dispatcher;
  readonly maxMessageSize: number;
  /** Request messages a streaming call holds unread before the body is paused. */
  readonly requestQueueLimit: number;
  /** Turns an error into the text a client may see. */
  readonly clientMessage: (error: SwitchboardError) => string;
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
 * every call shape; browsers use unary and server streaming. This is the gRPC-Web
 * framing of the shared call layer (`call/grpc-call.ts`): the response is always
 * HTTP 200 with the messages as length-prefixed frames and the status in a final
 * trailer frame (flag 0x80, `grpc-status`/`grpc-message` lines).
 */
export function createGrpcWebHandler(options: GrpcWebHandlerOptions): (exchange: HttpExchange) => void {
  const { maxMessageSize, cors, clientMessage } = options;

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
    const body = exchange.body;
    const encode = (frame: Buffer): Buffer | string => (encoder ? encoder.push(frame) : frame);
    let opened = false;
    const open = (extra: Record<string, string | string[]>) => {
      opened = true;
      exchange.respond(200, {
        ...extra,
        ...cors.responseHeaders(exchange.headers, Object.keys(extra)),
        "content-type": textResponse ? `${WEB_TEXT}+proto` : `${WEB}+proto`,
        "grpc-accept-encoding": "identity",
      });
    };

    const call = startGrpcCall({
      ...options,
      path,
      headers: exchange.headers,
      sink: {
        open: (reply) => open(replyHeaders(reply)),
        send: (message) => exchange.write(encode(frameMessage(message))),
        close(error) {
          if (exchange.signal.aborted) return;
          if (!opened) open({});
          let trailers = `grpc-status:${error ? error.code : Code.Ok}\r\n`;
          if (error) trailers += `grpc-message:${encodeGrpcMessage(clientMessage(error))}\r\n`;
          const frame = frameMessage(Buffer.from(trailers, "latin1"), TRAILER_FLAG);
          const last = encoder ? encoder.end(frame) : frame;
          // The request body may still be arriving (a failure before it ended): stop reading it.
          body.off("data", onData);
          if (body.readableEnded) exchange.end(last);
          else exchange.endAndDiscard(last);
        },
        pause: () => body.pause(),
        resume: () => body.resume(),
      },
    });
    exchange.signal.addEventListener("abort", () => call.cancel(), { once: true });
    body.on("error", () => {});
    if (call.finished) return;

    const decoder = text ? new Base64StreamDecoder() : undefined;
    const parser = new FrameParser(maxMessageSize);
    function onData(chunk: Buffer) {
      try {
        for (const message of parser.push(decoder ? decoder.push(chunk) : chunk)) call.message(message);
      } catch (error) {
        call.fail(error);
      }
    }
    body.on("data", onData);
    body.once("end", () => {
      const truncated = decoder?.end() ?? (parser.pending ? new SwitchboardError("truncated request message", Code.Internal) : undefined);
      if (truncated) call.fail(truncated);
      else call.end();
    });
  };
}
