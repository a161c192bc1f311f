import * as http from "node:http";
import { parseArgs } from "node:util";

/** Help text of `switchboard inspect`. */
export const INSPECT_HELP = `Usage: switchboard inspect <package.Service> [<entity id>] [--events] [options]

Reads entity state from a running proxy's admin port, decoded through the user
function's descriptors.

  switchboard inspect <service>               the service's entity ids (--prefix, --limit)
  switchboard inspect <service> <id>          the entity's state as proto3 JSON
  switchboard inspect <service> <id> --events an event-sourced entity's journal

Output is pretty on a terminal and one JSON value per line when piped. Exit code 1,
with the reason on stderr, when the service or entity is not found.

  --admin-address <host:port>  the admin port (default 127.0.0.1:$ADMIN_PORT, else 127.0.0.1:9001)
  --admin-token <token>        bearer token (default $ADMIN_TOKEN)
  --prefix <prefix>            only entity ids starting with this
  --limit <n>                  at most this many ids or events (default: all)
`;

const OPTIONS = {
  "admin-address": { type: "string" },
  "admin-token": { type: "string" },
  events: { type: "boolean" },
  prefix: { type: "string" },
  limit: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Answer {
  readonly status: number;
  readonly body: { [key: string]: Json };
}

class InspectError extends Error {}

function get(host: string, port: number, path: string, token: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { accept: "application/json" };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const request = http.get({ host, port, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Answer["body"] });
        } catch {
          reject(new InspectError(`the admin port answered HTTP ${response.statusCode} with no JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    request.on("error", (error) => reject(new InspectError(`cannot reach the admin port ${host}:${port}: ${error.message}`)));
  });
}

/** The payload of a decoded `Any` from the admin API: its JSON, or the undecodable bytes with the reason. */
function payloadOf(decoded: Json): Json {
  if (decoded !== null && typeof decoded === "object" && !Array.isArray(decoded) && "value" in decoded) return decoded.value ?? null;
  return decoded;
}

/**
 * `switchboard inspect`: entity ids, state and journals from the admin port, as JSON
 * (pretty on a terminal, one line per value when piped).
 */
export async function inspectCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  } catch (error) {
    process.stderr.write(`switchboard inspect: ${(error as Error).message}\n\n${INSPECT_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(INSPECT_HELP);
    return 0;
  }
  const [service, id, ...extra] = positionals;
  if (service === undefined || extra.length > 0 || (values.events && id === undefined)) {
    process.stderr.write(
      `switchboard inspect: expected <package.Service> [<entity id>]${values.events ? " with an entity id for --events" : ""}\n\n${INSPECT_HELP}`,
    );
    return 2;
  }
  const limit = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
  if (!(limit >= 1) || (values.limit !== undefined && !/^\d+$/.test(values.limit))) {
    process.stderr.write(`switchboard inspect: --limit must be a positive whole number, got "${values.limit}"\n`);
    return 2;
  }
  const address = values["admin-address"] ?? `127.0.0.1:${env.ADMIN_PORT || "9001"}`;
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`switchboard inspect: --admin-address must be host:port, got "${address}"\n`);
    return 2;
  }
  const token = values["admin-token"] ?? (env.ADMIN_TOKEN || undefined);
  const tty = process.stdout.isTTY === true;
  const print = (value: Json) => process.stdout.write(`${tty ? JSON.stringify(value, null, 2) : JSON.stringify(value)}\n`);
  const call = async (path: string): Promise<Answer["body"]> => {
    const answer = await get(host, port, path, token);
    if (answer.status !== 200) throw new InspectError(typeof answer.body.error === "string" ? answer.body.error : `HTTP ${answer.status}`);
    return answer.body;
  };
  const base = `/v1/entities/${encodeURIComponent(service)}`;
  try {
    if (id === undefined) {
      const ids: string[] = [];
      let after: string | null = null;
      do {
        const query = new URLSearchParams({ prefix: values.prefix ?? "", limit: String(Math.min(1000, limit - ids.length)) });
        if (after !== null) query.set("after", after);
        const page = await call(`${base}?${query}`);
        ids.push(...(page.entities as string[]));
        after = page.next as string | null;
      } while (after !== null && ids.length < limit);
      if (tty)
        process.stdout.write(
          `${ids.length} entit${ids.length === 1 ? "y" : "ies"} of ${service}${values.prefix ? ` starting with "${values.prefix}"` : ""}\n${ids.map((i) => `  ${i}\n`).join("")}`,
        );
      else print(ids);
      return 0;
    }
    const entityPath = `${base}/${encodeURIComponent(id)}`;
    if (!values.events) {
      const entity = await call(entityPath);
      if (entity.kind === "event-sourced") {
        const snapshot = entity.snapshot as { seq: number; state: Json } | null;
        print({
          sequenceNumber: entity.sequenceNumber ?? 0,
          snapshotSequenceNumber: snapshot?.seq ?? null,
          snapshot: snapshot === null ? null : payloadOf(snapshot.state),
        });
      } else {
        print(payloadOf(entity.state ?? null));
      }
      return 0;
    }
    let from: number | null = 1;
    let count = 0;
    const rows: string[][] = [];
    while (from !== null && count < limit) {
      const page = await call(`${entityPath}/events?from=${from}&limit=${Math.min(1000, limit - count)}`);
      for (const event of page.events as { seq: number; writtenAt: string | null; event: { type: string } & { [key: string]: Json } }[]) {
        count++;
        const line = { seq: event.seq, writtenAt: event.writtenAt, type: event.event.type, event: payloadOf(event.event) };
        if (tty) rows.push([String(event.seq), event.writtenAt ?? "", event.event.type, JSON.stringify(line.event)]);
        else print(line);
      }
      from = page.next as number | null;
    }
    if (tty) {
      const header = ["seq", "written at", "type", "event"];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (i < 3 ? (r[i] ?? "").length : 0))));
      const format = (r: string[]) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell)).join("  ");
      process.stdout.write(`${[format(header), ...rows.map(format)].join("\n")}\n`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof InspectError)) throw error;
    process.stderr.write(`switchboard inspect: ${error.message}\n`);
    return 1;
  }
}
