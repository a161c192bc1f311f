/**
 * Throw-away PostgreSQL servers for tests: `initdb` into a fresh temp directory,
 * `pg_ctl start` on 127.0.0.1 and a free port, and `pg_ctl stop -m immediate` plus
 * removal of the directory afterwards.
 *
 * Uses the Debian `postgresql-15` binaries in /usr/lib/postgresql/15/bin (CI installs
 * the package with apt when missing). `initdb` refuses to run as root, so under root
 * every server command runs as the `postgres` user through `runuser`, on a directory
 * that user owns; as any other user the commands run directly.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** Where Debian's `postgresql-15` puts the server binaries. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * Keep `fsync` on (default off). Off is what tests want: it survives a crash of the
   * server process, just not of the machine, and is much faster on a slow disk.
   */
  readonly fsync?: boolean;
}

/** A running throw-away server. */
export interface PostgresServer {
  /** URL of a fresh, empty database `switchboard` made for this server. */
  readonly url: string;
  readonly port: number;
  /** Creates another empty database and returns its URL (one per test keeps tests apart). */
  createDatabase(): Promise<string>;
  /** Stops the server abruptly (`-m immediate`), keeping its data: connections drop, new ones are refused. */
  halt(): Promise<void>;
  /** Starts a halted server again, on the same port and data. */
  resume(): Promise<void>;
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Servers still running, stopped synchronously if the test process exits without cleaning up. */
const running = new Set<{ dir: string; data: string }>();
let exitHookInstalled = false;

/**
 * Starts a throw-away PostgreSQL 15 server listening only on 127.0.0.1, creates a
 * database `switchboard` in it, and resolves once it accepts connections.
 *
 * @example
 * const server = await startPostgres();
 * try { const store = await createPostgresStore({ url: server.url }); … } finally { await server.stop(); }
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  if (!existsSync(join(PG_BIN, "initdb"))) {
    throw new Error(`PostgreSQL 15 binaries not found in ${PG_BIN}: install the Debian package postgresql-15`);
  }
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "switchboard-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  const entry = { dir, data };
  running.add(entry);
  installExitHook();
  try {
    if (asRoot) run("chown", ["-R", "postgres:postgres", dir]);
    serverCommand(asRoot, "initdb", ["-D", data, "-N", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"]);

    let port = 0;
    const pgCtlStart = () =>
      serverCommand(asRoot, "pg_ctl", [
        "-D",
        data,
        "-l",
        log,
        "-w",
        "-t",
        "60",
        "-o",
        [
          "-c listen_addresses=127.0.0.1",
          `-c port=${port}`,
          `-c unix_socket_directories='${dir}'`,
          `-c fsync=${options.fsync === true ? "on" : "off"}`,
          "-c max_connections=200",
        ].join(" "),
        "start",
      ]);
    // The free port is only free until someone takes it: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        pgCtlStart();
        break;
      } catch (err) {
        if (attempt >= 3 || !/could not (bind|create listen)|already in use/i.test(tail(log))) throw err;
      }
    }

    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await waitForConnections(adminUrl);
    let databases = 0;
    const createDatabase = async (): Promise<string> => {
      databases += 1;
      const name = `switchboard_${databases}`;
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    };
    const url = await createDatabase();
    let stopped = false;

    return {
      url,
      port,
      createDatabase,
      async halt() {
        serverCommand(asRoot, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      },
      async resume() {
        pgCtlStart();
        await waitForConnections(adminUrl);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        stopServer(entry, asRoot);
      },
    };
  } catch (err) {
    const detail = tail(log);
    stopServer(entry, asRoot);
    throw new Error(`could not start PostgreSQL: ${err instanceof Error ? err.message : String(err)}\n${detail}`, { cause: err });
  }
}

/** Stops the server if it runs and removes its directory; synchronous, so it also works in an 'exit' hook. */
function stopServer(entry: { dir: string; data: string }, asRoot: boolean): void {
  running.delete(entry);
  if (existsSync(join(entry.data, "postmaster.pid"))) {
    try {
      serverCommand(asRoot, "pg_ctl", ["-D", entry.data, "-m", "immediate", "-w", "stop"]);
    } catch {
      // Already gone; removing the directory is all that is left.
    }
  }
  rmSync(entry.dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test run that dies (or forgets `stop()`) must not leave servers behind.
  process.on("exit", () => {
    const asRoot = process.getuid?.() === 0;
    for (const entry of [...running]) stopServer(entry, asRoot);
  });
}

/** Runs a server binary, as user postgres when we are root. Throws with its output on failure. */
function serverCommand(asRoot: boolean, binary: string, args: readonly string[]): void {
  const path = join(PG_BIN, binary);
  if (asRoot) run("runuser", ["-u", "postgres", "--", path, ...args]);
  else run(path, args);
}

function run(command: string, args: readonly string[]): void {
  // Run from a directory every user can read: postgres cannot stat a root-only cwd.
  const result = spawnSync(command, args, { cwd: "/", encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}: ${result.stderr}${result.stdout}`);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Waits until the server answers a query over TCP (pg_ctl -w checks the socket file, not TCP). */
async function waitForConnections(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** The last lines of the server log, for error messages. */
function tail(log: string): string {
  try {
    return readFileSync(log, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "";
  }
}
