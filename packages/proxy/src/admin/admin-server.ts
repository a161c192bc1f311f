import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { httpStatusFor, SwitchboardError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { PrometheusMetrics } from "../observability/prometheus-metrics.js";
import type { AdminApi } from "./admin-api.js";

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  /** When set, every request needs `Authorization: Bearer <token>` (or HTTP Basic with the token as password, for browsers). */
  readonly token: string | undefined;
  readonly api: AdminApi;
  readonly metrics: PrometheusMetrics;
  readonly logger: Logger;
}

/** The running admin port. */
export interface AdminServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The console's static files, shipped in the package's `console/` folder (no build step). */
const CONSOLE_FILES: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
  "/console.css": { file: "console.css", type: "text/css; charset=utf-8" },
};
const CONSOLE_DIR = new URL("../../console/", import.meta.url);

function loadConsole(): Map<string, { body: Buffer; type: string }> | string {
  const files = new Map<string, { body: Buffer; type: string }>();
  try {
    for (const [path, { file, type }] of Object.entries(CONSOLE_FILES)) files.set(path, { body: readFileSync(new URL(file, CONSOLE_DIR)), type });
  } catch (error) {
    return `the console's files are missing: ${(error as Error).message}`;
  }
  return files;
}

/** The largest admin request body (the API takes small JSON objects). */
const MAX_BODY_BYTES = 64 * 1024;

/** Reads a request body as UTF-8; undefined when it is larger than `limit` bytes. */
async function readBody(request: http.IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function authorized(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const space = header.indexOf(" ");
  const scheme = header.slice(0, space).toLowerCase();
  const credentials = header.slice(space + 1).trim();
  if (scheme === "bearer") return sameSecret(credentials, token);
  if (scheme === "basic") {
    const decoded = Buffer.from(credentials, "base64").toString("utf8");
    return sameSecret(decoded.slice(decoded.indexOf(":") + 1), token);
  }
  return false;
}

/**
 * Serves the admin port: `GET /metrics` (Prometheus text), the JSON admin API under
 * `/v1/`, and the web console at `/`. Binds `host:port` and resolves once listening.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { api, metrics, logger, token } = options;
  const consoleFiles = loadConsole();
  if (typeof consoleFiles === "string") logger.warn("the web console is unavailable", { reason: consoleFiles });

  const send = (response: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: http.OutgoingHttpHeaders = {}) => {
    response.writeHead(status, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff", ...extra });
    response.end(body);
  };
  const sendJson = (response: http.ServerResponse, status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}) =>
    send(response, status, "application/json", `${JSON.stringify(body)}\n`, extra);

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (token !== undefined && !authorized(request.headers.authorization, token)) {
      sendJson(response, 401, { error: "the admin port needs Authorization: Bearer <token>" }, { "www-authenticate": 'Basic realm="switchboard admin"' });
      return;
    }
    const url = new URL(request.url ?? "/", "http://admin");
    const method = request.method ?? "GET";
    if (url.pathname === "/metrics") {
      if (method !== "GET") return sendJson(response, 405, { error: `/metrics takes GET, not ${method}` });
      const { contentType, body } = await metrics.exposition();
      return send(response, 200, contentType, body);
    }
    let body = "";
    if (method === "POST" && url.pathname.startsWith("/v1/topics/")) {
      const read = await readBody(request, MAX_BODY_BYTES);
      if (read === undefined) return sendJson(response, 413, { error: `an admin request body is at most ${MAX_BODY_BYTES} bytes` });
      body = read;
    }
    const answer = await api.handle(method, url.pathname, url.searchParams, body);
    if (answer !== undefined) return sendJson(response, answer.status, answer.body);
    const file = typeof consoleFiles === "string" ? undefined : consoleFiles.get(url.pathname);
    if (file !== undefined && (method === "GET" || method === "HEAD")) return send(response, 200, file.type, file.body);
    if (url.pathname === "/" && typeof consoleFiles === "string") return sendJson(response, 500, { error: consoleFiles });
    if (url.pathname === "/favicon.ico") return send(response, 204, "image/x-icon", "");
    sendJson(response, 404, { error: `no admin route ${method} ${url.pathname}; try /, /metrics or /v1/services` });
  };

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status = error instanceof SwitchboardError ? httpStatusFor(error.code) : 500;
      logger.warn("admin request failed", { path: request.url, error: (error as Error).message });
      if (!response.headersSent) sendJson(response, status, { error: (error as Error).message });
      else response.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as { address: string; port: number };
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
