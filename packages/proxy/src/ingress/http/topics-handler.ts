import { fromBinary, fromJson, type JsonValue, type Registry, toBinary } from "@bufbuild/protobuf";
import { cloudEventType, structuredCloudEvent, TYPE_URL_PREFIX } from "../../eventing/cloud-event.js";
import type { TopicBroker } from "../../eventing/topic-broker.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { ModelSource } from "../../router/types.js";
import type { TopicMessage } from "../../store/types.js";
import type { HttpExchange } from "./exchange.js";
import { sendHttpError, sendHttpPlain } from "./http-handler.js";
import { mediaType, parseJsonBody } from "./json-codec.js";
import { discardBody, readBody } from "./read-body.js";

/** The path prefix of the topics surface. */
export const TOPICS_PATH = "/v1/topics/";

/** Options of {@link createTopicsHandler}. */
export interface TopicsHandlerOptions {
  readonly models: ModelSource;
  readonly broker: TopicBroker;
  /** Largest request body, in bytes. */
  readonly maxMessageSize: number;
  /** Ends open event streams when the proxy stops. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Interval of `:` keep-alive comments on idle event streams (ms; default 15000). */
  readonly keepAliveMs?: number;
}

/** Whether a request target belongs to the topics surface. */
export function isTopicsPath(url: string): boolean {
  return url.startsWith(TOPICS_PATH);
}

type Parsed<T> = { readonly value: T; readonly error?: undefined } | { readonly value?: undefined; readonly error: SwitchboardError };

const invalid = (message: string): { error: SwitchboardError } => ({ error: new SwitchboardError(message, Code.InvalidArgument) });
const PAGE = 100;

/**
 * The embedded broker over HTTP on the front port (docs/eventing.md):
 *
 * - `POST /v1/topics/<topic>` publishes one CloudEvent, in binary mode (`ce-*` headers,
 *   the body as proto3 JSON with `content-type: application/json` or the message's
 *   bytes with `application/protobuf`) or structured mode
 *   (`application/cloudevents+json`). `type` must name a message the user function's
 *   descriptors declare. 202 once the message is durable, with `{"offset": n}`; 400
 *   with the reason for a bad event.
 * - `GET /v1/topics/<topic>?from=<offset>` streams the messages after that offset as
 *   server-sent events (`id:` the offset, `data:` one structured CloudEvent), and then
 *   each new one as it is published; `?group=<name>` starts after that group's stored
 *   offset and stores its progress as events are written.
 */
