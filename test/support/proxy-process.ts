/**
 * Runs the real `switchboard` CLI as a child process for end-to-end tests and waits
 * for its readiness line on stdout.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The committed launcher of the CLI. */
export const SWITCHBOARD_BIN = path.join(ROOT, "packages/proxy/bin/switchboard.mjs");

/** A running proxy process. */
export interface ProxyProcess {
  readonly child: ChildProcess;
  /** Front port (parsed from the readiness line). */
  readonly port: number;
  /** The readiness line. */
  readonly readyLine: string;
  /** Everything the proxy wrote to stderr so far. */
  stderr(): string;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

/** Options of {@link startProxy}. */
export interface StartProxyOptions {
  userFunctionPort: number;
  /** `memory` (default) or `sqlite:<path>`. */
  store?: string;
  httpPort?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Resolve when the port answers instead of waiting for the readiness line. */
  waitFor?: "ready" | "spawn";
  timeoutMs?: number;
}

/** Spawns `switchboard start` and resolves once it printed its readiness line. */
export async function startProxy(options: StartProxyOptions): Promise<ProxyProcess> {
  const args = [
    SWITCHBOARD_BIN,
    "start",
    "--bind",
    "127.0.0.1",
    "--http-port",
    String(options.httpPort ?? 0),
    "--user-function-port",
    String(options.userFunctionPort),
    "--store",
    options.store ?? "memory",
    ...(options.extraArgs ?? []),
  ];
  // The admin port stays off unless a test asks for it: its default (9001) is one fixed port for every proxy.
  if (!args.includes("--admin-port") && options.env?.ADMIN_PORT === undefined) args.push("--admin-port", "0");
  const child = spawn(process.execPath, args, { env: { ...process.env, LOG_LEVEL: "debug", ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = once(child, "exit");
  const base = {
    child,
    stderr: () => err,
    stdout: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
  if (options.waitFor === "spawn") return { ...base, port: options.httpPort ?? 0, readyLine: "" };
  const timeoutMs = options.timeoutMs ?? 15_000;
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy not ready after ${timeoutMs} ms\nstderr:\n${err}`)), timeoutMs);
    const check = () => {
      const match = /^switchboard ready on .*$/m.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code} before ready\nstderr:\n${err}`));
    });
  });
  const port = Number(/:(\d+) services:/.exec(line)?.[1]);
  return { ...base, port, readyLine: line };
}
