/**
 * A throw-away NATS server with JetStream for the eventing tests and the topics bench:
 * Debian's `nats-server -js` on a free 127.0.0.1 port with its store in a temp dir,
 * killed with the test. It can be stopped and started again on the same port and store
 * (a broker that goes away and comes back).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "../../observability/support/example-process.js";

/** A running (or stopped) nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Everything the server logged so far. */
  log(): string;
  /** Kills the server (SIGKILL); the store stays. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Kills it and removes the store. */
  close(): Promise<void>;
}

export { freePort };

/** Starts `nats-server` (`-js` unless `jetstream: false`) and resolves once it accepts connections. */
export async function startNatsServer(options: { jetstream?: boolean } = {}): Promise<NatsServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-nats-"));
  const port = await freePort();
  let log = "";
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ["-a", "127.0.0.1", "-p", String(port), ...(options.jetstream === false ? [] : ["-js", "-sd", dir])];
    const started = spawn("nats-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    started.stdout?.on("data", (d: Buffer) => {
      log += d.toString();
    });
    started.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server not ready within 15 s:\n${log}`)), 15_000);
      const check = () => {
        if (!/Server is ready/.test(log)) return;
        clearTimeout(timer);
        resolve();
      };
      started.stdout?.on("data", check);
      started.stderr?.on("data", check);
      started.once("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot run nats-server (apt-get install nats-server): ${error.message}`));
      });
      started.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${log}`));
      });
    });
  };
  const kill = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, "exit");
    running.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    log: () => log,
    kill,
    async restart() {
      await kill();
      log = "";
      await start();
    },
    async close() {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
