/** How the front port guards itself: timeouts, caps, TLS and reflection. */
export interface FrontPortConfig {
  /** A connection with no call in progress for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Time for an HTTP/1.1 request head to arrive. */
  readonly headerTimeoutMs: number;
  /** Time for a new connection to show its protocol (and finish a TLS handshake). */
  readonly sniffTimeoutMs: number;
  /** HTTP/2 PING interval. */
  readonly keepaliveIntervalMs: number;
  /** How long a PING may stay unanswered before the connection is closed. */
  readonly keepaliveTimeoutMs: number;
  readonly maxConnections: number;
  /** Concurrent streams per HTTP/2 connection. */
  readonly maxConcurrentStreams: number;
  /** Memory one HTTP/2 session may use, in MB. */
  readonly http2SessionMemoryMb: number;
  /** Largest request head (headers and URL), in bytes. */
  readonly maxHeaderSize: number;
  /** Request messages a streaming call holds unread before the client is paused. */
  readonly maxQueuedRequests: number;
  /** Serve gRPC server reflection. */
  readonly reflection: boolean;
  /** Which HTTP/2 stack serves HTTP/2 connections: the proxy's own, or Node's `node:http2`. */
  readonly http2: "builtin" | "node";
  /** Which HTTP/1.1 serves HTTP/1.1 connections: the proxy's own for common requests (the rest to Node's), or Node's for all. */
  readonly http1: "builtin" | "node";
  /** TLS on the front port: PEM file paths. */
  readonly tls: { readonly certPath: string; readonly keyPath: string; readonly clientCaPath: string | undefined } | undefined;
}

/** Defaults of the front port, fit for a public port. */
export const FRONT_PORT_DEFAULTS = Object.freeze({
  idleTimeoutMs: 120_000,
  headerTimeoutMs: 10_000,
  sniffTimeoutMs: 10_000,
  keepaliveIntervalMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  maxConnections: 800,
  maxConcurrentStreams: 1000,
  http2SessionMemoryMb: 16,
  maxHeaderSize: 16 * 1024,
  maxQueuedRequests: 32,
});

/** The flags of {@link parseFrontPort}, for `parseArgs`. */
export const FRONT_PORT_OPTIONS = {
  "idle-timeout": { type: "string" },
  "header-timeout": { type: "string" },
  "sniff-timeout": { type: "string" },
  "keepalive-interval": { type: "string" },
  "keepalive-timeout": { type: "string" },
  "max-connections": { type: "string" },
  "max-concurrent-streams": { type: "string" },
  "http2-session-memory": { type: "string" },
  "max-header-size": { type: "string" },
  "max-queued-requests": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-client-ca": { type: "string" },
  "no-reflection": { type: "boolean" },
  "front-http2": { type: "string" },
  "front-http1": { type: "string" },
} as const;

/** Help lines of the front-port flags. */
export const FRONT_PORT_HELP = `  --idle-timeout <ms>           close connections idle this long   env IDLE_TIMEOUT        (120000)
  --header-timeout <ms>         time for an HTTP/1.1 request head  env HEADER_TIMEOUT      (10000)
  --sniff-timeout <ms>          time for a connection to start     env SNIFF_TIMEOUT       (10000)
  --keepalive-interval <ms>     HTTP/2 PING interval               env KEEPALIVE_INTERVAL  (30000)
  --keepalive-timeout <ms>      unanswered PING closes the conn.   env KEEPALIVE_TIMEOUT   (10000)
  --max-connections <n>         open connections on the front port env MAX_CONNECTIONS     (800)
  --max-concurrent-streams <n>  streams per HTTP/2 connection      env MAX_CONCURRENT_STREAMS (1000)
  --http2-session-memory <MB>   memory per HTTP/2 connection       env HTTP2_SESSION_MEMORY (16)
  --max-header-size <bytes>     largest request head (431 above)   env MAX_HEADER_SIZE     (16384)
  --max-queued-requests <n>     unread messages per streaming call env MAX_QUEUED_REQUESTS (32)
  --tls-cert <file>             serve TLS with this PEM certificate env TLS_CERT
  --tls-key <file>              ... and this PEM private key       env TLS_KEY
  --tls-client-ca <file>        require client certificates (mTLS) env TLS_CLIENT_CA
  --no-reflection               turn gRPC server reflection off    env NO_REFLECTION=true
  --front-http2 <stack>         HTTP/2 on the front port: builtin (the proxy's own,
                                cheaper per call) | node (node:http2)
                                env FRONT_HTTP2  (builtin)
  --front-http1 <stack>         HTTP/1.1 on the front port: builtin (the proxy's own
                                for common requests, the rest to Node's) | node
                                (Node's http server for all)
                                env FRONT_HTTP1  (builtin)
`;

