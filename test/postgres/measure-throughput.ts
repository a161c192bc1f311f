/**
 * Measures durable append throughput of the PostgreSQL store: N concurrent writers,
 * each appending one 200-byte event per command to its own journal, for a few
 * seconds, against a throw-away server with fsync on and with fsync off. For
 * comparison it runs the same load without group commit: one autocommit INSERT per
 * command through a plain `pg` pool of 8 (one WAL flush per command).
 *
 * Not part of the test suite. Run:
 *   node --import tsx test/postgres/measure-throughput.ts [writers=64] [seconds=3]
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createPostgresStore } from "../../packages/proxy/src/store/postgres/index.js";
import { startPostgres } from "./pg-server.js";
import { LOCAL_WRITER } from "../../packages/proxy/src/store/types.js";

const writers = Number(process.argv[2] ?? 64);
const seconds = Number(process.argv[3] ?? 3);

interface Result {
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly extra: string;
}

/** Runs `writers` loops of `command` for `seconds`; returns commands/s and latency percentiles. */
async function load(command: (writer: number, n: number) => Promise<void>): Promise<Omit<Result, "extra">> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let n = 1; performance.now() < end; n++) {
        const start = performance.now();
        await command(w, n);
        latencies.push(performance.now() - start);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSecond: latencies.length / seconds, p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function measure(fsync: boolean): Promise<{ store: Result; naive: Result }> {
  const server = await startPostgres({ fsync });
  try {
    const store = await createPostgresStore({ url: await server.createDatabase() });
    const payload = randomBytes(200);
    let storeResult: Result;
    try {
      const run = `r${Date.now()}`;
      const stats = store.stats;
      const measured = await load((w, n) =>
        store.append({ journalId: `${run}|${w}`, tag: "bench", firstSeq: n, events: [{ typeUrl: "type.bench/E", value: payload }], writer: LOCAL_WRITER }),
      );
      const transactions = store.stats.transactions - stats.transactions;
      storeResult = {
        ...measured,
        extra: `${transactions} transactions, ${((measured.perSecond * seconds) / Math.max(1, transactions)).toFixed(1)} appends per transaction`,
      };
    } finally {
      await store.close();
    }

    const url = await server.createDatabase();
    const pool = new pg.Pool({ connectionString: url, max: 8 });
    try {
      await pool.query(
        "CREATE TABLE event_journal (ordering bigserial, persistence_id text, seq_nr bigint, type_url text, payload bytea, tag text, written_at timestamptz DEFAULT now(), PRIMARY KEY (persistence_id, seq_nr))",
      );
      const measured = await load((w, n) =>
        pool
          .query({
            name: "naive_insert",
            text: "INSERT INTO event_journal (persistence_id, seq_nr, type_url, payload, tag) VALUES ($1, $2, $3, $4, $5)",
            values: [`naive|${w}`, n, "type.bench/E", payload, "bench"],
          })
          .then(() => undefined),
      );
      return { store: storeResult, naive: { ...measured, extra: "pool of 8, one autocommit INSERT per command" } };
    } finally {
      await pool.end();
    }
  } finally {
    await server.stop();
  }
}

const format = (r: Result) =>
  `${Math.round(r.perSecond).toLocaleString("en")} appends/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (${r.extra})`;

for (const fsync of [true, false]) {
  const { store, naive } = await measure(fsync);
  process.stdout.write(`fsync=${fsync ? "on " : "off"}, ${writers} writers, ${seconds} s\n`);
  process.stdout.write(`  postgres store (group commit): ${format(store)}\n`);
  process.stdout.write(`  one transaction per command:   ${format(naive)}\n`);
}
