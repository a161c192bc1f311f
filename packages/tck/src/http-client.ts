/**
 * The HTTP/1.1 JSON client of the proxy's front port (upstream testkit `TestHttpClient`),
 * on `node:http`: POST a JSON body and expect 200 `application/json`, or 500 with the
 * failure text; and the start-up probe that accepts any response to `GET /`.
 */
import * as http from "node:http";
import { TckAssertionError } from "./assertion-error.js";
import { DEFAULT_EXPECT_TIMEOUT_MS } from "./probe.js";

/** A response: status, content type and body text. */
export interface HttpResult {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** The HTTP client of one proxy. */
export interface HttpClient {
  /** Sends `POST /<path>` with a JSON body (or `GET` without one). */
  send(path: string, body?: string, timeoutMs?: number): Promise<HttpResult>;
  /** Sends any method, with an optional JSON body. */
  sendMethod(method: string, path: string, body?: string, timeoutMs?: number): Promise<HttpResult>;
  /** POSTs and expects 200 with `application/json`; returns the body. */
  request(path: string, body?: string, timeoutMs?: number): Promise<string>;
  /** POSTs and expects 500; returns the body (the failure's description). */
  requestToError(path: string, body?: string, timeoutMs?: number): Promise<string>;
  /** True when `GET /` gets any HTTP response. */
  probe(timeoutMs?: number): Promise<boolean>;
}

/** Creates the HTTP client of `host:port`. */
export function createHttpClient(host: string, port: number): HttpClient {
  const agent = new http.Agent({ keepAlive: false });
  const send = (path: string, body?: string, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<HttpResult> =>
    sendMethod(body === undefined ? "GET" : "POST", path, body, timeoutMs);
  const sendMethod = (method: string, path: string, body?: string, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<HttpResult> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(body.trim());
      const request = http.request(
        {
          host,
          port,
          agent,
          method,
          path: `/${path.replace(/^\//, "")}`,
          headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": String(payload.length) },
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 0, contentType: response.headers["content-type"], body: Buffer.concat(chunks).toString("utf8") }),
          );
          response.on("error", reject);
        },
      );
      request.on("timeout", () => request.destroy(new TckAssertionError(`timed out after ${timeoutMs} ms waiting for the HTTP response to ${path}`)));
      request.on("error", reject);
      request.end(payload);
    });
  const mediaType = (contentType: string | undefined) => contentType?.split(";")[0]?.trim().toLowerCase();
  return {
    send,
    sendMethod,
    async request(path, body, timeoutMs) {
      const result = await send(path, body, timeoutMs);
      if (result.status !== 200)
        throw new TckAssertionError(`POST /${path}: expected status 200, got ${result.status} with body ${JSON.stringify(result.body)}`);
      if (mediaType(result.contentType) !== "application/json")
        throw new TckAssertionError(`POST /${path}: expected content type application/json, got ${result.contentType ?? "none"}`);
      return result.body;
    },
    async requestToError(path, body, timeoutMs) {
      const result = await send(path, body, timeoutMs);
      if (result.status !== 500)
        throw new TckAssertionError(`POST /${path}: expected status 500, got ${result.status} with body ${JSON.stringify(result.body)}`);
      return result.body;
    },
    async probe(timeoutMs = 1000) {
      try {
        await send("", undefined, timeoutMs);
        return true;
      } catch {
        return false;
      }
    },
  };
}
