/**
 * The `switchboard-tck` command: runs the TCK against any Cloudstate proxy and user function.
 *
 *   switchboard-tck --proxy "<command>" --function "<command>" [--support <name>]
 *     [--areas Discovery,ES,...] [--function-port 8080] [--interceptor-port 8090]
 *     [--proxy-port 9000] [--results <file>] [--known-failures <file>] [--logs <dir>]
 *     [--print-failures]
 *
 * Exits 0 when every failure is a known one, 1 on an unexpected failure or pass (or when
 * the run cannot start), 2 on bad arguments.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AREAS, type Area } from "./catalogue.js";
import { describeAreaClaims, loadFeatures } from "./features.js";
import { formatKnownFailureDraft, formatSummary, isFailedRun } from "./results.js";
import { runTck } from "./runner.js";

const HELP = `switchboard-tck: the Cloudstate TCK (a TypeScript port) for any Cloudstate proxy.

Usage:
  switchboard-tck --proxy "<command>" --function "<command>" [options]

The user function is started with HOST=127.0.0.1 PORT=<function port>; the proxy with
USER_FUNCTION_HOST=127.0.0.1 USER_FUNCTION_PORT=<interceptor port> HTTP_PORT=<proxy port>.
Both run in their own process group and are stopped with it.

Options:
  --proxy <command>            shell command starting the proxy (required)
  --function <command>         shell command starting the user function (required)
  --support <name>             section of known-failures.txt to apply (default: default)
  --areas <a,b,...>            areas to run: ${AREAS.join(", ")} (default: all)
  --function-port <port>       user function port (8080)
  --interceptor-port <port>    interceptor port (8090)
  --proxy-port <port>          proxy front port (9000)
  --results <file>             write the results as JSON
  --known-failures <file>      known failures to apply (default: the package's known-failures.txt)
  --logs <dir>                 directory for the processes' logs (default: a temporary directory)
  --print-failures             also print the unexpected failures as known-failures.txt lines
                               (a draft: replace each reason with the real one)
  -h, --help                   show this help
`;

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be a port number, got "${value}"`);
  return n;
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        proxy: { type: "string" },
        function: { type: "string" },
        support: { type: "string" },
        areas: { type: "string" },
        "function-port": { type: "string" },
        "interceptor-port": { type: "string" },
        "proxy-port": { type: "string" },
        results: { type: "string" },
        "known-failures": { type: "string" },
        logs: { type: "string" },
        "print-failures": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`switchboard-tck: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const str = (key: string) => (typeof values[key] === "string" ? (values[key] as string) : undefined);
  const proxyCommand = str("proxy");
  const functionCommand = str("function");
  if (!proxyCommand || !functionCommand) {
    process.stderr.write(`switchboard-tck: --proxy and --function are required\n\n${HELP}`);
    return 2;
  }
  let areas: Area[] | undefined;
  let ports: { functionPort: number; interceptorPort: number; proxyPort: number };
  try {
    const areaList = str("areas");
    if (areaList !== undefined) {
      areas = areaList
        .split(",")
        .map((a) => a.trim())
        .filter((a) => a !== "")
        .map((a) => {
          const match = AREAS.find((known) => known.toLowerCase() === a.toLowerCase());
          if (!match) throw new Error(`unknown area "${a}" (known: ${AREAS.join(", ")})`);
          return match;
        });
      // Keep the run order whatever the order given.
      areas = AREAS.filter((a) => areas?.includes(a));
    }
    ports = {
      functionPort: port(str("function-port"), 8080, "function-port"),
      interceptorPort: port(str("interceptor-port"), 8090, "interceptor-port"),
      proxyPort: port(str("proxy-port"), 9000, "proxy-port"),
    };
  } catch (error) {
    process.stderr.write(`switchboard-tck: ${(error as Error).message}\n`);
    return 2;
  }
  try {
    process.stdout.write(`claims (features.yaml): ${describeAreaClaims(loadFeatures())}\n`);
  } catch (error) {
    process.stderr.write(`switchboard-tck: features.yaml: ${(error as Error).message}\n`);
  }
  const knownFailuresFile = str("known-failures");
  const logDir = str("logs");
  const results = await runTck({
    proxyCommand,
    functionCommand,
    support: str("support") ?? "default",
    ...ports,
    ...(areas ? { areas } : {}),
    ...(knownFailuresFile ? { knownFailuresFile } : {}),
    ...(logDir ? { logDir } : {}),
  });
  process.stdout.write(`\n${formatSummary(results)}\n`);
  if (values["print-failures"] && results.unexpectedFailures.length > 0) {
    process.stdout.write(`\nDraft known-failures.txt section:\n${formatKnownFailureDraft(results)}\n`);
  }
  const resultsFile = str("results");
  if (resultsFile) writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  return isFailedRun(results) ? 1 : 0;
}