export function createTopicsHandler(options: TopicsHandlerOptions): (exchange: HttpExchange) => void {
  const { models, broker, maxMessageSize, logger } = options;
  const keepAliveMs = options.keepAliveMs ?? 15_000;

  async function publish(exchange: HttpExchange, topic: string): Promise<void> {
    const model = models.current();
    if (model === undefined) {
      discardBody(exchange);
      sendHttpError(exchange, new SwitchboardError("the user function is not discovered yet", Code.Unavailable));
      return;
    }
    const body = await readBody(exchange, maxMessageSize);
    if (body.error) {
      sendHttpError(exchange, body.error, {}, true);
      return;
    }
    const media = mediaType(exchange.headers["content-type"]);
    const event = media === "application/cloudevents+json" ? structuredEvent(body.value) : binaryEvent(exchange, media, body.value);
    if (event.error) {
      sendHttpError(exchange, event.error);
      return;
    }
    const message = decodeData(event.value, model.registry);
    if (message.error) {
      sendHttpError(exchange, message.error);
      return;
    }
    let offsets: number[];
    try {
      offsets = await broker.publish(topic, [message.value]);
    } catch (error) {
      sendHttpError(exchange, SwitchboardError.from(error));
      return;
    }
    const answer = Buffer.from(JSON.stringify({ offset: offsets[0] }));
    exchange.respond(202, { "content-type": "application/json", "content-length": answer.length });
    exchange.end(answer);
  }

  async function subscribe(exchange: HttpExchange, topic: string, query: URLSearchParams): Promise<void> {
    discardBody(exchange);
    const start = startOf(query, exchange.headers["last-event-id"]);
    if (start.error) {
      sendHttpError(exchange, start.error);
      return;
    }
    const group = start.value.group;
    let offset: number;
    try {
      offset = group === undefined ? start.value.from : await broker.loadGroupOffset(topic, group);
      // Offsets are gap-free, so a first message past offset + 1 means retention removed the
      // ones asked for. A reader that named an offset gets 410 and where the topic starts
      // now; a group resumes at the first retained message (retention wins, as for the
      // consumer groups of services).
      const [first] = offset > 0 ? await broker.read(topic, offset, 1) : [];
      if (first !== undefined && first.offset > offset + 1) {
        if (group === undefined) {
          sendHttpPlain(
            exchange,
            410,
            `messages of topic "${topic}" up to offset ${first.offset - 1} were removed by retention; the first retained offset is ${first.offset} (read from=${first.offset - 1}, or from=0 for the start)`,
          );
          return;
        }
        logger.warn("retention removed messages this group had not read; resuming at the first retained offset", {
          topic,
          group,
          offset,
          firstOffset: first.offset,
        });
      }
    } catch (error) {
      sendHttpError(exchange, SwitchboardError.from(error));
      return;
    }
    // Over when the client leaves or the proxy stops: one signal for the broker's wait.
    const stop = new AbortController();
    const end = () => stop.abort();
    if (exchange.signal.aborted || options.signal.aborted) end();
    exchange.signal.addEventListener("abort", end);
    options.signal.addEventListener("abort", end, { once: true });
    const done = stop.signal;
    try {
      await stream(exchange, topic, offset, group, done);
    } finally {
      exchange.signal.removeEventListener("abort", end);
      options.signal.removeEventListener("abort", end);
    }
  }

  /** Writes the topic's records from `offset` on as server-sent events until `done`. */
  async function stream(exchange: HttpExchange, topic: string, from: number, group: string | undefined, done: AbortSignal): Promise<void> {
    let offset = from;
    exchange.respond(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" });
    await exchange.write(": subscribed\n\n");
    let lastWrite = Date.now();
    try {
      while (!done.aborted) {
        const version = broker.version(topic);
        const records = await broker.read(topic, offset, PAGE);
        const registry = models.current()?.registry;
        for (const record of records) {
          const data = JSON.stringify(structuredCloudEvent(record, registry));
          await exchange.write(`id: ${record.offset}\ndata: ${data}\n\n`);
          if (done.aborted) break;
          offset = record.offset;
          lastWrite = Date.now();
        }
        if (group !== undefined && records.length > 0) await broker.saveGroupOffset(topic, group, offset);
        if (records.length < PAGE) {
          await broker.waitForPublish(topic, version, done, Math.max(1, Math.min(1000, keepAliveMs - (Date.now() - lastWrite))));
          if (!done.aborted && Date.now() - lastWrite >= keepAliveMs) {
            await exchange.write(": keep-alive\n\n");
            lastWrite = Date.now();
          }
        }
      }
    } catch (error) {
      logger.warn("topic event stream ended by an error", { topic, error: (error as Error).message });
      await exchange.write(`event: error\ndata: ${JSON.stringify({ message: (error as Error).message })}\n\n`).catch(() => undefined);
    }
    exchange.end();
  }

  return (exchange) => {
    const url = new URL(exchange.url, "http://front");
    const encoded = url.pathname.slice(TOPICS_PATH.length);
    let topic: string;
    try {
      topic = decodeURIComponent(encoded);
    } catch {
      topic = "";
    }
    if (topic === "" || topic.includes("/")) {
      discardBody(exchange);
      sendHttpPlain(exchange, 404, `not a topic: ${url.pathname} (use /v1/topics/<topic>, with a non-empty name and no "/")`);
      return;
    }
    const run = exchange.method === "POST" ? publish(exchange, topic) : exchange.method === "GET" ? subscribe(exchange, topic, url.searchParams) : undefined;
    if (run === undefined) {
      discardBody(exchange);
      sendHttpPlain(exchange, 405, `${exchange.method} is not allowed on a topic: POST publishes, GET subscribes`, { allow: "GET, POST" });
      return;
    }
    run.catch((error: unknown) => {
      logger.error("topic request failed", { topic, error });
      sendHttpError(exchange, SwitchboardError.from(error));
    });
  };
}

/** A CloudEvent as received, before its data is decoded. */
interface ReceivedEvent {
  readonly type: string;
  readonly attributes: Record<string, string>;
  /** The data as proto3 JSON, or as the message's bytes. */
  readonly data: { readonly kind: "json"; readonly value: JsonValue } | { readonly kind: "binary"; readonly value: Uint8Array };
}

const REQUIRED = ["specversion", "id", "source", "type"] as const;

/** Checks the required attributes (and `specversion` 1.0) of an event. */
function checkRequired(attributes: Record<string, string>, where: (name: string) => string): SwitchboardError | undefined {
  for (const name of REQUIRED) {
    if (attributes[name] === undefined || attributes[name] === "")
      return new SwitchboardError(`missing CloudEvents attribute ${where(name)}`, Code.InvalidArgument);
  }
  if (attributes.specversion !== "1.0") {
    return new SwitchboardError(`unsupported CloudEvents ${where("specversion")} "${attributes.specversion}": only 1.0 is supported`, Code.InvalidArgument);
  }
  return undefined;
}

/** Binary mode: attributes in `ce-*` headers, the body is the data. */
function binaryEvent(exchange: HttpExchange, media: string, body: Uint8Array): Parsed<ReceivedEvent> {
  const attributes: Record<string, string> = {};
  for (const [header, value] of Object.entries(exchange.headers)) {
    if (!header.startsWith("ce-") || value === undefined) continue;
    attributes[header.slice(3)] = Array.isArray(value) ? value.join(",") : value;
  }
  const missing = checkRequired(attributes, (name) => `ce-${name} (header)`);
  if (missing !== undefined) return { error: missing };
  if (media === "application/json") {
    const parsed = parseJsonBody(body, "the event data");
    if (parsed.error) return { error: parsed.error };
    return { value: { type: attributes.type ?? "", attributes, data: { kind: "json", value: parsed.value } } };
  }
  if (media === "application/protobuf" || media === "application/x-protobuf") {
    return { value: { type: attributes.type ?? "", attributes, data: { kind: "binary", value: body } } };
  }
  return invalid(
    `content type must be application/json or application/protobuf (binary mode) or application/cloudevents+json (structured mode), got ${media === "" ? "none" : `"${media}"`}`,
  );
}

/** Structured mode: one JSON object holding attributes and `data` (or `data_base64`). */
function structuredEvent(body: Uint8Array): Parsed<ReceivedEvent> {
  const parsed = parseJsonBody(body, "the structured CloudEvent");
  if (parsed.error) return { error: parsed.error };
  const object = parsed.value;
  if (typeof object !== "object" || object === null || Array.isArray(object)) return invalid("a structured CloudEvent must be a JSON object");
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(object)) {
    if (name === "data" || name === "data_base64") continue;
    if (typeof value === "string") attributes[name] = value;
    else if (typeof value === "number" || typeof value === "boolean") attributes[name] = String(value);
    else if (value !== null) return invalid(`CloudEvents attribute "${name}" must be a string, number or boolean`);
  }
  const missing = checkRequired(attributes, (name) => `"${name}"`);
  if (missing !== undefined) return { error: missing };
  const type = attributes.type ?? "";
  if ("data_base64" in object) {
    const encoded = object.data_base64;
    if (typeof encoded !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return invalid(`"data_base64" must be a base64 string`);
    return { value: { type, attributes, data: { kind: "binary", value: Buffer.from(encoded, "base64") } } };
  }
  if (!("data" in object)) return invalid(`a structured CloudEvent needs "data" (the message as proto3 JSON) or "data_base64"`);
  return { value: { type, attributes, data: { kind: "json", value: object.data as JsonValue } } };
}

/** Decodes the data as the message named by `type`, which the user function's descriptors must declare. */
function decodeData(event: ReceivedEvent, registry: Registry): Parsed<TopicMessage> {
  const typeName = event.type.startsWith(TYPE_URL_PREFIX) ? event.type.slice(TYPE_URL_PREFIX.length) : event.type;
  const schema = registry.getMessage(typeName);
  if (schema === undefined) return invalid(`unknown type "${event.type}": the user function declares no message of that full name`);
  let bytes: Uint8Array;
  try {
    if (event.data.kind === "json") {
      bytes = toBinary(schema, fromJson(schema, event.data.value, { registry }));
    } else {
      fromBinary(schema, event.data.value);
      bytes = event.data.value;
    }
  } catch (error) {
    return invalid(`the event data does not decode as ${typeName}: ${(error as Error).message}`);
  }
  // The stored data is always the message's bytes, whatever encoding it came in.
  const { datacontenttype: _, ...rest } = event.attributes;
  const attributes: Record<string, string> = { ...rest, type: cloudEventType(`${TYPE_URL_PREFIX}${typeName}`) };
  return { value: { payload: { typeUrl: `${TYPE_URL_PREFIX}${typeName}`, value: bytes }, attributes } };
}

/** Where a subscription starts: after `from` (or `Last-Event-ID`), or at a group's stored offset. */
function startOf(query: URLSearchParams, lastEventId: string | string[] | undefined): Parsed<{ from: number; group: string | undefined }> {
  const from = query.get("from");
  const group = query.get("group");
  if (from !== null && group !== null) return invalid("give either ?from=<offset> or ?group=<name>, not both");
  if (group !== null) {
    if (group === "") return invalid("?group needs a non-empty name");
    return { value: { from: 0, group } };
  }
  const resume = typeof lastEventId === "string" ? lastEventId : undefined;
  const raw = resume ?? from;
  if (raw === null) return invalid("give ?from=<offset> (0 reads from the start) or ?group=<name>");
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    return invalid(`${resume !== undefined ? "Last-Event-ID" : "?from"} must be a non-negative whole number (an offset), got "${raw}"`);
  }
  return { value: { from: Number(raw), group: undefined } };
}
