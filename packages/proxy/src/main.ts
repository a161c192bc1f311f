import { callCommand } from "./cli/call-command.js";
import { listCommand } from "./cli/list-command.js";
import { runCommand } from "./cli/run-command.js";
import { topicsCommand } from "./cli/topics-command.js";
import { inspectCommand } from "./inspect-command.js";
import { hostname } from "node:os";
import { clusterStoreError, parseConfig, START_HELP } from "./config/index.js";
import { SwitchboardError } from "./errors/index.js";
import { createLogger } from "./observability/logger.js";
import { createProxy, type SwitchboardProxy } from "./proxy.js";
import { PROXY_VERSION } from "./version.js";

const HELP = `switchboard ${PROXY_VERSION}: a Cloudstate 0.2 proxy.

Usage:
  switchboard start [options]   run the proxy beside a user function
  switchboard run [options] -- <command>
                                run a user function and the proxy beside it
  switchboard list              list the services of a running proxy
  switchboard call <package.Service/Method> [<json>]
                                call a method of a running proxy (HTTP/JSON)
  switchboard inspect <package.Service> [<id>] [--events]
                                read entity state from a running proxy's admin port
  switchboard topics publish|tail|replay <topic>
                                publish to or follow a topic of a running proxy, or replay a consumer group
  switchboard --version         print the version
  switchboard --help            show this help ("switchboard start --help" lists the options)
`;

/**
 * The `switchboard` command line. Logs go to stderr; stdout gets exactly one line when
 * the proxy is ready: `switchboard ready on <host>:<port> services: <a.B>, <c.D>`.
 */
export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return command === undefined ? 1 : 0;
  }
  if (command === "--version" || command === "-v" || command === "version") {
    process.stdout.write(`${PROXY_VERSION}\n`);
    return 0;
  }
  if (command === "call") return callCommand(rest, env);
  if (command === "inspect") return inspectCommand(rest, env);
  if (command === "list") return listCommand(rest, env);
  if (command === "topics") return topicsCommand(rest, env);
  if (command === "run") return runCommand(rest, env, (args) => main(["start", ...args], env));
  if (command !== "start") {
    process.stderr.write(`switchboard: unknown command "${command}"\n\n${HELP}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(START_HELP);
    return 0;
  }
  const parsed = parseConfig(rest, env, { hostname: hostname(), randomSuffix: () => Math.random().toString(36).slice(2, 8) });
  if (parsed.error !== undefined) {
    process.stderr.write(`switchboard: ${parsed.error}\nRun "switchboard start --help" for the options.\n`);
    return 2;
  }
  const config = parsed.config;
  const clusterError = clusterStoreError(config.cluster, config.store.kind);
  if (clusterError !== undefined) {
    process.stderr.write(`switchboard: ${clusterError}\n`);
    return 1;
  }
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  logger.info(`switchboard ${PROXY_VERSION} starting`, {
    userFunction: config.userFunctionSocket === undefined ? `${config.userFunctionHost}:${config.userFunctionPort}` : `unix:${config.userFunctionSocket}`,
    front: `${config.bind}:${config.httpPort}`,
  });

  return new Promise<number>((resolve) => {
    let exiting = false;
    let proxyRef: SwitchboardProxy | undefined;
    let fatal = false;
    const exit = (code: number) => {
      if (exiting) return;
      exiting = true;
      const closing = proxyRef?.close() ?? Promise.resolve();
      closing.then(
        () => resolve(code),
        (error: unknown) => {
          logger.error("error while stopping", { error: (error as Error).message });
          resolve(code === 0 ? 1 : code);
        },
      );
    };
    createProxy({
      config,
      logger,
      onReady(proxy) {
        const services = [...(proxy.model()?.services.keys() ?? [])].join(", ");
        process.stdout.write(`switchboard ready on ${proxy.host}:${proxy.port} services: ${services}\n`);
      },
      onFatal(error) {
        process.stderr.write(`switchboard: ${error.rawMessage}\n`);
        fatal = true;
        if (proxyRef) exit(1);
      },
    }).then(
      (proxy) => {
        proxyRef = proxy;
        if (fatal) {
          exit(1);
          return;
        }
        for (const signal of ["SIGTERM", "SIGINT"] as const) {
          // `on`, not `once`: Ctrl-C may reach this process twice (from the terminal and from a
          // parent such as `switchboard run`), and a second signal must not kill the drain.
          process.on(signal, () => {
            if (!exiting) logger.info(`${signal} received; draining`);
            exit(0);
          });
        }
      },
      (error: unknown) => {
        process.stderr.write(`switchboard: ${error instanceof SwitchboardError ? error.rawMessage : (error as Error).message}\n`);
        exit(1);
      },
    );
  });
}
