import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { UserFunctionTlsConfig } from "../config/user-function-tls.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { UserFunctionTls } from "./client.js";

/**
 * Reads the PEM files the user-function TLS configuration names, once at start; a file
 * that cannot be read, or material the TLS stack will not take (not PEM, a key that does
 * not match its certificate), stops the start with the flags and the reason.
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
  const material = {
    ca: read("--user-function-tls-ca", config.caPath),
    cert: read("--user-function-tls-cert", config.certPath),
    key: read("--user-function-tls-key", config.keyPath),
    serverName: config.serverName,
  };
  try {
    createSecureContext({
      ...(material.ca !== undefined ? { ca: material.ca } : {}),
      ...(material.cert !== undefined ? { cert: material.cert } : {}),
      ...(material.key !== undefined ? { key: material.key } : {}),
    });
  } catch (error) {
    const flags = [
      [config.caPath, "--user-function-tls-ca"],
      [config.certPath, "--user-function-tls-cert"],
      [config.keyPath, "--user-function-tls-key"],
    ]
      .filter(([path]) => path !== undefined)
      .map(([path, flag]) => `${flag} ${path}`)
      .join(", ");
    throw new SwitchboardError(`the user-function TLS material is not usable (${flags}): ${(error as Error).message}`, Code.FailedPrecondition, {
      cause: error,
    });
  }
  return material;
}
