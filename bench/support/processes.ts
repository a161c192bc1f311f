/**
 * The processes a benchmark runs: the Switchboard proxy (the real CLI), user
 * functions, peers and database servers, each in its own process. Every child is
 * tracked and stopped when the run ends, even on a crash or Ctrl-C.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { cpSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** Where the proxy package (bin/, dist/) the benchmark runs is: the repository's, or a snapshot of it. */
let proxyRoot = path.join(ROOT, "packages/proxy");

/** The launcher of the `switchboard` CLI the benchmark runs. */
export function switchboardBin(): string {
  return path.join(proxyRoot, "bin/switchboard.mjs");
}

/** A file of the proxy's build, e.g. `store/sqlite/schema.js`. */
export function proxyDist(file: string): string {
  return path.join(proxyRoot, "dist", file);
}

/**
 * Copies packages/proxy (bin/, dist/, package.json) into `dir` and runs the proxy from
 * there from now on, so that a rebuild of packages/proxy/dist by someone else during the
 * run cannot change the code under test half-way. Bare imports still resolve to the
 * repository's node_modules (the copy sits inside the repository).
 */
export function snapshotProxy(dir: string): void {
  const source = path.join(ROOT, "packages/proxy");
  mkdirSync(dir, { recursive: true });
  for (const entry of ["bin", "dist", "package.json"]) cpSync(path.join(source, entry), path.join(dir, entry), { recursive: true });
  proxyRoot = dir;
}

/** A running child process. */
export interface Child {
  readonly label: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** The first stdout line that matched the readiness pattern. */
  readonly readyLine: string;
  stdout(): string;
  stderr(): string;
  /** Calls `listener` for every later stdout line. */
  onLine(listener: (line: string) => void): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves to the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

const running = new Set<Child>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const child of running) {
      try {
        child.process.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Options of {@link startChild}. */
export interface StartOptions {
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Resolve once a stdout (or stderr) line matches, or once this port accepts connections. */
  readonly ready: RegExp | { readonly port: number };
  readonly readyOn?: "stdout" | "stderr";
  readonly timeoutMs?: number;
}

/** Spawns a process and waits for its readiness line. */
export async function startChild(options: StartOptions): Promise<Child> {
  hookExit();
  const proc = spawn(options.command, [...options.args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let partial = "";
  const lineListeners: ((line: string) => void)[] = [];
  const exited = once(proc, "exit").then(([code]) => code as number | null);
  let readyResolve: ((line: string) => void) | undefined;
  const pattern = options.ready instanceof RegExp ? options.ready : undefined;
  const readyCheck = (text: string) => {
    if (pattern === undefined) return;
    const match = pattern.exec(text);
    if (match && readyResolve) {
      const r = readyResolve;
      readyResolve = undefined;
      r(match[0]);
    }
  };
  proc.stdout?.on("data", (d: Buffer) => {
    const text = d.toString();
    if (out.length < 1 << 20) out += text;
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) for (const l of lineListeners) l(line);
    if ((options.readyOn ?? "stdout") === "stdout") readyCheck(out);
  });
  proc.stderr?.on("data", (d: Buffer) => {
    if (err.length < 1 << 20) err += d.toString();
    if (options.readyOn === "stderr") readyCheck(err);
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const readyLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${options.label} not ready after ${timeoutMs} ms\nstderr:\n${err.slice(-4000)}\nstdout:\n${out.slice(-2000)}`));
    }, timeoutMs);
    readyResolve = (line) => {
      clearTimeout(timer);
      resolve(line);
    };
    if (!(options.ready instanceof RegExp)) {
      const port = options.ready.port;
      waitForPort(port, timeoutMs).then(
        () => readyResolve?.(`port ${port} open`),
        () => {},
      );
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${options.label} exited with ${code} before it was ready\nstderr:\n${err.slice(-4000)}\nstdout:\n${out.slice(-2000)}`));
    });
  });
  const child: Child = {
    label: options.label,
    process: proc,
    pid: proc.pid as number,
    readyLine,
    stdout: () => out,
    stderr: () => err,
    onLine: (listener) => {
      lineListeners.push(listener);
    },
    exited,
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        running.delete(child);
        return proc.exitCode;
      }
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(timer);
      running.delete(child);
      return code;
    },
  };
  running.add(child);
  void exited.then(() => running.delete(child));
  return child;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Which user function serves the benchmark. */
