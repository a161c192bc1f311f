import { validateHeaderName, validateHeaderValue } from "node:http";
import type { Registry } from "@bufbuild/protobuf";
import type { HttpRouteRule } from "../../descriptors/http-rules.js";
import { Code, codeName, httpStatusFor, SwitchboardError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { Dispatcher, Invocation, ModelSource, Reply } from "../../router/types.js";
import { errorForClient } from "../client-message.js";
import type { Cors } from "./cors.js";
import { csrfRefusal } from "./csrf.js";
import type { HttpExchange, ResponseHeaders } from "./exchange.js";
import { buildJsonRequest, buildNdjsonRequests, type EncodedReply, encodeJsonReply, type JsonRequest, mediaType, type Parsed } from "./json-codec.js";
import { replyHeaders, requestMetadata } from "./metadata.js";
import { discardBody, readBody } from "./read-body.js";
import { listServices, nearestMethodNames, SERVICE_LISTING_PATH } from "./service-listing.js";
import { routeTableFor } from "./route-table.js";

/** Options of {@link createHttpHandler}. */
export interface HttpHandlerOptions {
  readonly models: ModelSource;
  readonly dispatcher: Dispatcher;
  /** Largest request body (and transcoded request message), in bytes. */
  readonly maxMessageSize: number;
  readonly cors: Cors;
  /** Turns an error into the text a client may see (default: its raw message). */
  readonly clientMessage?: (error: SwitchboardError) => string;
  readonly logger: Logger;
}

const EMPTY = new Uint8Array(0);
const NDJSON = "application/x-ndjson";
const SSE = "text/event-stream";

/**
 * Writes an error as an HTTP response (docs/protocol.md#errors): the status from the one
 * code→HTTP table (`errors/http-status.ts`), the error's raw message as a text/plain
 * body: a user-function failure's body is exactly its description.
 */
export function sendHttpError(exchange: HttpExchange, error: SwitchboardError, extraHeaders: ResponseHeaders = {}, discard = false): void {
  if (exchange.headersSent) {
    exchange.end();
    return;
  }
  const body = Buffer.from(error.rawMessage, "utf8");
  const headers: ResponseHeaders = { ...extraHeaders, "content-type": "text/plain; charset=utf-8", "content-length": body.length };
  for (const [key, value] of error.metadata) {
    try {
      validateHeaderName(key);
      validateHeaderValue(key, value);
      headers[key.toLowerCase()] = value;
    } catch {
      // A header HTTP cannot carry is left out rather than failing the answer.
    }
  }
  exchange.respond(httpStatusFor(error.code), headers);
  if (discard) exchange.endAndDiscard(body);
  else exchange.end(body);
}

/** Writes a plain-text answer that is not a gRPC error (404, 405, preflight). */
export function sendHttpPlain(exchange: HttpExchange, status: number, text: string, headers: ResponseHeaders = {}): void {
  const body = Buffer.from(text, "utf8");
  exchange.respond(status, { ...headers, "content-type": "text/plain; charset=utf-8", "content-length": body.length });
  exchange.end(body);
}

/** Whether the request accepts server-sent events (a media range starting with text/event-stream). */
function wantsEventStream(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes(SSE)) return false;
  return accept.split(",").some((range) => range.trim().toLowerCase().startsWith(SSE));
}

/** The `{"error":{...}}` object that ends a failed stream (docs/protocol.md#errors). */
export function streamErrorJson(error: SwitchboardError): string {
  return JSON.stringify({ error: { code: codeName(error.code), message: error.rawMessage } });
}

/**
 * Serves HTTP/JSON calls (HTTP/1.1 and h2c) for the current service model:
 * google.api.http routes and every method's default `POST /<package.Service>/<Method>`,
 * transcoded with the proto3 JSON mapping. Unary and client-streaming methods answer
 * one JSON document; server-streaming and bidi methods stream NDJSON, or server-sent
 * events when the request accepts `text/event-stream`, and a failure after the first
 * message ends the stream with `{"error":{"code":…,"message":…}}`. A client-streaming
 * or bidi call takes one JSON message, or one per line with `application/x-ndjson`.
 */
