import { parseArgs } from "node:util";
import type { ListedService } from "../ingress/http/service-listing.js";
import { SERVICE_LISTING_PATH } from "../ingress/http/service-listing.js";
import { frontRequest } from "./front-request.js";
import { defaultAddress, parseAddress } from "./parse-address.js";

/** Help text of `switchboard list`. */
export const LIST_HELP = `Usage: switchboard list [--address <host:port>|<url>] [--json]

Lists what a running proxy serves: one line per service, its full name first,
then its entity kind and its methods; each method's HTTP routes follow, indented.

  --address <address>   the proxy's front port (default 127.0.0.1:$HTTP_PORT, else 127.0.0.1:9000)
  --json                print the listing as JSON (GET ${SERVICE_LISTING_PATH})
`;

/** Renders the listing as text: `<service> <kind> <Method>, <Method>` then `  <Method>  <VERB /route>` lines. */
export function formatListing(services: readonly ListedService[]): string {
  const lines: string[] = [];
  for (const service of services) {
    lines.push(`${service.name} ${service.kind} ${service.methods.map((m) => m.name).join(", ")}`);
    for (const method of service.methods) {
      for (const route of method.http) lines.push(`  ${method.name}  ${route}`);
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** `switchboard list`: exit 0 with the listing, 1 when the proxy cannot answer, 2 on bad usage. */
export async function listCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  let values: { address?: string | undefined; json?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { address: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`switchboard list: ${(error as Error).message}\n\n${LIST_HELP}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(LIST_HELP);
    return 0;
  }
  const address = parseAddress(defaultAddress(values.address, env));
  if (typeof address === "string") {
    process.stderr.write(`switchboard list: ${address}\n`);
    return 2;
  }
  const answer = await frontRequest(address, "GET", SERVICE_LISTING_PATH);
  if (answer.kind === "unreachable") {
    process.stderr.write(`switchboard list: cannot reach the proxy: ${answer.reason}\n`);
    return 1;
  }
  if (answer.status !== 200) {
    process.stderr.write(`switchboard list: HTTP ${answer.status}: ${answer.text.trim()}\n`);
    return 1;
  }
  if (values.json === true) {
    process.stdout.write(answer.text);
    return 0;
  }
  process.stdout.write(formatListing((JSON.parse(answer.text) as { services: ListedService[] }).services));
  return 0;
}
