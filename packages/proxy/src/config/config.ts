import { parseArgs } from "node:util";
import type { LogLevel } from "../observability/logger.js";
import { CLUSTER_HELP, CLUSTER_OPTIONS, type ClusterConfig, type MachineInfo, parseCluster } from "./cluster.js";
import { EVENTING_HELP, EVENTING_OPTIONS, type EventingConfig, parseEventing } from "./eventing.js";
import { FRONT_PORT_HELP, FRONT_PORT_OPTIONS, type FrontPortConfig, parseFrontPort } from "./front-port.js";
import { parseUserFunctionTls, USER_FUNCTION_TLS_HELP, USER_FUNCTION_TLS_OPTIONS, type UserFunctionTlsConfig } from "./user-function-tls.js";

/** Where state lives, as a `kind` union. */
export type StoreConfig =
  | { readonly kind: "memory" }
  | {
      readonly kind: "sqlite";
      readonly path: string;
      /** Where write batches commit: `inline` (main thread) or `worker` (a writer thread); absent: the store's default. */
      readonly commit?: "inline" | "worker";
    }
  | { readonly kind: "postgres"; readonly url: string };

/**
 * The proxy's whole configuration, parsed once from flags and environment and frozen.
 * Defaults follow the Cloudstate reference proxy (see the table in the README).
 */
export interface ProxyConfig {
  readonly userFunctionHost: string;
  readonly userFunctionPort: number;
  /** Unix domain socket of the user function: when set, the proxy connects there instead of host:port. */
  readonly userFunctionSocket: string | undefined;
  /** Which HTTP/2 stack carries calls to the user function: the proxy's own framing, or Node's `node:http2`. */
  readonly userFunctionHttp2: "builtin" | "node";
  /** TLS to the user function (undefined: plaintext HTTP/2). */
  readonly userFunctionTls: UserFunctionTlsConfig | undefined;
  readonly httpPort: number;
  /** Address the front port binds to. */
  readonly bind: string;
  readonly store: StoreConfig;
  /** Idle time before an entity is passivated, unless its spec sets its own. */
  readonly passivationTimeoutMs: number;
  /** How long the proxy waits for a user function to answer one command. */
  readonly relayTimeoutMs: number;
  /** Largest message accepted from clients and from the user function, in bytes. */
  readonly maxMessageSize: number;
  /** Most active entities at once; over it the least recently used idle ones are passivated (undefined: no cap). */
  readonly maxActiveEntities?: number;
  /** Run one full GC when quiet after a wave of passivations, to give the heap back (docs/design.md, "Memory per entity"). */
  readonly heapRelease: boolean;
  /** Reject user functions whose protocol major version differs (warn on other 0.x). */
  readonly protocolCheck: boolean;
  /** Origins allowed by CORS (empty: CORS off). */
  readonly corsOrigins: readonly string[];
  readonly logLevel: LogLevel;
  readonly logFormat: "text" | "json";
  /** The admin port (metrics, admin API, console); 0 turns it off. */
  readonly adminPort: number;
  /** Address the admin port binds to. */
  readonly adminBind: string;
  /** Bearer token every admin request must carry (undefined: none needed, loopback only). */
  readonly adminToken: string | undefined;
  /** Timeouts, caps, TLS and reflection of the front port. */
  readonly frontPort: FrontPortConfig;
  /** Cluster mode (undefined: a single node). */
  readonly cluster?: ClusterConfig;
  /** Retries and dead-lettering of topic consumers. */
  readonly eventing: EventingConfig;
}

/** Cloudstate defaults, in one place. */
export const DEFAULTS = Object.freeze({
  userFunctionHost: "127.0.0.1",
  userFunctionPort: 8080,
  httpPort: 9000,
  bind: "0.0.0.0",
  store: "sqlite:.switchboard/switchboard.db",
  passivationTimeoutMs: 30_000,
  relayTimeoutMs: 60_000,
  maxMessageSize: 12 * 1024 * 1024,
  adminPort: 9001,
  adminBind: "127.0.0.1",
});

