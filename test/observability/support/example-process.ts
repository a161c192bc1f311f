/**
 * Runs a built example user function (examples/<name>/dist/main.js) as a real process
 * on a free port, for the observability tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** A running example. */
export interface ExampleProcess {
  readonly port: number;
  /** Its process id (for signals such as SIGSTOP). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts `examples/<name>` with PORT=0 and resolves once it prints its listening line. */
export async function startExample(name: "counter" | "shopping-cart" | "orders", env: Record<string, string> = {}): Promise<ExampleProcess> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "examples", name, "dist/main.js")], {
    cwd: ROOT,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} printed no listening line within 20 s: ${output}`)), 20_000);
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on("data", check);
    child.stderr?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${output}`));
    });
  });
  return {
    port,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await once(child, "exit");
    },
  };
}

/** A port that was free a moment ago (for flags that take no 0, like --admin-port). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, "close");
  return port;
}
