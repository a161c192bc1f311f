import type { IncomingHttpHeaders } from "node:http";
import { validateHeaderName, validateHeaderValue } from "node:http";
import type { MetadataEntry } from "@switchboard/protocol";
import type { Reply } from "../../router/types.js";

/** Request headers that never become metadata (docs/protocol.md#metadata), besides pseudo-headers and `grpc-*`. */
const SKIPPED_REQUEST_HEADERS = new Set(["te", "connection", "content-length", "content-type"]);

/**
 * Converts the request headers of an HTTP/JSON or gRPC-Web call to Cloudstate
 * metadata (docs/protocol.md#metadata): every header except pseudo-headers, `te`,
 * `connection`, `content-length`, `content-type` and `grpc-*`. `-bin` headers are
 * base64 and go as bytes; repeated headers give one entry per value.
 */
export function requestMetadata(headers: IncomingHttpHeaders): MetadataEntry[] {
  const entries: MetadataEntry[] = [];
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* ":" */ || key.startsWith("grpc-") || SKIPPED_REQUEST_HEADERS.has(key)) continue;
    const raw = headers[key];
    if (raw === undefined) continue;
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      // Plain message objects, as `create(MetadataEntrySchema, …)` makes them (without its reflection).
      entries.push(
        key.endsWith("-bin")
          ? { $typeName: "cloudstate.MetadataEntry", key, value: { case: "bytesValue", value: Buffer.from(value, "base64") } }
          : { $typeName: "cloudstate.MetadataEntry", key, value: { case: "stringValue", value } },
      );
    }
  }
  return entries;
}

/** Response headers a reply's metadata may not set: they belong to the HTTP framing or to us. */
const RESERVED_RESPONSE_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-connection",
  "access-control-allow-origin",
  "access-control-expose-headers",
  "vary",
]);

/**
 * The response headers a reply's metadata asks for: its string entries
 * (docs/protocol.md#metadata). Entries whose name or value HTTP cannot carry, pseudo-headers, `grpc-*`
 * and framing headers are dropped, so user data never breaks the response.
 */
export function replyHeaders(reply: Reply | undefined): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const entry of reply?.metadata ?? []) {
    if (entry.value.case !== "stringValue") continue;
    const key = entry.key.toLowerCase();
    if (key.startsWith(":") || key.startsWith("grpc-") || RESERVED_RESPONSE_HEADERS.has(key)) continue;
    const value = entry.value.value;
    try {
      validateHeaderName(key);
      validateHeaderValue(key, value);
    } catch {
      continue;
    }
    const earlier = headers[key];
    headers[key] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  }
  return headers;
}