export function createHttpHandler(options: HttpHandlerOptions): (exchange: HttpExchange) => void {
  const { models, dispatcher, maxMessageSize, cors, logger } = options;
  const clientMessage = options.clientMessage ?? ((error: SwitchboardError) => error.rawMessage);

  async function handle(exchange: HttpExchange): Promise<void> {
    const corsHeaders = cors.responseHeaders(exchange.headers);
    const model = models.current();
    if (model === undefined) {
      discardBody(exchange);
      sendHttpError(exchange, new SwitchboardError("the user function has not been discovered yet", Code.Unavailable), corsHeaders);
      return;
    }
    const url = exchange.url;
    const q = url.indexOf("?");
    const pathname = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? "" : url.slice(q + 1);
    if (pathname === SERVICE_LISTING_PATH && (exchange.method === "GET" || exchange.method === "HEAD")) {
      discardBody(exchange);
      const body = Buffer.from(`${JSON.stringify({ services: listServices(model) })}\n`, "utf8");
      exchange.respond(200, { ...corsHeaders, "content-type": "application/json", "content-length": body.length });
      exchange.end(exchange.method === "HEAD" ? undefined : body);
      return;
    }
    const found = routeTableFor(model).match(exchange.method, pathname);
    switch (found.kind) {
      case "not-found": {
        discardBody(exchange);
        const defaultRoute = /^\/([\w.]+\/\w+)$/.exec(pathname)?.[1];
        const near = defaultRoute === undefined ? [] : nearestMethodNames(model, defaultRoute);
        const hint = near.length === 0 ? "" : `; did you mean ${near.join(", ")}?`;
        sendHttpPlain(exchange, 404, `no route for ${exchange.method} ${pathname}${hint}`, corsHeaders);
        return;
      }
      case "method-not-allowed":
        discardBody(exchange);
        sendHttpPlain(exchange, 405, `method ${exchange.method} is not allowed for ${pathname}; allowed: ${found.allow.join(", ")}`, {
          ...corsHeaders,
          allow: found.allow.join(", "),
        });
        return;
      case "bad-request":
        discardBody(exchange);
        sendHttpError(exchange, found.error, corsHeaders);
        return;
      case "match":
        break;
    }
    const { rule } = found;
    // Routes with a body check its content type when they read it (400 for anything but JSON).
    const refusal = csrfRefusal(exchange.method, exchange.headers, cors, rule.body.kind !== "none" || takesRawBody(rule));
    if (refusal !== undefined) {
      discardBody(exchange);
      sendHttpPlain(exchange, refusal.status, refusal.message, corsHeaders);
      return;
    }
    let body: Uint8Array = EMPTY;
    if (rule.body.kind === "none") {
      discardBody(exchange);
    } else {
      const read = await readBody(exchange, maxMessageSize);
      if (read.error) {
        if (read.error.code === Code.ResourceExhausted) sendHttpError(exchange, read.error, corsHeaders, true);
        else if (!exchange.signal.aborted) sendHttpError(exchange, read.error, corsHeaders);
        return;
      }
      body = read.value;
    }
    const contentType = exchange.headers["content-type"];
    const request: JsonRequest = { rule, bindings: found.bindings, query, body, contentType, registry: model.registry };
    const invocation: Invocation = { method: rule.method, metadata: requestMetadata(exchange.headers), signal: exchange.signal };
    const kind = rule.method.kind;

    let messages: Parsed<Uint8Array[]>;
    if ((kind === "client_streaming" || kind === "bidi_streaming") && mediaType(contentType) === NDJSON && rule.body.kind === "message") {
      messages = buildNdjsonRequests(request);
    } else {
      const built = buildJsonRequest(request);
      messages = built.error ? built : { value: [built.value] };
    }
    if (messages.error) {
      sendHttpError(exchange, messages.error, corsHeaders);
      return;
    }
    for (const message of messages.value) {
      if (message.length > maxMessageSize) {
        sendHttpError(
          exchange,
          new SwitchboardError(`request message of ${message.length} bytes exceeds the maximum of ${maxMessageSize} bytes`, Code.ResourceExhausted),
          corsHeaders,
        );
        return;
      }
    }

    if (kind === "unary") {
      let reply: Reply;
      try {
        reply = await dispatcher.unary(invocation, messages.value[0] as Uint8Array);
      } catch (error) {
        fail(exchange, error, corsHeaders);
        return;
      }
      sendReply(exchange, rule, reply, model.registry);
      return;
    }
    const replies = dispatcher.stream(invocation, fromArray(messages.value));
    if (kind === "client_streaming") {
      let reply: Reply = { payload: undefined };
      try {
        for await (const r of replies) {
          reply = r;
          break;
        }
      } catch (error) {
        fail(exchange, error, corsHeaders);
        return;
      }
      sendReply(exchange, rule, reply, model.registry);
      return;
    }
    await streamReplies(exchange, rule, replies, wantsEventStream(exchange.headers.accept) ? "sse" : "ndjson", model.registry);
  }

  function fail(exchange: HttpExchange, reason: unknown, corsHeaders: ResponseHeaders): void {
    const error = SwitchboardError.from(reason);
    if (error.code === Code.Internal || error.code === Code.Unknown) logger.debug("HTTP call failed", { url: exchange.url, error: error.message });
    if (exchange.signal.aborted) return;
    sendHttpError(exchange, errorForClient(error, clientMessage), corsHeaders);
  }

  function sendReply(exchange: HttpExchange, rule: HttpRouteRule, reply: Reply, registry: Registry): void {
    if (exchange.signal.aborted) return;
    const encoded = encodeJsonReply(rule, reply.payload, registry);
    const extra = replyHeaders(reply);
    const corsHeaders = cors.responseHeaders(exchange.headers, Object.keys(extra));
    if (encoded.error) {
      fail(exchange, encoded.error, corsHeaders);
      return;
    }
    const body = typeof encoded.value.body === "string" ? Buffer.from(encoded.value.body, "utf8") : encoded.value.body;
    exchange.respond(200, { ...extra, ...corsHeaders, "content-type": encoded.value.contentType, "content-length": body.byteLength });
    exchange.end(body instanceof Buffer ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  }

  async function streamReplies(
    exchange: HttpExchange,
    rule: HttpRouteRule,
    replies: AsyncIterable<Reply>,
    format: "ndjson" | "sse",
    registry: Registry,
  ): Promise<void> {
    const iterator = replies[Symbol.asyncIterator]();
    let next: IteratorResult<Reply>;
    try {
      next = await iterator.next();
    } catch (error) {
      // Nothing sent yet: the failure gets its own HTTP status.
      fail(exchange, error, cors.responseHeaders(exchange.headers));
      return;
    }
    const first = next.done ? undefined : encodeJsonReply(rule, next.value.payload, registry);
    if (first?.error) {
      await iterator.return?.();
      fail(exchange, first.error, cors.responseHeaders(exchange.headers));
      return;
    }
    const raw = first?.value.raw === true;
    const extra = replyHeaders(next.done ? undefined : next.value);
    const contentType = raw ? (first?.value.contentType as string) : format === "sse" ? SSE : NDJSON;
    exchange.respond(200, {
      ...extra,
      ...cors.responseHeaders(exchange.headers, Object.keys(extra)),
      "content-type": contentType,
      "cache-control": "no-cache",
    });
    const frame = (encoded: EncodedReply): Buffer | string => {
      if (encoded.raw)
        return typeof encoded.body === "string" ? encoded.body : Buffer.from(encoded.body.buffer, encoded.body.byteOffset, encoded.body.byteLength);
      return format === "sse" ? `data: ${encoded.body as string}\n\n` : `${encoded.body as string}\n`;
    };
    try {
      if (first?.value === undefined) {
        exchange.end();
        return;
      }
      await exchange.write(frame(first.value));
      for (;;) {
        if (exchange.signal.aborted) {
          await iterator.return?.();
          return;
        }
        next = await iterator.next();
        if (next.done) break;
        const encoded = encodeJsonReply(rule, next.value.payload, registry);
        if (encoded.error) throw encoded.error;
        await exchange.write(frame(encoded.value));
      }
      exchange.end();
    } catch (reason) {
      const error = SwitchboardError.from(reason);
      if (exchange.signal.aborted) return;
      logger.debug("HTTP stream failed", { url: exchange.url, error: error.message });
      // A raw HttpBody stream has no room for an error object; it just ends.
      const shown = errorForClient(error, clientMessage);
      if (raw) exchange.end();
      else exchange.end(format === "sse" ? `data: ${streamErrorJson(shown)}\n\n` : `${streamErrorJson(shown)}\n`);
    }
  }

  return (exchange) => {
    handle(exchange).catch((reason: unknown) => {
      // Every expected failure is answered inside; this is the last line of defence.
      const error = SwitchboardError.from(reason);
      logger.warn("HTTP request failed unexpectedly", { url: exchange.url, error: error.message });
      try {
        if (!exchange.signal.aborted) sendHttpError(exchange, errorForClient(error, clientMessage));
      } catch {
        exchange.end();
      }
    });
  };
}

/** Whether a route's body is raw bytes (`google.api.HttpBody`) rather than JSON. */
function takesRawBody(rule: HttpRouteRule): boolean {
  if (rule.body.kind === "message") return rule.method.input.typeName === HTTP_BODY;
  return rule.body.kind === "field" && rule.body.field.message?.typeName === HTTP_BODY;
}

const HTTP_BODY = "google.api.HttpBody";

async function* fromArray(messages: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* messages;
}
