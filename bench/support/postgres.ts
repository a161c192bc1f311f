/**
 * A throw-away PostgreSQL 15 server for the benchmark: `initdb` + `pg_ctl` as the
 * `postgres` user (initdb refuses root) on a data directory under bench/.tmp, listening
 * on 127.0.0.1 only. Durable settings: fsync=on, synchronous_commit=on (the defaults;
 * only shared_buffers is raised; docs/design.md#benchmark-servers).
 */
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdirSync } from "node:fs";
import { userInfo } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./processes.js";

const run = promisify(execFile);
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** A running server. */
export interface PostgresServer {
  readonly url: string;
  readonly port: number;
  /** The postmaster's pid (its backends are separate processes). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Why a server could not be started, naming the step. */
export class PostgresUnavailable extends Error {}

function idsOf(user: string): Promise<{ uid: number; gid: number }> {
  return Promise.all([run("id", ["-u", user]), run("id", ["-g", user])]).then(([u, g]) => ({ uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) }));
}

export async function startPostgres(dir: string): Promise<PostgresServer> {
  if (!existsSync(path.join(PG_BIN, "initdb"))) throw new PostgresUnavailable(`no PostgreSQL 15 binaries in ${PG_BIN}`);
  const asPostgres = userInfo().uid === 0;
  const data = path.join(dir, "pgdata");
  mkdirSync(data, { recursive: true });
  const exec = async (binary: string, args: string[]) => {
    const command = asPostgres ? "runuser" : path.join(PG_BIN, binary);
    const argv = asPostgres ? ["-u", "postgres", "--", path.join(PG_BIN, binary), ...args] : args;
    return run(command, argv, { timeout: 120_000 });
  };
  try {
    if (asPostgres) {
      const { uid, gid } = await idsOf("postgres");
      chownSync(dir, uid, gid);
      chownSync(data, uid, gid);
    }
    await exec("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-instructions", "-E", "UTF8"]);
  } catch (error) {
    throw new PostgresUnavailable(`initdb failed: ${(error as Error).message.split("\n")[0]}`);
  }
  const port = await freePort();
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c shared_buffers=256MB",
    "-c fsync=on",
    "-c synchronous_commit=on",
    "-c max_connections=200",
  ].join(" ");
  try {
    await exec("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "postgres.log"), "-w", "-t", "60", "start"]);
  } catch (error) {
    throw new PostgresUnavailable(`pg_ctl start failed: ${(error as Error).message.split("\n")[0]}`);
  }
  const { readFileSync } = await import("node:fs");
  const pid = Number(readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    async stop() {
      await exec("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]).catch(() => {});
    },
  };
}
