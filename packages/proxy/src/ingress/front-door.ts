import type * as http from "node:http";
import * as http2 from "node:http2";
import type { Logger } from "../observability/logger.js";
import type { Dispatcher, ModelSource } from "../router/types.js";
import { createClientMessage, type Redaction } from "./client-message.js";
import { createBuiltinGrpcHandler } from "./grpc/grpc-builtin.js";
import { createGrpcHandler } from "./grpc/grpc-handler.js";
import { REFLECTION_PATHS } from "./grpc/reflection.js";
import { createReflectionHandler } from "./grpc/reflection-handler.js";
import { createGrpcWebHandler, isGrpcWebContentType } from "./grpc-web/grpc-web-handler.js";
import { createCors } from "./http/cors.js";
import { type HttpExchange, http1Exchange, http2Exchange } from "./http/exchange.js";
import { createHttpHandler, sendHttpPlain } from "./http/http-handler.js";
import { answerProbe, type Readiness } from "./http/probes.js";
import { discardBody } from "./http/read-body.js";
import { isTopicsPath } from "./http/topics-handler.js";
import { asNodeStream } from "./h2/stream-duplex.js";
import type { FrontHandlers } from "./server.js";
import { ErrorCode } from "../http2/frames.js";

const http2Constants = http2.constants;

/** Options of {@link createFrontDoor}. */
export interface FrontDoorOptions {
  readonly models: ModelSource;
  readonly dispatcher: Dispatcher;
  /** The dispatcher each protocol uses, when it differs (metrics and traces label calls by protocol). */
  readonly dispatcherFor?: (protocol: "grpc" | "grpc-web" | "http") => Dispatcher;
  readonly readiness: Readiness;
  readonly maxMessageSize: number;
  /** Origins allowed by CORS; empty turns CORS off. */
  readonly corsOrigins: readonly string[];
  /** Request messages a streaming call holds unread before its body is paused. */
  readonly requestQueueLimit?: number;
  /** Deployment details (addresses, paths) that error texts sent to clients must not show. */
  readonly redactions?: readonly Redaction[];
  /** Serve gRPC server reflection (default true). */
  readonly reflection?: boolean;
  /** Serves `/v1/topics/<topic>` (the embedded broker over HTTP), when the store keeps topics. */
  readonly topics?: (exchange: HttpExchange) => void;
  readonly logger: Logger;
}

/** Default of {@link FrontDoorOptions.requestQueueLimit}. */
export const DEFAULT_REQUEST_QUEUE_LIMIT = 32;

/**
 * Decides what each request on the front port is (docs/protocol.md#front-port), in order:
 * `application/grpc*` → gRPC (server reflection's `ServerReflectionInfo` included);
 * `application/grpc-web*` → gRPC-Web; the probes (`/ready`, `/alive`,
 * `K-Network-Probe`); a CORS preflight from an allowed origin; `/v1/topics/…` (the
 * embedded broker, when configured); then HTTP/JSON:
 * google.api.http rules (literal segments before variables), default
 * `POST /<package.Service>/<Method>` routes, else 404, or 405 with `Allow`.
 * JSON and gRPC-Web work over HTTP/1.1 and h2c alike.
 */
