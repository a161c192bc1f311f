import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Logger } from "../observability/logger.js";
import type { Dispatcher, ModelSource } from "../router/types.js";
import { createGrpcHandler } from "./grpc/grpc-handler.js";
import { answerProbe, type Readiness } from "./http/probes.js";
import { type FrontHandlers, sendPlain } from "./server.js";

/** Options of {@link createFrontDoor}. */
export interface FrontDoorOptions {
  readonly models: ModelSource;
  readonly dispatcher: Dispatcher;
  readonly readiness: Readiness;
  readonly maxMessageSize: number;
  readonly corsOrigins: readonly string[];
  readonly logger: Logger;
}

/**
 * Decides what each request on the front port is (clarification 6): `application/grpc*`
 * → gRPC; `application/grpc-web*` → gRPC-Web; probes (`/ready`, `/alive`,
 * `K-Network-Probe`); HTTP/JSON routes; else 404.
 */
export function createFrontDoor(options: FrontDoorOptions): FrontHandlers {
  const { models, dispatcher, readiness, maxMessageSize, logger } = options;
  const grpc = createGrpcHandler({ models, dispatcher, maxMessageSize, logger });
  return {
    onHttp2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
      const contentType = String(headers["content-type"] ?? "");
      if (contentType.startsWith("application/grpc") && !contentType.startsWith("application/grpc-web")) {
        grpc(stream, headers);
        return;
      }
      const answer = answerProbe(String(headers[":method"]), String(headers[":path"]), headers, readiness) ?? notFound(String(headers[":path"]));
      stream.respond({ ":status": answer.status, "content-type": "text/plain; charset=utf-8" });
      stream.end(answer.body);
    },
    onHttp1Request(request: http.IncomingMessage, response: http.ServerResponse) {
      const answer = answerProbe(request.method ?? "GET", request.url ?? "/", request.headers, readiness) ?? notFound(request.url ?? "/");
      request.resume();
      sendPlain(response, answer);
    },
  };
}

function notFound(path: string) {
  return { status: 404, body: `no route for ${path.split("?")[0]}` };
}
