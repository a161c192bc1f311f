/**
 * A client of the proxy's topics surface over plain HTTP/1.1: publish one CloudEvent,
 * and read server-sent events from a topic until enough have arrived.
 */
import * as http from "node:http";

/** An HTTP answer. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One server-sent event: its `id:` and its `data:` parsed as JSON. */
export interface TopicEvent {
  readonly id: number;
  readonly data: Record<string, unknown>;
}

/** Sends one request and collects the answer. */
export function request(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Uint8Array): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Publishes in binary mode with JSON data: `ce-*` headers and the message as proto3 JSON. */
export function publishJson(port: number, topic: string, type: string, data: unknown, id: string, extra: Record<string, string> = {}): Promise<HttpAnswer> {
  return request(
    port,
    "POST",
    `/v1/topics/${encodeURIComponent(topic)}`,
    { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": id, "ce-source": "test", "ce-type": type, ...extra },
    JSON.stringify(data),
  );
}

/**
 * Reads events from `GET /v1/topics/<topic>?<query>` until `count` have arrived (or, given
 * a predicate, until it holds for the events so far), then disconnects; fails after
 * `timeoutMs` saying how many came.
 */
export function readEvents(
  port: number,
  topic: string,
  query: string,
  count: number | ((events: readonly TopicEvent[]) => boolean),
  timeoutMs = 10_000,
): Promise<TopicEvent[]> {
  const enough = typeof count === "number" ? (events: readonly TopicEvent[]) => events.length >= count : count;
  return new Promise((resolve, reject) => {
    const events: TopicEvent[] = [];
    let buffer = "";
    const req = http.get(
      { host: "127.0.0.1", port, path: `/v1/topics/${encodeURIComponent(topic)}?${query}`, headers: { accept: "text/event-stream" } },
      (res) => {
        if (res.statusCode !== 200 || !String(res.headers["content-type"]).startsWith("text/event-stream")) {
          clearTimeout(timer);
          reject(new Error(`GET ${topic}?${query} answered ${res.statusCode} ${String(res.headers["content-type"])}`));
          req.destroy();
          return;
        }
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = /^id: (\d+)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (id !== undefined && data !== undefined) events.push({ id: Number(id), data: JSON.parse(data) as Record<string, unknown> });
          }
          if (enough(events)) {
            clearTimeout(timer);
            req.destroy();
            resolve(events);
          }
        });
      },
    );
    req.on("error", (error) => {
      if (!enough(events)) {
        clearTimeout(timer);
        reject(error);
      }
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${events.length} events (not enough) from ${topic}?${query} within ${timeoutMs} ms: ${JSON.stringify(events)}`));
    }, timeoutMs);
  });
}
