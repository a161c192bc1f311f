import { parseArgs } from "node:util";
import { frontRequest } from "./front-request.js";
import { defaultAddress, parseAddress } from "./parse-address.js";

/** Help text of `switchboard call`. */
export const CALL_HELP = `Usage: switchboard call [--address <host:port>|<url>] <package.Service/Method> [<json>]

Calls a method of a running proxy through its HTTP/JSON default route
(POST /<package.Service>/<Method>) and prints the JSON answer.

  --address <address>     the proxy's front port: host:port or http://host:port
                          (default 127.0.0.1:$HTTP_PORT, else 127.0.0.1:9000)
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
  const address = parseAddress(defaultAddress(parsed.values.address, env));
  if (typeof address === "string") {
    process.stderr.write(`switchboard call: ${address}\n`);
    return 2;
  }
  const answer = await frontRequest(address, "POST", `/${method}`, body);
  if (answer.kind === "unreachable") {
    process.stderr.write(`switchboard call: cannot reach the proxy: ${answer.reason}\n`);
    return 1;
  }
  if (answer.status >= 200 && answer.status < 300) {
    process.stdout.write(answer.text.endsWith("\n") ? answer.text : `${answer.text}\n`);
    return 0;
  }
  process.stderr.write(`switchboard call: HTTP ${answer.status}: ${answer.text}${answer.text.endsWith("\n") ? "" : "\n"}`);
  return 1;
}
