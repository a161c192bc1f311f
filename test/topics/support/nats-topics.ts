/**
 * The processes of a topics test on NATS JetStream with the admin port on: a throw-away
 * `nats-server -js`, the orders user function, and a proxy with `--eventing` on that server
 * (its entities in a SQLite file of a temp dir).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type ProxyProcess, startProxy } from "../../support/proxy-process.js";
import { freePort, startNatsServer } from "./nats-server.js";
import { type OrdersUserFunction, startOrdersUserFunction } from "./orders-user-function.js";

/** The running processes; `close` releases held orders and stops them all. */
export interface NatsTopics {
  readonly uf: OrdersUserFunction;
  readonly proxy: ProxyProcess;
  /** The proxy's admin port. */
  readonly admin: number;
  close(): Promise<void>;
}

/** Starts the processes; `extraArgs` go to `switchboard start` after `--eventing` and `--admin-port`. */
export async function startNatsTopics(extraArgs: string[] = []): Promise<NatsTopics> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-nats-replay-"));
  const nats = await startNatsServer();
  const uf = await startOrdersUserFunction();
  const admin = await freePort();
  const proxy = await startProxy({
    userFunctionPort: uf.port,
    store: `sqlite:${path.join(dir, "entities.db")}`,
    extraArgs: ["--eventing", nats.url, "--admin-port", String(admin), ...extraArgs],
  });
  return {
    uf,
    proxy,
    admin,
    async close() {
      uf.release();
      await proxy.stop();
      await uf.close();
      await nats.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
