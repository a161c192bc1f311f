/**
 * Runs the counter example (examples/counter) as a real user-function process on a
 * free port, as a proxy deployment would, for tests that call it through the proxy.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const MAIN = path.join(ROOT, "examples/counter/src/main.ts");

/** The counter example's services. */
export const COUNTER_SERVICES = ["com.example.counter.CounterFanout", "com.example.counter.CounterService"] as const;

/** A running counter example. */
export interface CounterExample {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts the counter example with PORT=0 and resolves once it prints its listening line. */
export async function startCounterExample(): Promise<CounterExample> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: ROOT,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the counter example printed no listening line within 20 s; stderr: ${stderr}`)), 20_000);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the counter example exited with ${code}; stderr: ${stderr}`));
    });
  });
  return {
    port,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await once(child, "exit");
    },
  };
}
