import { readFileSync } from "node:fs";
import type { UserFunctionTlsConfig } from "../config/user-function-tls.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { UserFunctionTls } from "./client.js";

/**
 * Reads the PEM files the user-function TLS configuration names, once at start; a file
 * that cannot be read stops the start with its flag, path and reason.
 */
export function readUserFunctionTls(config: UserFunctionTlsConfig | undefined): UserFunctionTls | undefined {
  if (config === undefined) return undefined;
  const read = (flag: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new SwitchboardError(`cannot read ${flag} ${path}: ${(error as Error).message}`, Code.FailedPrecondition, { cause: error });
    }
  };
  return {
    ca: read("--user-function-tls-ca", config.caPath),
    cert: read("--user-function-tls-cert", config.certPath),
    key: read("--user-function-tls-key", config.keyPath),
    serverName: config.serverName,
  };
}
