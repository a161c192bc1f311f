/**
 * `serve()`: the one-call entry point of a user function's `main`.
 *
 * @module
 */
import type { EntityDefinition } from "./entities/entity-definition.js";
import type { RunningServer, ServerOptions } from "./server.js";
import { createServer } from "./server.js";

/** Options of {@link serve}: those of `createServer`, except the entities. */
export type ServeOptions = Omit<ServerOptions, "entities">;

/**
 * Serves `entities` on `HOST`:`PORT` from the environment (default `127.0.0.1:8080`, as the
 * Cloudstate language supports do), prints one line on stderr once listening, and closes the
 * server then exits on SIGINT or SIGTERM.
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
  const host = process.env.HOST || "127.0.0.1";
  const portText = process.env.PORT || "8080";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new Error(`serve(): PORT must be a port number, got "${portText}"`);
  }
  const running = await createServer({ ...options, entities }).listen({ host, port });
  const services = entities.map((e) => e.service.typeName).join(", ");
  process.stderr.write(`switchboard-sdk: listening on ${running.host}:${running.port} serving ${services}\n`);
  const stop = (): void => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    void running.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return running;
}
