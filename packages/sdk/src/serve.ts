/**
 * `serve()`: the one-call entry point of a user function's `main`.
 *
 * @module
 */
import type { EntityDefinition } from "./entities/entity-definition.js";
import { readFileSync } from "node:fs";
import type { ListenOptions, RunningServer, ServerOptions } from "./server.js";
import { createServer } from "./server.js";

/** Says in one line why listening on `host:port` failed. */
export function listenFailure(host: string, port: number, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/EADDRINUSE/.test(message)) return `cannot listen on ${host}:${port}: the port is already in use (another user function? set PORT)`;
  if (/EACCES/.test(message)) return `cannot listen on ${host}:${port}: permission denied (ports below 1024 need privileges; set PORT)`;
  if (/EADDRNOTAVAIL|ENOTFOUND/.test(message)) return `cannot listen on ${host}:${port}: no such local address (set HOST)`;
  return `cannot listen on ${host}:${port}: ${message.split("\n")[0]}`;
}

/** Says in one line why listening on the Unix socket `path` failed. */
export function socketListenFailure(path: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith(`cannot listen on ${path}`)) return message.split("\n")[0] as string;
  if (/EACCES|EPERM/.test(message)) return `cannot listen on ${path}: permission denied (the directory must be writable by this user)`;
  if (/ENOENT/.test(message)) return `cannot listen on ${path}: its directory does not exist`;
  if (/EADDRINUSE/.test(message)) return `cannot listen on ${path}: the address is in use`;
  return `cannot listen on ${path}: ${message.split("\n")[0]}`;
}

/** Options of {@link serve}: those of `createServer`, except the entities. */
export type ServeOptions = Omit<ServerOptions, "entities">;

/**
 * Serves `entities` on `HOST`:`PORT` from the environment (default `127.0.0.1:8080`, as the
 * Cloudstate language supports do), or on the Unix socket `USER_FUNCTION_SOCKET` names when it
 * is set (the proxy then runs with `--user-function-socket` and the same path; `HOST`/`PORT`
 * are not used), prints one line on stderr once listening, and closes the server (removing
 * its socket file) then exits on SIGINT or SIGTERM. With `TLS_CERT` and `TLS_KEY` (PEM file paths) it
 * serves TLS, and with `TLS_CLIENT_CA` too it requires client certificates signed by that CA.
 *
 * For tests or embedding, use `createServer(...).listen(...)` instead, which neither reads the
 * environment nor installs signal handlers.
 *
 * @example
 * ```ts
 * // main.ts
 * import { serve } from "@switchboard/sdk";
 * import { counter, counterFanout } from "./counter.js";
 *
 * await serve([counter, counterFanout]);
 * // stderr: switchboard-sdk: listening on 127.0.0.1:8080 serving com.example.counter.CounterService, ...
 * ```
 */
export async function serve(entities: readonly EntityDefinition[], options: ServeOptions = {}): Promise<RunningServer> {
  const socket = process.env.USER_FUNCTION_SOCKET || undefined;
  const host = process.env.HOST || "127.0.0.1";
  const portText = process.env.PORT || "8080";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new Error(`serve(): PORT must be a port number, got "${portText}"`);
  }
  const tls = tlsFromEnvironment();
  if (socket !== undefined && tls !== undefined) {
    process.stderr.write("switchboard-sdk: USER_FUNCTION_SOCKET and TLS_CERT/TLS_KEY exclude each other (a Unix socket never leaves this machine)\n");
    process.exit(1);
  }
  let running: RunningServer;
  try {
    running = await createServer({ ...options, entities }).listen(socket !== undefined ? { socket } : { host, port, ...(tls === undefined ? {} : { tls }) });
  } catch (error) {
    // One clean line instead of a stack trace, as the proxy does for its own port.
    process.stderr.write(`switchboard-sdk: ${socket !== undefined ? socketListenFailure(socket, error) : listenFailure(host, port, error)}\n`);
    process.exit(1);
  }
  const stop = (): void => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    void running.close().then(() => process.exit(0));
  };
  // Handlers first: whoever waits for the listening line may signal at once.
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const services = entities.map((e) => e.service.typeName).join(", ");
  const where = running.socket !== undefined ? `unix:${running.socket}` : `${running.host}:${running.port}`;
  process.stderr.write(`switchboard-sdk: listening on ${where}${tls === undefined ? "" : " (TLS)"} serving ${services}\n`);
  return running;
}

/** The TLS files `TLS_CERT`, `TLS_KEY` and `TLS_CLIENT_CA` name, read; undefined without them. Exits with one line when they are wrong. */
function tlsFromEnvironment(): ListenOptions["tls"] {
  const certPath = process.env.TLS_CERT || undefined;
  const keyPath = process.env.TLS_KEY || undefined;
  const clientCaPath = process.env.TLS_CLIENT_CA || undefined;
  if (certPath === undefined && keyPath === undefined && clientCaPath === undefined) return undefined;
  const fail = (message: string): never => {
    process.stderr.write(`switchboard-sdk: ${message}\n`);
    process.exit(1);
  };
  if (certPath === undefined || keyPath === undefined) return fail("TLS_CERT and TLS_KEY go together (TLS_CLIENT_CA needs both)");
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      return fail(`cannot read ${name} ${path}: ${(error as Error).message}`);
    }
  };
  return {
    cert: read("TLS_CERT", certPath),
    key: read("TLS_KEY", keyPath),
    clientCa: clientCaPath === undefined ? undefined : read("TLS_CLIENT_CA", clientCaPath),
  };
}
