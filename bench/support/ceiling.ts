/**
 * The raw batched-insert ceiling of a journal store (issue #3): how many events per
 * second the database itself takes when they arrive the way the proxy's group commit
 * writes them — 64 events (one per entity) per transaction, one transaction at a
 * time — with the same schema and durability settings, and no proxy in the way.
 * It runs inside the load-generator process, never at the same time as a load point.
 */
import Database from "better-sqlite3";
import { startCpuWindow } from "../load/cpu.js";
import { monotonicUs, type PointResult, type Variant, withSamples } from "../load/driver.js";
import { LatencyRecorder, nowMs } from "../load/latency.js";
import { persistedEvent } from "./messages.js";
import { proxyDist } from "./processes.js";

const TAG = "event-sourced-tck-model";

function result(
  label: string,
  events: number,
  batches: LatencyRecorder,
  seconds: number,
  cpu: ReturnType<ReturnType<typeof startCpuWindow>>,
  windowUs: readonly [number, number],
): PointResult {
  return withSamples(batches, undefined, {
    label,
    mode: "closed",
    concurrency: 1,
    seconds,
    completed: events,
    errors: 0,
    errorKinds: {},
    throughput: events / seconds,
    latency: batches.summary(),
    cpu,
    windowUs,
  });
}

/** The proxy's own SQLite schema migration (from its build), so the ceiling table is the same. */
async function proxySqliteMigrate(): Promise<(db: Database.Database, description: string) => void> {
  const url = new URL(`file://${proxyDist("store/sqlite/schema.js")}`).href;
  const mod = (await import(url)) as { migrate: (db: Database.Database, description: string) => void };
  return mod.migrate;
}

/**
 * SQLite: better-sqlite3 directly on `file`, WAL + synchronous=FULL, the proxy's schema;
 * each transaction (BEGIN IMMEDIATE … COMMIT) inserts one event for each of `entities`
 * journals. Latency figures are per transaction.
 */
export function sqliteCeiling(file: string, entities: number): Variant & { close(): void } {
  let db: Database.Database | undefined;
  let run: ((rows: number) => void) | undefined;
  const seqs = new Array<number>(entities).fill(0);
  const event = persistedEvent("x");
  const open = async () => {
    const migrate = await proxySqliteMigrate();
    db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    migrate(db, `sqlite:${file}`);
    const insert = db.prepare("INSERT INTO event_journal (persistence_id, seq_nr, type_url, payload, tag, written_at) VALUES (?, ?, ?, ?, ?, ?)");
    const txn = db.transaction((n: number) => {
      const now = Date.now();
      for (let k = 0; k < n; k++) {
        seqs[k] = (seqs[k] ?? 0) + 1;
        insert.run(`ceiling|e-${k}`, seqs[k], event.typeUrl, event.value, TAG, now);
      }
    });
    run = (n) => txn.immediate(n);
  };
  const label = `raw batched insert (better-sqlite3, ${entities} events per transaction)`;
  return {
    label,
    async run(durationMs, warmupMs) {
      if (run === undefined) await open();
      const go = run as (rows: number) => void;
      const until = nowMs() + warmupMs;
      while (nowMs() < until) go(entities);
      const batches = new LatencyRecorder();
      const cpuEnd = startCpuWindow([]);
      const usStart = monotonicUs();
      const start = nowMs();
      let events = 0;
      while (nowMs() - start < durationMs) {
        const t0 = nowMs();
        go(entities);
        batches.record(nowMs() - t0);
        events += entities;
      }
      const seconds = (nowMs() - start) / 1000;
      return result(label, events, batches, seconds, cpuEnd(), [usStart, monotonicUs()]);
    },
    close() {
      db?.close();
    },
  };
}

/**
 * PostgreSQL: one connection (pg), the proxy's `event_journal` table cloned with
 * `LIKE … INCLUDING ALL`; each transaction is one INSERT over `unnest` of `entities` rows.
 */
export function postgresCeiling(url: string, entities: number): Variant & { close(): Promise<void> } {
  type PgClient = { connect(): Promise<void>; query(text: string, values?: unknown[]): Promise<unknown>; end(): Promise<void> };
  let client: PgClient | undefined;
  const seqs = new Array<number>(entities).fill(0);
  const event = persistedEvent("x");
  const label = `raw batched insert (pg, ${entities} events per INSERT … unnest)`;
  const insertText =
    "INSERT INTO bench_event_journal (persistence_id, seq_nr, type_url, payload, tag) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[], $5::text[])";
  const batch = async () => {
    const ids: string[] = [];
    const seq: number[] = [];
    for (let k = 0; k < entities; k++) {
      seqs[k] = (seqs[k] ?? 0) + 1;
      ids.push(`ceiling|e-${k}`);
      seq.push(seqs[k] as number);
    }
    const types = ids.map(() => event.typeUrl);
    const payloads = ids.map(() => Buffer.from(event.value));
    const tags = ids.map(() => TAG);
    await (client as PgClient).query(insertText, [ids, seq, types, payloads, tags]);
  };
  return {
    label,
    async run(durationMs, warmupMs) {
      if (client === undefined) {
        const pg = (await import("pg")).default;
        client = new pg.Client({ connectionString: url }) as unknown as PgClient;
        await client.connect();
        await client.query("CREATE TABLE IF NOT EXISTS bench_event_journal (LIKE event_journal INCLUDING ALL)");
      }
      const until = nowMs() + warmupMs;
      while (nowMs() < until) await batch();
      const batches = new LatencyRecorder();
      const cpuEnd = startCpuWindow([]);
      const usStart = monotonicUs();
      const start = nowMs();
      let events = 0;
      while (nowMs() - start < durationMs) {
        const t0 = nowMs();
        await batch();
        batches.record(nowMs() - t0);
        events += entities;
      }
      const seconds = (nowMs() - start) / 1000;
      return result(label, events, batches, seconds, cpuEnd(), [usStart, monotonicUs()]);
    },
    async close() {
      await client?.end();
    },
  };
}
