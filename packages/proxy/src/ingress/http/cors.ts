import type { IncomingHttpHeaders } from "node:http";

/** Headers a browser may read from every response: gRPC-Web's status lives in them. */
const ALWAYS_EXPOSED = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
const ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";

/** Cross-origin resource sharing as configured with `--cors-origin` (off when no origin is). */
export interface Cors {
  /** Whether any origin is allowed. */
  readonly enabled: boolean;
  /** Whether `--cors-origin` allows this origin. */
  allows(origin: string): boolean;
  /**
   * The answer to a preflight (`OPTIONS` with `Origin` and
   * `Access-Control-Request-Method`) from an allowed origin, or undefined when the
   * request is not one, so it is routed like any other.
   */
  preflight(method: string, headers: IncomingHttpHeaders): Record<string, string> | undefined;
  /**
   * CORS headers for an actual response to a request from an allowed origin (empty
   * otherwise). `exposed` names the response's own extra headers, so scripts can read
   * the reply metadata too.
   */
  responseHeaders(headers: IncomingHttpHeaders, exposed?: Iterable<string>): Record<string, string>;
}

/**
 * Creates the CORS policy for a list of origins (`*` allows any). Allowed origins are
 * echoed, with `Vary: Origin`; preflights allow the usual verbs plus the requested
 * one, and every requested header (gRPC-Web sends `x-grpc-web`, `x-user-agent` and
 * `grpc-timeout`). Responses expose `grpc-status` and `grpc-message` (docs/http.md#cors).
 */
export function createCors(origins: readonly string[]): Cors {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const allows = (origin: string | undefined): origin is string => origin !== undefined && (any || allowed.has(origin));
  return {
    enabled: origins.length > 0,
    allows: (origin) => allows(origin),
    preflight(method, headers) {
      if (method !== "OPTIONS" || origins.length === 0) return undefined;
      const origin = headers.origin;
      const requested = headers["access-control-request-method"];
      if (!allows(origin) || typeof requested !== "string") return undefined;
      const answer: Record<string, string> = {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": ALLOWED_METHODS.includes(requested) ? ALLOWED_METHODS : `${ALLOWED_METHODS}, ${requested}`,
        "access-control-max-age": "86400",
        vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
      };
      const requestedHeaders = headers["access-control-request-headers"];
      if (typeof requestedHeaders === "string" && requestedHeaders !== "") answer["access-control-allow-headers"] = requestedHeaders;
      return answer;
    },
    responseHeaders(headers, exposed = []) {
      if (origins.length === 0) return {};
      const origin = headers.origin;
      if (!allows(origin)) return {};
      return {
        "access-control-allow-origin": origin,
        "access-control-expose-headers": [...ALWAYS_EXPOSED, ...exposed].join(", "),
        vary: "Origin",
      };
    },
  };
}