/** Result of parsing: a config, or a message that says what was wrong. */
export type ParseConfigResult = { config: ProxyConfig; error?: undefined } | { config?: undefined; error: string };

export const START_OPTIONS = {
  "user-function-host": { type: "string" },
  "user-function-port": { type: "string" },
  "user-function-socket": { type: "string" },
  "user-function-http2": { type: "string" },
  "http-port": { type: "string" },
  bind: { type: "string" },
  store: { type: "string" },
  "sqlite-commit": { type: "string" },
  "passivation-timeout": { type: "string" },
  "relay-timeout": { type: "string" },
  "max-message-size": { type: "string" },
  "max-active-entities": { type: "string" },
  "heap-release": { type: "string" },
  "no-protocol-check": { type: "boolean" },
  "cors-origin": { type: "string", multiple: true },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  "admin-port": { type: "string" },
  "admin-bind": { type: "string" },
  "admin-token": { type: "string" },
  ...FRONT_PORT_OPTIONS,
  ...CLUSTER_OPTIONS,
  ...USER_FUNCTION_TLS_OPTIONS,
  ...EVENTING_OPTIONS,
} as const;

/** The help text of `switchboard start`. */
export const START_HELP = `Usage: switchboard start [options]

Starts the proxy: discovers the user function's entities, then serves their
services over gRPC, HTTP/JSON and gRPC-Web on one port.

Options (flag > environment > default):
  --user-function-host <host>   user function host       env USER_FUNCTION_HOST  (127.0.0.1)
  --user-function-port <port>   user function port       env USER_FUNCTION_PORT  (8080)
  --user-function-socket <path> reach the user function over this Unix socket instead of
                                host:port   env USER_FUNCTION_SOCKET
  --user-function-http2 <stack> HTTP/2 to the user function: builtin (the proxy's own,
                                cheaper per call) | node (node:http2)
                                env USER_FUNCTION_HTTP2  (builtin)
${USER_FUNCTION_TLS_HELP}  --http-port <port>            front port               env HTTP_PORT           (9000)
  --bind <address>              front port address       env BIND                (0.0.0.0)
  --store <store>               memory | sqlite:<path> | postgres://...
                                env DATABASE_URL (only without --store)  (sqlite:.switchboard/switchboard.db)
  --sqlite-commit <mode>        where SQLite commits write batches: inline | worker
                                env SQLITE_COMMIT  (inline)
  --passivation-timeout <ms>    idle time before an entity is passivated
                                env PASSIVATION_TIMEOUT  (30000)
  --relay-timeout <ms>          how long to wait for the user function's answer
                                env RELAY_TIMEOUT  (60000)
  --max-message-size <bytes>    largest accepted message  env MAX_MESSAGE_SIZE  (12582912)
  --max-active-entities <n>     cap on active entities (LRU passivation)  env MAX_ACTIVE_ENTITIES  (no cap)
  --heap-release <on|off>       one full GC when quiet after 10,000 passivations, giving
                                the heap back   env HEAP_RELEASE  (on)
  --no-protocol-check           accept any protocol version from the user function
                                env NO_PROTOCOL_CHECK=true
  --cors-origin <origin>        allow CORS from this origin (repeatable; * for any)
                                env CORS_ORIGIN (comma-separated)
  --log-level <level>           debug | info | warn | error   env LOG_LEVEL       (info)
  --log-format <format>         text | json                   env LOG_FORMAT      (text)
  --admin-port <port>           metrics, admin API, console   env ADMIN_PORT      (9001; 0: off)
  --admin-bind <address>        admin port address            env ADMIN_BIND      (127.0.0.1)
  --admin-token <token>         bearer token for admin calls  env ADMIN_TOKEN
                                (required when --admin-bind is not a loopback address)
${FRONT_PORT_HELP}${CLUSTER_HELP}${EVENTING_HELP}  -h, --help                    show this help
`;