export type UserFunctionKind = "model" | "counter" | "shopping-cart" | "tck-sdk";

/**
 * Starts a user function in its own process on 127.0.0.1:`port`. With `socket`, the counter
 * and shopping-cart examples listen on that Unix socket instead (USER_FUNCTION_SOCKET), and
 * the raw-protocol model on it as well as on the port.
 */
export function startUserFunction(kind: UserFunctionKind, port: number, socket?: string): Promise<Child> {
  if (kind === "tck-sdk") {
    // The Cloudstate TCK model written with our SDK (the conformance suite's user function).
    return startChild({
      label: "user function (TCK model on the TypeScript SDK)",
      command: process.execPath,
      args: ["--import", "tsx", path.join(ROOT, "test/conformance/supports/typescript-sdk/main.ts")],
      env: { HOST: "127.0.0.1", PORT: String(port) },
      ready: { port },
      timeoutMs: 30_000,
    });
  }
  if (kind === "counter" || kind === "shopping-cart") {
    return startChild({
      label: `user function (examples/${kind}, TypeScript SDK${socket === undefined ? "" : ", Unix socket"})`,
      command: process.execPath,
      args: [path.join(ROOT, `examples/${kind}/dist/main.js`)],
      env: { HOST: "127.0.0.1", PORT: String(port), ...(socket === undefined ? {} : { USER_FUNCTION_SOCKET: socket }) },
      // serve() prints its listening line on stderr; on TCP, wait for the port.
      ...(socket === undefined ? { ready: { port } } : { ready: /listening on unix:\S+/, readyOn: "stderr" as const }),
      timeoutMs: 20_000,
    });
  }
  return startChild({
    label: "user function (raw-protocol TCK model)",
    command: process.execPath,
    args: ["--import", "tsx", path.join(ROOT, "bench/user-function.ts"), "--port", String(port), ...(socket === undefined ? [] : ["--socket", socket])],
    ready: /^bench user function ready on \S+/m,
    timeoutMs: 30_000,
  });
}

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  readonly userFunctionPort: number;
  /** Connect to the user function over this Unix socket (`--user-function-socket`) instead of the port. */
  readonly userFunctionSocket?: string;
  /** Run the proxy with this Node binary instead of the one running the benchmark. */
  readonly node?: string;
  /** `memory`, `sqlite:<file>` or `postgres://…`. */
  readonly store: string;
  readonly httpPort?: number;
  /** Write a V8 CPU profile of the proxy into this directory (written on exit). */
  readonly cpuProfileDir?: string;
  readonly extraArgs?: readonly string[];
  /** Node options for the proxy process (before the script), e.g. `--inspect-port=<port>`. */
  readonly nodeArgs?: readonly string[];
  /** More environment for the proxy (e.g. `OTEL_*`). */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** Run the proxy build in this folder (bin/, dist/, package.json) instead of the one under test: the "before" side of a before/after comparison. */
  readonly root?: string;
}

/** Starts the real `switchboard start` CLI and waits for its readiness line. */
export async function startProxy(options: ProxyOptions): Promise<Child & { readonly port: number }> {
  const httpPort = options.httpPort ?? (await freePort());
  const nodeFlags = [...(options.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`] : []), ...(options.nodeArgs ?? [])];
  const child = await startChild({
    label: "switchboard proxy",
    command: options.node ?? process.execPath,
    args: [
      ...nodeFlags,
      options.root === undefined ? switchboardBin() : path.join(options.root, "bin/switchboard.mjs"),
      "start",
      "--bind",
      "127.0.0.1",
      "--http-port",
      String(httpPort),
      "--user-function-host",
      "127.0.0.1",
      "--user-function-port",
      String(options.userFunctionPort),
      ...(options.userFunctionSocket === undefined ? [] : ["--user-function-socket", options.userFunctionSocket]),
      "--store",
      options.store,
      ...(options.extraArgs ?? []),
    ],
    env: { LOG_LEVEL: "warn", ...options.env },
    ready: /^switchboard ready on .*$/m,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  const port = Number(/:(\d+) services:/.exec(child.readyLine)?.[1] ?? httpPort);
  return Object.assign(child, { port });
}

/** Polls a TCP port until it accepts a connection. */
export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const { connect } = await import("node:net");
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
