/**
 * Plain HTTP clients for the front port, over HTTP/1.1 (node:http, so any method,
 * header and body bytes can be sent) and over h2c (node:http2 with prior knowledge).
 */
import * as http from "node:http";
import * as http2 from "node:http2";

/** A complete response. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** The body as UTF-8 text. */
  readonly text: string;
}

/** A request to send. */
export interface HttpRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string | string[]>;
  /** A body: bytes, text, or several chunks written one by one (chunked on HTTP/1.1). */
  readonly body?: Buffer | string | readonly (Buffer | string)[];
  /** A JSON body (sets content-type application/json). */
  readonly json?: unknown;
}

function bodyOf(request: HttpRequest): { headers: Record<string, string | string[]>; chunks: (Buffer | string)[] } {
  const headers = { ...(request.headers ?? {}) };
  if (request.json !== undefined) {
    headers["content-type"] ??= "application/json";
    return { headers, chunks: [JSON.stringify(request.json)] };
  }
  if (request.body === undefined) return { headers, chunks: [] };
  return { headers, chunks: Array.isArray(request.body) ? [...request.body] : [request.body as Buffer | string] };
}

/** Sends one HTTP/1.1 request to 127.0.0.1:`port`. */
export function h1(port: number, request: HttpRequest): Promise<HttpResult> {
  const { headers, chunks } = bodyOf(request);
  if (chunks.length === 1 && headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) {
    headers["content-length"] = String(Buffer.byteLength(chunks[0] as Buffer | string));
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      { host: "127.0.0.1", port, method: request.method ?? (chunks.length > 0 ? "POST" : "GET"), path: request.path, headers, agent: false },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => {
          const body = Buffer.concat(parts);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    // A server may answer before the body is all sent (413): a write error once the
    // answer is arriving is expected then, as for any HTTP client.
    req.on("error", (error) => {
      if (!answered) reject(new Error(`${request.method ?? "GET"} ${request.path}: ${error.message}`, { cause: error }));
    });
    void (async () => {
      for (const chunk of chunks) {
        if (answered || req.destroyed) break;
        if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
      }
      if (!req.destroyed) req.end();
    })();
  });
}

/** Sends one request over a fresh h2c connection to 127.0.0.1:`port`. */
export function h2(port: number, request: HttpRequest): Promise<HttpResult> {
  const { headers, chunks } = bodyOf(request);
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({ ":method": request.method ?? (chunks.length > 0 ? "POST" : "GET"), ":path": request.path, ...headers });
    let responseHeaders: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
    stream.on("response", (h) => {
      responseHeaders = h;
    });
    const parts: Buffer[] = [];
    stream.on("data", (d: Buffer) => parts.push(d));
    stream.on("end", () => {
      const body = Buffer.concat(parts);
      session.close();
      const { ":status": status, ...rest } = responseHeaders;
      resolve({ status: Number(status), headers: rest as Record<string, string | string[] | undefined>, body, text: body.toString("utf8") });
    });
    stream.on("error", (error) => {
      session.close();
      reject(error);
    });
    for (const chunk of chunks) stream.write(chunk);
    stream.end();
  });
}

/** Parses an NDJSON body into values. */
export function ndjson(text: string): unknown[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as unknown);
}

/** Parses a server-sent-events body into the JSON of each event's data. */
export function sseEvents(text: string): unknown[] {
  return text
    .split("\n\n")
    .filter((event) => event.trim() !== "")
    .map((event) => {
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      return JSON.parse(data) as unknown;
    });
}