function parsePort(name: string, raw: string): number | string {
  if (!/^\d+$/.test(raw)) return `${name} must be a port number (0-65535), got "${raw}"`;
  const port = Number(raw);
  if (port > 65535) return `${name} must be a port number (0-65535), got "${raw}"`;
  return port;
}

function parsePositive(name: string, raw: string, unit: string): number | string {
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) return `${name} must be a positive whole number of ${unit}, got "${raw}"`;
  return Number(raw);
}

/**
 * The longest Unix socket path the kernel takes, in bytes: `sun_path` holds 108 bytes on
 * Linux (104 on macOS and the BSDs) including the terminating NUL. A longer path is not
 * an error at connect time everywhere: some layers cut it short and connect elsewhere.
 */
export const MAX_SOCKET_PATH_BYTES = process.platform === "linux" ? 107 : 103;

/** Checks a `--user-function-socket` path: undefined when none is given. */
function parseSocketPath(name: string, raw: string | undefined): string | undefined | { error: string } {
  if (raw === undefined) return undefined;
  if (raw === "") return { error: `${name} needs the path of the user function's socket` };
  if (raw.includes("\0")) return { error: `${name} must be a file path, got one with a NUL byte` };
  const bytes = Buffer.byteLength(raw);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    return {
      error: `${name} is ${bytes} bytes long; a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} bytes on ${process.platform}: use a shorter path (e.g. under /tmp or /run)`,
    };
  }
  return raw;
}

