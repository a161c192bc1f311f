import { type ChildProcess, spawn } from "node:child_process";
import { parseConfig } from "../config/index.js";

/** Help text of `switchboard run`. */
export const RUN_HELP = `Usage: switchboard run [start options] -- <command> [args...]

Runs a user function and the proxy beside it, in the foreground: starts <command>
with HOST and PORT set to --user-function-host and --user-function-port (env
USER_FUNCTION_HOST / USER_FUNCTION_PORT, default 127.0.0.1:8080), or with
USER_FUNCTION_SOCKET set to --user-function-socket when one is given (the
TypeScript SDK's serve() then listens on that Unix socket), then runs
"switchboard start" with the same options. Ctrl-C (SIGINT) or SIGTERM drains the
proxy, then stops the user function. If the user function exits on its own, the
proxy stops too; a command that restarts it on change (tsx watch, node --watch)
keeps running, and the proxy discovers the new process when it reconnects.

Examples:
  switchboard run -- node dist/main.js
  switchboard run --http-port 9100 --user-function-port 8100 -- tsx watch src/main.ts
  switchboard run --user-function-socket /tmp/uf.sock -- node dist/main.js
`;

/** How long an exit of the user function waits for a stop signal that may be on its way to this process too. */
const SIGNAL_GRACE_MS = 250;

/**
 * `switchboard run`: the user function as a child process plus the proxy in this process.
 * `start` runs `switchboard start` with the given flags and resolves with its exit code.
 */
export async function runCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  start: (args: readonly string[]) => Promise<number>,
): Promise<number> {
  const dashes = argv.indexOf("--");
  const startArgs = dashes < 0 ? [...argv] : argv.slice(0, dashes);
  const command = dashes < 0 ? [] : argv.slice(dashes + 1);
  if (startArgs.includes("--help") || startArgs.includes("-h")) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  const [program, ...programArgs] = command;
  if (program === undefined) {
    process.stderr.write(`switchboard run: no user function command after "--"\n\n${RUN_HELP}`);
    return 2;
  }
  const parsed = parseConfig(startArgs, env);
  if (parsed.error !== undefined) {
    process.stderr.write(`switchboard run: ${parsed.error}\nRun "switchboard start --help" for the options.\n`);
    return 2;
  }
  const { userFunctionHost, userFunctionPort, userFunctionSocket } = parsed.config;
  let stopping = false;
  let endedOnItsOwn = false;
  // Ctrl-C reaches the user function too; its exit is then expected, not a reason to report.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      stopping = true;
    });
  }
  const userFunction: ChildProcess = spawn(program, programArgs, {
    env: {
      ...process.env,
      HOST: userFunctionHost,
      PORT: String(userFunctionPort),
      ...(userFunctionSocket === undefined ? {} : { USER_FUNCTION_SOCKET: userFunctionSocket }),
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise<number>((resolve) => {
    userFunction.once("exit", (code, signal) => {
      const settle = () => {
        if (!stopping) {
          endedOnItsOwn = true;
          process.stderr.write(`switchboard run: the user function exited (${signal ?? code}); stopping the proxy\n`);
          process.kill(process.pid, "SIGTERM");
        }
        // Ended by the signal that stops the run: a clean end, like exit code 0.
        resolve(code ?? (stopping && (signal === "SIGINT" || signal === "SIGTERM") ? 0 : 1));
      };
      // Ctrl-C reaches the whole process group: a user function that stops at once may be
      // reported gone before this process has handled its own copy of the signal (the order
      // of the two is not guaranteed). A stop signal that arrives within the grace period
      // still makes the exit an expected one.
      if (stopping) settle();
      else setTimeout(settle, SIGNAL_GRACE_MS);
    });
    userFunction.once("error", (error) => {
      process.stderr.write(`switchboard run: cannot start "${program}": ${error.message}\n`);
      resolve(127);
    });
  });
  const proxyCode = await start(startArgs);
  stopping = true;
  if (userFunction.exitCode === null && userFunction.signalCode === null) {
    userFunction.kill("SIGTERM");
    const timer = setTimeout(() => userFunction.kill("SIGKILL"), 5000);
    timer.unref();
    await exited;
    clearTimeout(timer);
    return proxyCode;
  }
  const userFunctionCode = await exited;
  if (proxyCode !== 0) return proxyCode;
  // The user function exited on its own and took the proxy down with it: the run failed.
  if (endedOnItsOwn) return userFunctionCode === 0 ? 1 : userFunctionCode;
  // Stopped by Ctrl-C or SIGTERM: the user function got the signal too and may well have
  // finished before the proxy's drain; its own exit code tells whether it stopped cleanly.
  return userFunctionCode;
}
