import type { IncomingHttpHeaders } from "node:http";
import type { Cors } from "./cors.js";
import { mediaType } from "./json-codec.js";

/** Methods a browser may send cross-site that change nothing by HTTP's rules. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** Content types a browser sends cross-site without a preflight (forms, `text/plain` fetches). */
const SIMPLE_CONTENT_TYPES = new Set(["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]);

/** Why a request was refused as cross-site request forgery. */
export interface CsrfRefusal {
  readonly status: 403 | 415;
  readonly message: string;
}

/**
 * Refuses the state-changing HTTP/JSON requests that a browser can send cross-site
 * without a CORS preflight, so a page on another site cannot act with a visitor's
 * network position: any non-GET request whose `Origin` is neither the proxy's own
 * (same host) nor allowed by `--cors-origin` gets 403, and one with a form or
 * `text/plain` content type gets 415 (JSON is what these routes take, and a browser
 * preflights JSON). `bodyChecked` says the route checks the content type itself when
 * it reads the body (JSON routes refuse anything else with 400; raw `google.api.HttpBody`
 * routes take any type, the origin check alone decides): the check here is then
 * skipped. Requests without `Origin` (non-browser clients) pass the origin check.
 */
export function csrfRefusal(method: string, headers: IncomingHttpHeaders, cors: Cors, bodyChecked: boolean): CsrfRefusal | undefined {
  if (SAFE_METHODS.has(method)) return undefined;
  const origin = headers.origin;
  if (origin !== undefined && !sameOrigin(origin, headers) && !cors.allows(origin)) {
    return { status: 403, message: `cross-site ${method} from origin ${origin} refused (allow the origin with --cors-origin)` };
  }
  const media = mediaType(headers["content-type"]);
  if (!bodyChecked && SIMPLE_CONTENT_TYPES.has(media)) {
    return { status: 415, message: `content type ${media} is not accepted for ${method} requests: send application/json` };
  }
  return undefined;
}

/** Whether `origin` names the host the request was sent to. */
function sameOrigin(origin: string, headers: IncomingHttpHeaders): boolean {
  const host = headers[":authority"] ?? headers.host;
  if (typeof host !== "string" || origin === "null") return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