/** A comma-separated environment list (`a, b`), empty when unset. */
function splitList(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** An environment switch that turns a check off: `true`/`1` turn it off; unset, empty, `false`/`0` keep it on. */
function parseSwitchOff(name: string, raw: string | undefined): boolean | string {
  if (raw === undefined || raw === "" || raw === "false" || raw === "0") return true;
  if (raw === "true" || raw === "1") return false;
  return `${name} must be true or false, got "${raw}"`;
}

/** Parses a `--store` value (or DATABASE_URL). */
export function parseStore(raw: string): StoreConfig | string {
  if (raw === "memory") return { kind: "memory" };
  if (raw.startsWith("sqlite:")) {
    const path = raw.slice("sqlite:".length);
    if (path === "") return `--store sqlite:<path> needs a file path, e.g. sqlite:.switchboard/switchboard.db`;
    // SQLite's in-memory database (":memory:", or a "file::memory:" URI) keeps nothing on disk: refuse it rather than run silently not durable.
    if (path === ":memory:" || /^file:.*(:memory:|mode=memory)/.test(path)) {
      return `--store sqlite::memory: is not durable and is refused; use --store memory for a store that keeps nothing`;
    }
    return { kind: "sqlite", path };
  }
  if (raw.startsWith("postgres://") || raw.startsWith("postgresql://")) return { kind: "postgres", url: raw };
  return `--store must be "memory", "sqlite:<path>" or "postgres://...", got "${raw}"`;
}

/**
 * Parses the flags of `switchboard start` and the environment into a frozen config.
 * Returns `{error}` with a one-line reason instead of throwing.
 */
export function parseConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  machine: MachineInfo = ANONYMOUS_MACHINE,
): ParseConfigResult {
  let values: ReturnType<typeof parseArgs<{ options: typeof START_OPTIONS; strict: true; allowPositionals: false; args: string[] }>>["values"];
  try {
    values = parseArgs({ args: [...argv], options: START_OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    return { error: (error as Error).message };
  }
  const pick = (flag: string | undefined, envName: string): string | undefined => {
    if (flag !== undefined) return flag;
    const fromEnv = env[envName];
    return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
  };
  /** Names a value in errors by where it came from: the flag, else its environment variable. */
  const source = (flag: string | undefined, flagName: string, envName: string): string =>
    flag === undefined && pick(undefined, envName) !== undefined ? envName : flagName;

  const ufPort = parsePort("--user-function-port", pick(values["user-function-port"], "USER_FUNCTION_PORT") ?? String(DEFAULTS.userFunctionPort));
  if (typeof ufPort === "string") return { error: ufPort };
  const httpPort = parsePort("--http-port", pick(values["http-port"], "HTTP_PORT") ?? String(DEFAULTS.httpPort));
  if (typeof httpPort === "string") return { error: httpPort };

  const bind = pick(values.bind, "BIND") ?? DEFAULTS.bind;
  if (bind === "localhost") return { error: `--bind takes an address, not "localhost" (which may resolve to ::1 only): use 127.0.0.1` };

  const store = parseStore(values.store ?? pick(undefined, "DATABASE_URL") ?? DEFAULTS.store);
  if (typeof store === "string") return { error: values.store === undefined ? `DATABASE_URL: ${store}` : store };
  const sqliteCommit = pick(values["sqlite-commit"], "SQLITE_COMMIT");
  if (sqliteCommit !== undefined) {
    const name = source(values["sqlite-commit"], "--sqlite-commit", "SQLITE_COMMIT");
    if (sqliteCommit !== "inline" && sqliteCommit !== "worker") return { error: `${name} must be inline or worker, got "${sqliteCommit}"` };
    if (store.kind !== "sqlite") return { error: `${name} applies to a sqlite store only, got a ${store.kind} store` };
  }

  const passivation = parsePositive(
    source(values["passivation-timeout"], "--passivation-timeout", "PASSIVATION_TIMEOUT"),
    pick(values["passivation-timeout"], "PASSIVATION_TIMEOUT") ?? String(DEFAULTS.passivationTimeoutMs),
    "milliseconds",
  );
  if (typeof passivation === "string") return { error: passivation };
  const relay = parsePositive(
    source(values["relay-timeout"], "--relay-timeout", "RELAY_TIMEOUT"),
    pick(values["relay-timeout"], "RELAY_TIMEOUT") ?? String(DEFAULTS.relayTimeoutMs),
    "milliseconds",
  );
  if (typeof relay === "string") return { error: relay };
  const maxMessage = parsePositive(
    source(values["max-message-size"], "--max-message-size", "MAX_MESSAGE_SIZE"),
    pick(values["max-message-size"], "MAX_MESSAGE_SIZE") ?? String(DEFAULTS.maxMessageSize),
    "bytes",
  );
  if (typeof maxMessage === "string") return { error: maxMessage };
  const protocolCheck = values["no-protocol-check"] === true ? false : parseSwitchOff("NO_PROTOCOL_CHECK", env.NO_PROTOCOL_CHECK);
  if (typeof protocolCheck === "string") return { error: protocolCheck };
  const corsOrigins = values["cors-origin"] ?? splitList(pick(undefined, "CORS_ORIGIN"));
  const maxActiveRaw = pick(values["max-active-entities"], "MAX_ACTIVE_ENTITIES");
  const maxActive = maxActiveRaw === undefined ? undefined : parsePositive("--max-active-entities", maxActiveRaw, "entities");
  if (typeof maxActive === "string") return { error: values["max-active-entities"] === undefined ? `MAX_ACTIVE_ENTITIES: ${maxActive}` : maxActive };

  const heapReleaseRaw = pick(values["heap-release"], "HEAP_RELEASE") ?? "on";
  if (heapReleaseRaw !== "on" && heapReleaseRaw !== "off") {
    return { error: `${source(values["heap-release"], "--heap-release", "HEAP_RELEASE")} must be on or off, got "${heapReleaseRaw}"` };
  }

  const http2Raw = pick(values["user-function-http2"], "USER_FUNCTION_HTTP2") ?? "builtin";
  if (http2Raw !== "builtin" && http2Raw !== "node") {
    return { error: `${source(values["user-function-http2"], "--user-function-http2", "USER_FUNCTION_HTTP2")} must be builtin or node, got "${http2Raw}"` };
  }

  const logLevel = values["log-level"] ?? pick(undefined, "LOG_LEVEL") ?? "info";
  if (!["debug", "info", "warn", "error"].includes(logLevel)) return { error: `--log-level must be debug, info, warn or error, got "${logLevel}"` };
  const logFormat = values["log-format"] ?? pick(undefined, "LOG_FORMAT") ?? "text";
  if (logFormat !== "text" && logFormat !== "json") return { error: `--log-format must be text or json, got "${logFormat}"` };

  const admin = parseAdmin(values, pick);
  if (typeof admin === "string") return { error: admin };
  const frontPort = parseFrontPort(values, pick);
  if (typeof frontPort === "string") return { error: frontPort };
  const userFunctionTls = parseUserFunctionTls(values, pick);
  if (typeof userFunctionTls === "string") return { error: userFunctionTls };
  const userFunctionSocket = parseSocketPath(
    source(values["user-function-socket"], "--user-function-socket", "USER_FUNCTION_SOCKET"),
    pick(values["user-function-socket"], "USER_FUNCTION_SOCKET"),
  );
  if (typeof userFunctionSocket === "object") return { error: userFunctionSocket.error };
  if (userFunctionSocket !== undefined && userFunctionTls !== undefined) {
    return {
      error:
        "--user-function-socket and --user-function-tls exclude each other: a Unix socket never leaves this machine and its file permissions guard it; drop one of them",
    };
  }
  const cluster = parseCluster(values, pick, bind, machine);
  if (typeof cluster === "string") return { error: cluster };
  const eventing = parseEventing(values, pick);
  if (typeof eventing === "string") return { error: eventing };

  const config: ProxyConfig = {
    userFunctionHost: pick(values["user-function-host"], "USER_FUNCTION_HOST") ?? DEFAULTS.userFunctionHost,
    userFunctionPort: ufPort,
    userFunctionSocket,
    userFunctionHttp2: http2Raw,
    userFunctionTls,
    httpPort,
    bind,
    store: store.kind === "sqlite" && sqliteCommit !== undefined ? { ...store, commit: sqliteCommit as "inline" | "worker" } : store,
    passivationTimeoutMs: passivation,
    relayTimeoutMs: relay,
    maxMessageSize: maxMessage,
    ...(maxActive === undefined ? {} : { maxActiveEntities: maxActive }),
    heapRelease: heapReleaseRaw === "on",
    protocolCheck,
    corsOrigins: Object.freeze([...corsOrigins]),
    logLevel: logLevel as LogLevel,
    logFormat,
    ...admin,
    frontPort,
    ...(cluster === undefined ? {} : { cluster }),
    eventing,
  };
  return { config: Object.freeze(config) };
}

/**
 * The machine as seen by a caller that does not name it (checks of a command line):
 * the default node id is then always "node-0". The CLI passes the real host name and a random suffix.
 */
const ANONYMOUS_MACHINE: MachineInfo = { hostname: "node", randomSuffix: () => "0" };

/** Whether an address only accepts connections from this machine. */
export function isLoopbackAddress(address: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || address === "::1" || address === "::ffff:127.0.0.1";
}

function parseAdmin(
  values: { "admin-port"?: string; "admin-bind"?: string; "admin-token"?: string },
  pick: (flag: string | undefined, envName: string) => string | undefined,
): Pick<ProxyConfig, "adminPort" | "adminBind" | "adminToken"> | string {
  const adminPort = parsePort("--admin-port", pick(values["admin-port"], "ADMIN_PORT") ?? String(DEFAULTS.adminPort));
  if (typeof adminPort === "string") return adminPort;
  const adminBind = pick(values["admin-bind"], "ADMIN_BIND") ?? DEFAULTS.adminBind;
  if (adminBind === "localhost") return `--admin-bind takes an address, not "localhost" (which may resolve to ::1 only): use 127.0.0.1`;
  const adminToken = pick(values["admin-token"], "ADMIN_TOKEN");
  if (adminPort !== 0 && adminToken === undefined && !isLoopbackAddress(adminBind)) {
    return `refusing to serve the admin port on ${adminBind} without a token: set --admin-token (or ADMIN_TOKEN), bind it to 127.0.0.1, or turn it off with --admin-port 0`;
  }
  return { adminPort, adminBind, adminToken };
}
