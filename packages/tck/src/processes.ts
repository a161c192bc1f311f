/**
 * The processes a run starts: the user function and the proxy, each a shell command
 * spawned in its own process group so that it can be stopped with everything it started
 * (`process.kill(-pid)`). Their output goes to log files, and the tail is kept in memory
 * for failure messages.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

/** A started command. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<string>;
  /** True once the process has ended. */
  readonly hasExited: boolean;
  /** The last lines of its output, for failure messages. */
  tail(lines?: number): string;
  /** Stdout seen so far. */
  stdout(): string;
  /** SIGTERM to the whole group, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link startProcess}. */
export interface StartProcessOptions {
  /** Shown in messages, and the log file name. */
  readonly name: string;
  /** A shell command line. */
  readonly command: string;
  /** Extra environment variables. */
  readonly env: Record<string, string>;
  /** Directory for `<name>.log` (none: not logged to disk). */
  readonly logDir?: string;
  readonly cwd?: string;
}

const MAX_TAIL_CHARS = 64 * 1024;

/** Starts `command` through the shell, in a new process group. */
export function startProcess(options: StartProcessOptions): ManagedProcess {
  const child: ChildProcess = spawn(options.command, {
    shell: true,
    detached: true,
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log: WriteStream | undefined;
  if (options.logDir) {
    mkdirSync(options.logDir, { recursive: true });
    log = createWriteStream(path.join(options.logDir, `${options.name}.log`));
  }
  let tail = "";
  let out = "";
  const keep = (chunk: Buffer, isStdout: boolean) => {
    const text = chunk.toString("utf8");
    log?.write(text);
    tail = (tail + text).slice(-MAX_TAIL_CHARS);
    if (isStdout) out = (out + text).slice(-MAX_TAIL_CHARS);
  };
  child.stdout?.on("data", (chunk: Buffer) => keep(chunk, true));
  child.stderr?.on("data", (chunk: Buffer) => keep(chunk, false));
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.on("exit", (code, signal) => {
      done = true;
      log?.end();
      resolve(signal ? `signal ${signal}` : `exit code ${code}`);
    });
    child.on("error", (error) => {
      done = true;
      resolve(`failed to start: ${error.message}`);
    });
  });
  const pid = child.pid ?? -1;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (pid <= 0) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  return {
    name: options.name,
    pid,
    exited,
    get hasExited() {
      return done;
    },
    tail(lines = 30) {
      return tail.split("\n").slice(-lines).join("\n");
    },
    stdout: () => out,
    async stop(graceMs = 5000) {
      if (done) {
        // The leader is gone; make sure nothing it started is left behind.
        signalGroup("SIGKILL");
        return;
      }
      signalGroup("SIGTERM");
      const timer = setTimeout(() => signalGroup("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      signalGroup("SIGKILL");
    },
  };
}

/** Resolves once `host:port` accepts TCP connections, or rejects after `timeoutMs` (or when `abort` resolves). */
export async function waitForPort(host: string, port: number, timeoutMs: number, abort?: Promise<string>): Promise<void> {
  const until = Date.now() + timeoutMs;
  let aborted: string | undefined;
  void abort?.then((reason) => {
    aborted = reason;
  });
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (aborted !== undefined) throw new Error(`the process ended (${aborted}) before ${host}:${port} accepted connections`);
    if (Date.now() > until) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** True when something already accepts connections on `host:port`. */
export function isPortInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
