import { readFileSync } from "node:fs";
import type { ProxyConfig } from "../config/index.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { Redaction } from "./client-message.js";
import type { ConnectionLimits } from "./connection-guard.js";
import type { FrontTls } from "./server.js";

/** What the configuration asks of the front door and the front server. */
export interface FrontPortSetup {
  readonly door: { readonly requestQueueLimit: number; readonly reflection: boolean; readonly redactions: readonly Redaction[] };
  readonly server: { readonly limits: ConnectionLimits; readonly tls?: FrontTls; readonly http2: "builtin" | "node"; readonly http1: "builtin" | "node" };
}

/**
 * Turns the configuration into the options of the front door and server: limits,
 * TLS material read from its files (a file that cannot be read stops the start with
 * its path and reason), and the deployment details that client error texts must not
 * show (the user function's address, the database's path or URL).
 */
export function frontPortSetup(config: ProxyConfig): FrontPortSetup {
  const front = config.frontPort;
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new SwitchboardError(`cannot read ${flag} ${path}: ${(error as Error).message}`, Code.FailedPrecondition, { cause: error });
    }
  };
  const tls: FrontTls | undefined =
    front.tls === undefined
      ? undefined
      : {
          cert: read("--tls-cert", front.tls.certPath),
          key: read("--tls-key", front.tls.keyPath),
          ...(front.tls.clientCaPath !== undefined ? { clientCa: read("--tls-client-ca", front.tls.clientCaPath) } : {}),
        };
  const userFunction = "[address hidden]";
  const store = config.store.kind === "sqlite" ? config.store.path : config.store.kind === "postgres" ? config.store.url : "";
  const redactions: Redaction[] = [
    { secret: `${config.userFunctionHost}:${config.userFunctionPort}`, replacement: userFunction },
    { secret: config.userFunctionSocket === undefined ? "" : `unix:${config.userFunctionSocket}`, replacement: userFunction },
    { secret: config.userFunctionSocket ?? "", replacement: userFunction },
    { secret: store, replacement: "[store location hidden]" },
    { secret: config.store.kind === "postgres" ? databaseHost(config.store.url) : "", replacement: "[store location hidden]" },
  ];
  return {
    door: { requestQueueLimit: front.maxQueuedRequests, reflection: front.reflection, redactions },
    server: { limits: front, http2: front.http2, http1: front.http1, ...(tls !== undefined ? { tls } : {}) },
  };
}

/** The `host:port` of a database URL ("" when it has none). */
function databaseHost(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.port === "" ? "" : `${parsed.hostname}:${parsed.port}`;
  } catch {
    return "";
  }
}
