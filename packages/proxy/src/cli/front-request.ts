import * as http from "node:http";
import type { FrontAddress } from "./parse-address.js";

/** An HTTP answer of the front port, or why there was none. */
export type FrontAnswer =
  | { readonly kind: "answer"; readonly status: number; readonly text: string }
  | { readonly kind: "unreachable"; readonly reason: string };

/** One HTTP/1.1 request to a proxy's front port, for the CLI commands. */
export function frontRequest(address: FrontAddress, method: "GET" | "POST", path: string, body?: string): Promise<FrontAnswer> {
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const request = http.request({ host: address.host, port: address.port, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("end", () => resolve({ kind: "answer", status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", (error) => resolve({ kind: "unreachable", reason: error.message }));
    });
    request.on("error", (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === "ECONNREFUSED"
          ? `connection refused at ${address.host}:${address.port} — is the proxy running?`
          : error.code === "ENOTFOUND"
            ? `unknown host "${address.host}"`
            : error.message;
      resolve({ kind: "unreachable", reason });
    });
    request.end(body);
  });
}
