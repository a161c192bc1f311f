/**
 * Real clusters for tests: one throw-away PostgreSQL, and N nodes, each a real
 * `switchboard start --cluster-port 0` process beside its own real user function process
 * (the TypeScript SDK's TCK user function), all on loopback.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { SWITCHBOARD_BIN } from "../support/proxy-process.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TCK_USER_FUNCTION = path.join(ROOT, "test/conformance/supports/typescript-sdk/main.ts");

/** A process with its output kept. */
interface Proc {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<unknown>;
}

function spawnProc(command: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return { child, output: () => out, exited: once(child, "exit") };
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET /ready on a front port: its status code (0 when the port does not answer). */
export function readyStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/ready", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => {
      req.destroy();
      resolve(0);
    });
    req.end();
  });
}

/** One node: a proxy and its user function. */
export interface ClusterNodeProcess {
  readonly nodeId: string;
  /** The proxy's front port. */
  readonly port: number;
  readonly proxy: Proc;
  readonly userFunction: Proc;
  alive(): boolean;
  /** kill -9 of the proxy (its user function is stopped too, as a pod's sidecar would be). */
  kill(): Promise<void>;
  /** SIGTERM to the proxy; resolves to its exit code once it exited. */
  stop(): Promise<number | null>;
  /** SIGSTOP / SIGCONT of the proxy or its user function. */
  pause(which?: "proxy" | "userFunction"): void;
  resume(which?: "proxy" | "userFunction"): void;
}

/** Options of {@link startNode}. */
export interface StartNodeOptions {
  readonly nodeId: string;
  readonly databaseUrl: string;
  readonly leaseTtlMs: number;
  /** Extra `switchboard start` flags. */
  readonly extraArgs?: readonly string[];
  /** Wait for /ready (default true). */
  readonly waitReady?: boolean;
  /** The user function's script (default: the TypeScript SDK's TCK user function). */
  readonly userFunction?: string;
}

/** The counter example: a user function that offers other services than the TCK one. */
export const COUNTER_USER_FUNCTION = path.join(ROOT, "examples/counter/src/main.ts");

/** Starts a user function and a cluster node beside it; resolves once the node's /ready answers 200. */
export async function startNode(options: StartNodeOptions): Promise<ClusterNodeProcess> {
  const userFunction = spawnProc(process.execPath, ["--import", "tsx", options.userFunction ?? TCK_USER_FUNCTION], { HOST: "127.0.0.1", PORT: "0" });
  const ufPort = await waitFor(`the user function of ${options.nodeId}`, 30_000, () => {
    if (!alive(userFunction.child)) throw new Error(`user function exited:\n${userFunction.output()}`);
    const match = /listening on [^\s]+:(\d+)/.exec(userFunction.output());
    return match ? Number(match[1]) : undefined;
  });
  const proxy = spawnProc(
    process.execPath,
    [
      SWITCHBOARD_BIN,
      "start",
      "--bind",
      "127.0.0.1",
      "--http-port",
      "0",
      "--admin-port",
      "0",
      "--user-function-port",
      String(ufPort),
      "--store",
      options.databaseUrl,
      "--cluster-port",
      "0",
      "--node-id",
      options.nodeId,
      "--lease-ttl",
      String(options.leaseTtlMs),
      ...(options.extraArgs ?? []),
    ],
    { LOG_LEVEL: "info" },
  );
  const port = await waitFor(`${options.nodeId} to discover its user function`, 30_000, () => {
    if (!alive(proxy.child)) throw new Error(`${options.nodeId} exited:\n${proxy.output()}`);
    const match = /switchboard ready on [^\s]+:(\d+) services:/.exec(proxy.output());
    return match ? Number(match[1]) : undefined;
  });
  const node: ClusterNodeProcess = {
    nodeId: options.nodeId,
    port,
    proxy,
    userFunction,
    alive: () => alive(proxy.child),
    async kill() {
      if (alive(proxy.child)) {
        proxy.child.kill("SIGKILL");
        await proxy.exited;
      }
      if (alive(userFunction.child)) {
        userFunction.child.kill("SIGKILL");
        await userFunction.exited;
      }
    },
    async stop() {
      let code: number | null = proxy.child.exitCode;
      if (alive(proxy.child)) {
        proxy.child.kill("SIGTERM");
        [code] = (await proxy.exited) as [number | null];
      }
      if (alive(userFunction.child)) {
        userFunction.child.kill("SIGTERM");
        await userFunction.exited;
      }
      return code;
    },
    pause(which = "proxy") {
      (which === "proxy" ? proxy : userFunction).child.kill("SIGSTOP");
    },
    resume(which = "proxy") {
      (which === "proxy" ? proxy : userFunction).child.kill("SIGCONT");
    },
  };
  if (options.waitReady !== false) {
    await waitFor(`${options.nodeId} /ready`, 30_000, async () => {
      if (!alive(proxy.child)) throw new Error(`${options.nodeId} exited:\n${proxy.output()}`);
      return (await readyStatus(port)) === 200 ? true : undefined;
    });
  }
  return node;
}

/** Reads the database directly: leases, members, journals and values. */
export class ClusterDatabase {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
  }

  /** Unexpired shard leases by shard number: owner and token. */
  async shardOwners(): Promise<Map<number, { owner: string; token: number }>> {
    const { rows } = await this.pool.query<{ name: string; owner: string; token: string }>(
      "SELECT name, owner, token FROM cluster_lease WHERE name LIKE 'shard/%' AND expires_at > now()",
    );
    return new Map(rows.map((r) => [Number(r.name.slice("shard/".length)), { owner: r.owner, token: Number(r.token) }]));
  }

  /** Unexpired leases of any name. */
  async leases(): Promise<{ name: string; owner: string; token: number }[]> {
    const { rows } = await this.pool.query<{ name: string; owner: string; token: string }>(
      "SELECT name, owner, token FROM cluster_lease WHERE expires_at > now()",
    );
    return rows.map((r) => ({ ...r, token: Number(r.token) }));
  }

  /** Every journal event of `journalIds` prefix, by journal id, in seq order. */
  async journals(persistenceId: string): Promise<Map<string, { seq: number; payload: Buffer }[]>> {
    const { rows } = await this.pool.query<{ persistence_id: string; seq_nr: string; payload: Buffer }>(
      "SELECT persistence_id, seq_nr, payload FROM event_journal WHERE persistence_id LIKE $1 ORDER BY persistence_id, seq_nr",
      [`${persistenceId}|%`],
    );
    const out = new Map<string, { seq: number; payload: Buffer }[]>();
    for (const row of rows) {
      const entity = row.persistence_id.slice(persistenceId.length + 1);
      const list = out.get(entity) ?? [];
      list.push({ seq: Number(row.seq_nr), payload: row.payload });
      out.set(entity, list);
    }
    return out;
  }

  /** The stored value-entity payloads of a persistence id, by entity id. */
  async values(persistenceId: string): Promise<Map<string, Buffer>> {
    const { rows } = await this.pool.query<{ entity_id: string; payload: Buffer }>("SELECT entity_id, payload FROM value_entity WHERE persistence_id = $1", [
      persistenceId,
    ]);
    return new Map(rows.map((r) => [r.entity_id, r.payload]));
  }

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pool.query<R>(sql, params)).rows;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export { waitFor };