type Values = { readonly [K in keyof typeof FRONT_PORT_OPTIONS]?: (typeof FRONT_PORT_OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

/** Parses the front-port flags (flag > environment > default); a string is the reason they are wrong. */
export function parseFrontPort(values: Values, pick: (flag: string | undefined, envName: string) => string | undefined): FrontPortConfig | string {
  const numbers: [keyof Values, string, keyof typeof FRONT_PORT_DEFAULTS, string][] = [
    ["idle-timeout", "IDLE_TIMEOUT", "idleTimeoutMs", "milliseconds"],
    ["header-timeout", "HEADER_TIMEOUT", "headerTimeoutMs", "milliseconds"],
    ["sniff-timeout", "SNIFF_TIMEOUT", "sniffTimeoutMs", "milliseconds"],
    ["keepalive-interval", "KEEPALIVE_INTERVAL", "keepaliveIntervalMs", "milliseconds"],
    ["keepalive-timeout", "KEEPALIVE_TIMEOUT", "keepaliveTimeoutMs", "milliseconds"],
    ["max-connections", "MAX_CONNECTIONS", "maxConnections", "connections"],
    ["max-concurrent-streams", "MAX_CONCURRENT_STREAMS", "maxConcurrentStreams", "streams"],
    ["http2-session-memory", "HTTP2_SESSION_MEMORY", "http2SessionMemoryMb", "MB"],
    ["max-header-size", "MAX_HEADER_SIZE", "maxHeaderSize", "bytes"],
    ["max-queued-requests", "MAX_QUEUED_REQUESTS", "maxQueuedRequests", "messages"],
  ];
  const parsed: Record<string, number> = {};
  for (const [flag, env, key, unit] of numbers) {
    const raw = pick(values[flag] as string | undefined, env);
    if (raw === undefined) {
      parsed[key] = FRONT_PORT_DEFAULTS[key];
      continue;
    }
    if (!/^\d+$/.test(raw) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
      return `--${flag} must be a positive whole number of ${unit}, got "${raw}"`;
    }
    parsed[key] = Number(raw);
  }
  const certPath = pick(values["tls-cert"], "TLS_CERT");
  const keyPath = pick(values["tls-key"], "TLS_KEY");
  const clientCaPath = pick(values["tls-client-ca"], "TLS_CLIENT_CA");
  if ((certPath === undefined) !== (keyPath === undefined)) return "--tls-cert and --tls-key go together: give both or neither";
  if (clientCaPath !== undefined && certPath === undefined) return "--tls-client-ca needs --tls-cert and --tls-key";
  const noReflection = values["no-reflection"] === true || /^(true|1|yes)$/i.test(pick(undefined, "NO_REFLECTION") ?? "");
  const stack = (flag: "front-http2" | "front-http1", env: string): "builtin" | "node" | string => {
    const value = pick(values[flag], env) ?? "builtin";
    return value === "builtin" || value === "node" ? value : `${values[flag] !== undefined ? `--${flag}` : env} must be builtin or node, got "${value}"`;
  };
  const http2 = stack("front-http2", "FRONT_HTTP2");
  if (http2 !== "builtin" && http2 !== "node") return http2;
  const http1 = stack("front-http1", "FRONT_HTTP1");
  if (http1 !== "builtin" && http1 !== "node") return http1;
  return {
    ...(parsed as Omit<FrontPortConfig, "reflection" | "tls" | "http2" | "http1">),
    reflection: !noReflection,
    http2,
    http1,
    tls: certPath !== undefined && keyPath !== undefined ? { certPath, keyPath, clientCaPath } : undefined,
  };
}