export function createFrontDoor(options: FrontDoorOptions): FrontHandlers {
  const { models, dispatcher, readiness, maxMessageSize, logger } = options;
  const cors = createCors(options.corsOrigins);
  const requestQueueLimit = options.requestQueueLimit ?? DEFAULT_REQUEST_QUEUE_LIMIT;
  const clientMessage = createClientMessage(options.redactions ?? []);
  const reflectionOn = options.reflection !== false;
  const via = (protocol: "grpc" | "grpc-web" | "http") => options.dispatcherFor?.(protocol) ?? dispatcher;
  const grpcOptions = { models, dispatcher: via("grpc"), maxMessageSize, requestQueueLimit, clientMessage, logger };
  const grpc = createGrpcHandler(grpcOptions);
  const grpcBuiltin = createBuiltinGrpcHandler(grpcOptions);
  const reflection = createReflectionHandler({ models, maxMessageSize, logger });
  const grpcWeb = createGrpcWebHandler({ models, dispatcher: via("grpc-web"), maxMessageSize, requestQueueLimit, clientMessage, cors, logger });
  const json = createHttpHandler({ models, dispatcher: via("http"), maxMessageSize, cors, clientMessage, logger });

  /** Everything that is neither gRPC nor gRPC-Web. */
  const route = (exchange: HttpExchange) => {
    const probe = answerProbe(exchange.method, exchange.url, exchange.headers, readiness);
    if (probe !== undefined) {
      discardBody(exchange);
      sendHttpPlain(exchange, probe.status, probe.body, probe.headers);
      return;
    }
    const preflight = cors.preflight(exchange.method, exchange.headers);
    if (preflight !== undefined) {
      discardBody(exchange);
      exchange.respond(204, { ...preflight, "content-length": 0 });
      exchange.end();
      return;
    }
    if (options.topics !== undefined && isTopicsPath(exchange.url)) {
      options.topics(exchange);
      return;
    }
    json(exchange);
  };

  const isGrpcProper = (headers: http2.IncomingHttpHeaders) => {
    const contentType = headers["content-type"];
    return (
      contentType?.startsWith("application/grpc") === true &&
      !isGrpcWebContentType(contentType) &&
      !(reflectionOn && REFLECTION_PATHS.has(String(headers[":path"])))
    );
  };

  /** An HTTP/1.1 request, on either HTTP/1.1 stack. */
  const http1 = (exchange: HttpExchange) => {
    const contentType = exchange.headers["content-type"];
    if (contentType?.startsWith("application/grpc")) {
      if (isGrpcWebContentType(contentType)) {
        grpcWeb(exchange);
        return;
      }
      // gRPC proper needs HTTP/2 trailers; point HTTP/1.1 clients at h2c or gRPC-Web.
      discardBody(exchange);
      sendHttpPlain(exchange, 505, "gRPC needs HTTP/2 (h2c with prior knowledge); over HTTP/1.1 use gRPC-Web (application/grpc-web) or HTTP/JSON");
      return;
    }
    route(exchange);
  };

  const handlers: FrontHandlers = {
    onBuiltinStream(stream, headers, end) {
      try {
        if (isGrpcProper(headers)) {
          grpcBuiltin(stream, headers, end);
          return;
        }
        // Everything else is written against Node's stream: it gets one.
        const node = asNodeStream(stream, end);
        node.on("error", (error) => logger.debug("http2 stream error", { error }));
        handlers.onHttp2Stream(node, headers);
      } catch (error) {
        logger.error("request handling failed", { path: headers[":path"], error });
        stream.reset(ErrorCode.InternalError);
      }
    },
    onHttp2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
      try {
        const contentType = headers["content-type"];
        if (contentType?.startsWith("application/grpc")) {
          if (isGrpcWebContentType(contentType)) grpcWeb(http2Exchange(stream, headers));
          else if (reflectionOn && REFLECTION_PATHS.has(String(headers[":path"]))) reflection(stream, headers);
          else grpc(stream, headers);
          return;
        }
        route(http2Exchange(stream, headers));
      } catch (error) {
        // A bug must cost one call, never the process.
        logger.error("request handling failed", { path: headers[":path"], error });
        if (!stream.destroyed) stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
      }
    },
    onHttp1Request(request: http.IncomingMessage, response: http.ServerResponse) {
      try {
        http1(http1Exchange(request, response));
      } catch (error) {
        logger.error("request handling failed", { path: request.url, error });
        response.destroy();
      }
    },
    onHttp1Exchange(exchange: HttpExchange) {
      try {
        http1(exchange);
      } catch (error) {
        // The connection is closed by its owner once this throws.
        logger.error("request handling failed", { path: exchange.url, error });
        throw error;
      }
    },
  };
  return handlers;
}
