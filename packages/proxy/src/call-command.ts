import * as http from "node:http";
import { parseArgs } from "node:util";

/** Help text of `switchboard call`. */
export const CALL_HELP = `Usage: switchboard call [--address <host:port>] <package.Service/Method> [<json>]

Calls a method of a running proxy through its HTTP/JSON default route
(POST /<package.Service>/<Method>) and prints the JSON answer.

  --address <host:port>   the proxy's front port (default 127.0.0.1:$HTTP_PORT, else 127.0.0.1:9000)
  <json>                  the request message as proto3 JSON (default {})

Example:
  switchboard call com.example.counter.CounterService/Increase '{"counterId":"c1","value":5}'
`;

/**
 * `switchboard call`: a small client for trying services by hand. Exit code 0 on a 2xx
 * answer; otherwise 1, with the HTTP status and the error body on stderr.
 */
export async function callCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: { address: { type: "string" }; help: { type: "boolean"; short: "h" } }; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({ args: [...argv], options: { address: { type: "string" }, help: { type: "boolean", short: "h" } }, allowPositionals: true });
  } catch (error) {
    process.stderr.write(`switchboard call: ${(error as Error).message}\n\n${CALL_HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(CALL_HELP);
    return 0;
  }
  const [method, body = "{}"] = parsed.positionals;
  if (method === undefined || !/^[\w.]+\/\w+$/.test(method)) {
    process.stderr.write(`switchboard call: expected <package.Service/Method>, got ${method === undefined ? "nothing" : `"${method}"`}\n\n${CALL_HELP}`);
    return 2;
  }
  try {
    JSON.parse(body);
  } catch (error) {
    process.stderr.write(`switchboard call: the request is not valid JSON: ${(error as Error).message}\n`);
    return 2;
  }
  const address = parsed.values.address ?? `127.0.0.1:${env.HTTP_PORT || "9000"}`;
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) {
    process.stderr.write(`switchboard call: --address must be host:port, got "${address}"\n`);
    return 2;
  }
  return new Promise<number>((resolve) => {
    const request = http.request(
      { host, port, method: "POST", path: `/${method}`, headers: { "content-type": "application/json", accept: "application/json" } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
            resolve(0);
          } else {
            process.stderr.write(`switchboard call: HTTP ${status}: ${text}\n`);
            resolve(1);
          }
        });
      },
    );
    request.on("error", (error) => {
      process.stderr.write(`switchboard call: cannot reach ${address}: ${error.message}\n`);
      resolve(1);
    });
    request.end(body);
  });
}
