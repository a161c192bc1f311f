/**
 * Starts a real SDK server on a free loopback port, with a logger that records what it is told,
 * and a protocol client connected to it.
 */
import type { EntityDefinition, Logger, RunningServer } from "../../src/index.js";
import { createServer } from "../../src/index.js";
import type { ProtocolClient } from "./protocol-client.js";
import { createProtocolClient } from "./protocol-client.js";

/** A logged line. */
export interface LogLine {
  readonly level: "info" | "warn" | "error";
  readonly message: string;
  readonly error?: unknown;
}

export interface Harness {
  readonly server: RunningServer;
  readonly client: ProtocolClient;
  readonly logs: LogLine[];
  close(): Promise<void>;
}

export async function startHarness(entities: readonly EntityDefinition[]): Promise<Harness> {
  const logs: LogLine[] = [];
  const logger: Logger = {
    info: (message) => logs.push({ level: "info", message }),
    warn: (message) => logs.push({ level: "warn", message }),
    error: (message, error) => logs.push({ level: "error", message, error }),
  };
  const server = await createServer({ entities, logger, serviceName: "sdk-test", serviceVersion: "1.2.3", shutdownTimeoutMs: 200 }).listen({
    host: "127.0.0.1",
    port: 0,
  });
  const client = createProtocolClient(server.port);
  return {
    server,
    client,
    logs,
    async close() {
      client.close();
      await server.close();
    },
  };
}
