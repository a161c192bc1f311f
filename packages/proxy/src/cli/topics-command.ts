import * as http from "node:http";
import { parseArgs } from "node:util";
import { defaultAddress, type FrontAddress, parseAddress } from "./parse-address.js";

/** Help text of `switchboard topics`. */
export const TOPICS_HELP = `Usage:
  switchboard topics publish <topic> --type <package.Message> [<json>] [options]
  switchboard topics tail <topic> [--from <offset> | --group <name>] [--count <n>] [options]
  switchboard topics replay <topic> --group <name> (--from-offset <n> | --from-time <ISO 8601>) [options]

publish sends one CloudEvent (binary mode) to a running proxy's embedded broker:
the message as proto3 JSON (the argument, else stdin), its type as the full
protobuf message name. Prints the offset it was stored at.

tail prints the topic's messages as they arrive, one structured CloudEvent (JSON)
per line: after --from (default 0: from the start) or after a consumer group's
stored offset (--group, which then advances). Runs until interrupted, or until
--count messages were printed.

replay sets a consumer group's offset through the admin port: the group next
consumes the messages after offset n (0: from the first retained message), or
those published at or after the time. A consumer of the group running in the
proxy finishes the batch in flight, then goes on from there. Prints the old and
the new offset.

  --address <address>   the proxy's front port (default 127.0.0.1:$HTTP_PORT, else 127.0.0.1:9000)
  --admin-address <address>  replay: the admin port (default 127.0.0.1:$ADMIN_PORT, else 127.0.0.1:9001)
  --admin-token <token>      replay: the admin port's bearer token (default $ADMIN_TOKEN)
  --id <id>             the event id (default: a random UUID)
  --source <source>     the event source (default: switchboard-cli)
`;

const OPTIONS = {
  address: { type: "string" },
  type: { type: "string" },
  id: { type: "string" },
  source: { type: "string" },
  from: { type: "string" },
  group: { type: "string" },
  count: { type: "string" },
  "admin-address": { type: "string" },
  "admin-token": { type: "string" },
  "from-offset": { type: "string" },
  "from-time": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `switchboard topics publish|tail|replay`: exit 0 on success, 1 when the proxy refuses or cannot be reached, 2 on bad usage. */
export async function topicsCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  stdin: () => Promise<string> = readStdin,
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(TOPICS_HELP);
    return 0;
  }
  const [action, topic, data, ...extra] = positionals;
  if (action !== "publish" && action !== "tail" && action !== "replay")
    return usage(action === undefined ? "say publish, tail or replay" : `unknown action "${action}"`);
  if (topic === undefined || topic === "") return usage(`${action} needs a topic`);
  if (extra.length > 0 || (action !== "publish" && data !== undefined)) return usage(`unexpected argument "${extra[0] ?? data}"`);
  if (action === "replay") return replay(topic, values, env);
  const address = parseAddress(defaultAddress(values.address, env));
  if (typeof address === "string") return usage(address);
  const path = `/v1/topics/${encodeURIComponent(topic)}`;

  if (action === "publish") {
    if (values.type === undefined || values.type === "") return usage("publish needs --type <package.Message> (the full protobuf message name)");
    const body = data ?? (await stdin());
    const headers = {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": values.id ?? crypto.randomUUID(),
      "ce-source": values.source ?? "switchboard-cli",
      "ce-type": values.type,
    };
    const answer = await send(address, "POST", path, headers, body);
    if (answer.kind === "unreachable") return fail(`cannot reach the proxy: ${answer.reason}`);
    if (answer.status !== 202) return fail(`HTTP ${answer.status}: ${answer.text.trim()}`);
    const offset = (JSON.parse(answer.text) as { offset?: number }).offset;
    process.stdout.write(`published to ${topic} at offset ${offset}\n`);
    return 0;
  }

  if (values.from !== undefined && values.group !== undefined) return usage("give --from or --group, not both");
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && (!Number.isSafeInteger(count) || count < 1)) return usage(`--count must be a positive whole number, got "${values.count}"`);
  const query = values.group !== undefined ? `group=${encodeURIComponent(values.group)}` : `from=${encodeURIComponent(values.from ?? "0")}`;
  return tail(address, `${path}?${query}`, count);
}

