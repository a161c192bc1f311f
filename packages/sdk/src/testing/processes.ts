/**
 * End-to-end test helpers: run a user function as a real process, and the Switchboard proxy
 * beside it, on free ports of 127.0.0.1; stop both at the end.
 *
 * @example
 * ```ts
 * import { startUserFunction, startProxy } from "@switchboard/sdk/testing";
 *
 * const userFunction = await startUserFunction({ entry: "src/main.ts" });
 * const proxy = await startProxy({ userFunctionPort: userFunction.port });
 * const answer = await fetch(`${proxy.url}/counters/c1`);
 * await proxy.stop();
 * await userFunction.stop();
 * ```
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { DescMessage, DescMethod, DescService, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { credentials, Client as GrpcClient } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

/** A process started by {@link startProcess}. */
export interface TestProcess {
  readonly child: ChildProcess;
  /** The match of the `ready` pattern in the process's output. */
  readonly match: RegExpExecArray;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends `signal` (SIGTERM by default; SIGKILL after 5 s) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Options of {@link startProcess}. */
export interface StartProcessOptions {
  readonly command: string;
  readonly args?: readonly string[];
  readonly cwd?: string;
  /** Added to the current environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** The process is ready once its stdout or stderr matches this. */
  readonly ready: RegExp;
  /** How long to wait for `ready` (default 30 s). */
  readonly timeoutMs?: number;
}

/**
 * Starts a process and waits until its output matches `ready`. Rejects, with the output so
 * far, if it exits first or does not get ready in time (the process is then killed).
 */
export function startProcess(options: StartProcessOptions): Promise<TestProcess> {
  const child = spawn(options.command, [...(options.args ?? [])], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      timer.unref();
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  return new Promise<TestProcess>((resolvePromise, reject) => {
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop("SIGKILL");
      reject(new Error(`${options.command} ${(options.args ?? []).join(" ")}: ${reason}; output:\n${output}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${options.timeoutMs ?? 30_000} ms`), options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (settled) return;
      const match = options.ready.exec(output);
      if (match !== null) {
        settled = true;
        clearTimeout(timer);
        resolvePromise({ child, match, output: () => output, stop });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", (error) => fail(error.message));
    child.once("exit", (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
  });
}

/** A user function process started by {@link startUserFunction}. */
export interface TestUserFunction extends TestProcess {
  readonly port: number;
}

/** Options of {@link startUserFunction}. */
export interface StartUserFunctionOptions {
  /** The user function's main module, `.ts` (run with tsx) or `.js`; relative to `cwd`. */
  readonly entry: string;
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/**
 * Runs a user function that calls `serve()` as a process on a free port of 127.0.0.1
 * (`HOST`/`PORT` in its environment) and waits for its listening line.
 */
export async function startUserFunction(options: StartUserFunctionOptions): Promise<TestUserFunction> {
  const cwd = options.cwd ?? process.cwd();
  const entry = resolve(cwd, options.entry);
  const args = entry.endsWith(".ts") ? ["--import", "tsx", entry] : [entry];
  const started = await startProcess({
    command: process.execPath,
    args,
    cwd,
    env: { HOST: "127.0.0.1", PORT: "0", ...options.env },
    ready: /switchboard-sdk: listening on [^\s]+:(\d+) serving/,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  return { ...started, port: Number(started.match[1]) };
}

/** A Switchboard proxy process started by {@link startProxy}. */
export interface TestProxy extends TestProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the front port for HTTP/JSON (and gRPC, h2c). */
  readonly url: string;
  /** `127.0.0.1:<port>`, for gRPC clients. */
  readonly address: string;
}

/** Options of {@link startProxy}. */
export interface StartProxyOptions {
  readonly userFunctionPort: number;
  /** Extra `switchboard start` flags (default: `--store memory`). */
  readonly args?: readonly string[];
  /** Where `@switchboard/proxy` is installed (default: the current folder's project). */
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** Finds the `switchboard` command of the `@switchboard/proxy` installed for `cwd`'s project. */
export function findProxyBin(cwd: string = process.cwd()): string {
  let manifest: string;
  try {
    manifest = createRequire(join(cwd, "package.json")).resolve("@switchboard/proxy/package.json");
  } catch {
    throw new Error(`@switchboard/proxy is not installed for ${cwd}: npm install -D @switchboard/proxy`);
  }
  const bin = (JSON.parse(readFileSync(manifest, "utf8")) as { bin?: Record<string, string> }).bin?.switchboard;
  if (bin === undefined) throw new Error(`${manifest} has no "switchboard" bin`);
  return join(dirname(manifest), bin);
}

/**
 * Runs `switchboard start` beside a user function on a free front port of 127.0.0.1 and
 * waits until it is ready (it has discovered the user function).
 */
export async function startProxy(options: StartProxyOptions): Promise<TestProxy> {
  const started = await startProcess({
    command: process.execPath,
    args: [
      findProxyBin(options.cwd),
      "start",
      "--user-function-host",
      "127.0.0.1",
      "--user-function-port",
      String(options.userFunctionPort),
      "--bind",
      "127.0.0.1",
      "--http-port",
      "0",
      ...(options.args ?? ["--store", "memory"]),
    ],
    cwd: options.cwd ?? process.cwd(),
    env: { ...options.env },
    ready: /switchboard ready on [^\s]+:(\d+) services:/,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  const port = Number(started.match[1]);
  return { ...started, port, url: `http://127.0.0.1:${port}`, address: `127.0.0.1:${port}` };
}

/** A unary gRPC client for end-to-end tests, from a protobuf-es service descriptor. */
export interface TestGrpcClient<S extends DescService> {
  /** Calls the unary method `localName` (e.g. `"increase"`) with a request (message or init object). */
  call<K extends keyof S["method"] & string>(localName: K, request: MessageInitShape<S["method"][K]["input"]>): Promise<MessageShape<S["method"][K]["output"]>>;
  close(): void;
}

/**
 * A gRPC client of `service` at `address` (`host:port`, plaintext h2c), for calling a
 * proxy the way a client application does. Rejects with the gRPC error of a failed call.
 *
 * @example
 * ```ts
 * const grpc = grpcTestClient(CounterService, proxy.address);
 * const current = await grpc.call("getCurrentCounter", { counterId: "c1" });
 * grpc.close();
 * ```
 */
export function grpcTestClient<S extends DescService>(service: S, address: string): TestGrpcClient<S> {
  const client = new GrpcClient(address, credentials.createInsecure());
  return {
    call(localName, request) {
      const method = (service.method as Record<string, DescMethod>)[localName];
      if (method === undefined || method.methodKind !== "unary") return Promise.reject(new Error(`${service.typeName} has no unary method "${localName}"`));
      const message = create(method.input, request as MessageInitShape<DescMessage>);
      return new Promise((resolveCall, reject) => {
        client.makeUnaryRequest(
          `/${service.typeName}/${method.name}`,
          (m: Message) => Buffer.from(toBinary(method.input, m)),
          (bytes: Buffer) => fromBinary(method.output, bytes),
          message,
          (error, response) => (error !== null || response === undefined ? reject(error) : resolveCall(response as never)),
        );
      });
    },
    close: () => client.close(),
  };
}