/** `topics replay`: one POST to the admin port's consumer-group offset endpoint. */
async function replay(
  topic: string,
  values: { readonly [name: string]: string | boolean | undefined },
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const group = values.group;
  const fromOffset = values["from-offset"];
  const fromTime = values["from-time"];
  if (typeof group !== "string" || group === "") return usage("replay needs --group <name> (the consumer group to replay)");
  if ((fromOffset === undefined) === (fromTime === undefined)) return usage("replay needs --from-offset <n> or --from-time <ISO 8601>, one of them");
  let request: { offset: number } | { time: string };
  if (typeof fromOffset === "string") {
    if (!/^\d+$/.test(fromOffset) || !Number.isSafeInteger(Number(fromOffset)))
      return usage(`--from-offset must be a whole number of at least 0, got "${fromOffset}"`);
    request = { offset: Number(fromOffset) };
  } else {
    const time = String(fromTime);
    if (!/^\d{4}-\d{2}-\d{2}(T|$)/.test(time) || Number.isNaN(Date.parse(time)))
      return usage(`--from-time must be an ISO 8601 time such as 2026-12-03T10:00:00Z, got "${time}"`);
    request = { time };
  }
  const admin = parseAddress(
    typeof values["admin-address"] === "string" ? values["admin-address"] : `127.0.0.1:${env.ADMIN_PORT || "9001"}`,
    "--admin-address",
  );
  if (typeof admin === "string") return usage(admin);
  const token = typeof values["admin-token"] === "string" ? values["admin-token"] : env.ADMIN_TOKEN;
  const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", accept: "application/json" };
  if (token !== undefined && token !== "") headers.authorization = `Bearer ${token}`;
  const path = `/v1/topics/${encodeURIComponent(topic)}/groups/${encodeURIComponent(group)}/offset`;
  const answer = await send(admin, "POST", path, headers, JSON.stringify(request));
  if (answer.kind === "unreachable") return fail(`cannot reach the admin port: ${answer.reason}`);
  let body: { error?: string; offset?: number; previousOffset?: number };
  try {
    body = JSON.parse(answer.text) as typeof body;
  } catch {
    return fail(`HTTP ${answer.status}: ${answer.text.trim()}`);
  }
  if (answer.status !== 200) return fail(`HTTP ${answer.status}: ${body.error ?? answer.text.trim()}`);
  process.stdout.write(
    `group ${group} of topic ${topic}: offset ${body.previousOffset} -> ${body.offset}; it consumes from offset ${(body.offset ?? 0) + 1} on\n`,
  );
  return 0;
}

function usage(message: string): number {
  process.stderr.write(`switchboard topics: ${message}\n\n${TOPICS_HELP}`);
  return 2;
}

function fail(message: string): number {
  process.stderr.write(`switchboard topics: ${message}\n`);
  return 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

type Answer = { readonly kind: "answer"; readonly status: number; readonly text: string } | { readonly kind: "unreachable"; readonly reason: string };

function unreachable(address: FrontAddress, error: NodeJS.ErrnoException): string {
  return error.code === "ECONNREFUSED" ? `connection refused at ${address.host}:${address.port} — is the proxy running?` : error.message;
}

function send(address: FrontAddress, method: string, path: string, headers: http.OutgoingHttpHeaders, body: string): Promise<Answer> {
  return new Promise((resolve) => {
    const request = http.request({ host: address.host, port: address.port, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("end", () => resolve({ kind: "answer", status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", (error) => resolve({ kind: "unreachable", reason: error.message }));
    });
    request.on("error", (error: NodeJS.ErrnoException) => resolve({ kind: "unreachable", reason: unreachable(address, error) }));
    request.end(body);
  });
}

/** Prints each event's `data:` line until `count` were printed, the stream ends, or the process is interrupted. */
function tail(address: FrontAddress, path: string, count: number | undefined): Promise<number> {
  return new Promise((resolve) => {
    let printed = 0;
    let buffer = "";
    const request = http.get({ host: address.host, port: address.port, path, headers: { accept: "text/event-stream" } }, (response) => {
      if (response.statusCode !== 200) {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => resolve(fail(`HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString("utf8").trim()}`)));
        return;
      }
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
          buffer = buffer.slice(end + 2);
          if (data === undefined) continue;
          process.stdout.write(`${data}\n`);
          printed++;
          if (count !== undefined && printed >= count) {
            request.destroy();
            resolve(0);
            return;
          }
        }
      });
      response.on("end", () => resolve(0));
    });
    request.on("error", (error: NodeJS.ErrnoException) => {
      if (count !== undefined && printed >= count) return;
      resolve(fail(`cannot reach the proxy: ${unreachable(address, error)}`));
    });
  });
}
