import type { Pool } from "pg";
import { Code, SwitchboardError } from "../../errors/index.js";
import { messageOf } from "../group-commit.js";
import { type EntityTable, type InspectedEvent, JOURNAL_ID_SEPARATOR, type StoreInspector } from "../inspector.js";

/** Options of {@link createPostgresInspector}. */
export interface PostgresInspectorOptions {
  /** The store's connection string. */
  readonly url: string;
  /** How long one inspection query may run before it is given up, in ms (default 10000). */
  readonly queryTimeoutMs?: number | undefined;
}

/**
 * Listing queries per table. Ids compare and sort with `COLLATE "C"` (byte order, which
 * for UTF-8 is code-point order) whatever the database's collation, so pages follow one
 * another the same way on every store. The collation keeps the primary key index from
 * ordering the ids: a listing reads and sorts the ids of one persistence id, and for
 * journals the distinct ids of the events under the prefix; that is the price of an
 * inspection query, never paid on the write path.
 */
const LIST_SQL: Readonly<Record<EntityTable, string>> = {
  value: `SELECT entity_id AS id FROM value_entity
          WHERE persistence_id = $1 AND starts_with(entity_id, $2) AND entity_id COLLATE "C" > $3
          ORDER BY entity_id COLLATE "C" LIMIT $4`,
  crdt: `SELECT entity_id AS id FROM crdt_state
         WHERE persistence_id = $1 AND starts_with(entity_id, $2) AND entity_id COLLATE "C" > $3
         ORDER BY entity_id COLLATE "C" LIMIT $4`,
  // The journal id is `<persistence id>|<entity id>`: $1 is unused ('' = ''), $2 holds the whole head.
  journal: `SELECT id FROM (SELECT DISTINCT persistence_id COLLATE "C" AS id FROM event_journal
              WHERE $1 = '' AND starts_with(persistence_id, $2) AND persistence_id COLLATE "C" > $3) AS ids
            ORDER BY id LIMIT $4`,
};

const JOURNAL_SQL = `SELECT seq_nr, type_url, payload, written_at FROM event_journal
                     WHERE persistence_id = $1 AND seq_nr >= $2 ORDER BY seq_nr LIMIT $3`;

/**
 * A {@link StoreInspector} over the database a PostgreSQL store writes: a pool of its
 * own (at most two connections, every transaction read-only), so inspection never
 * takes a connection the store's writer or reads need and can never write. `pg` is
 * loaded with `import()` like the store's.
 */
export async function createPostgresInspector(options: PostgresInspectorOptions): Promise<StoreInspector> {
  let driver: typeof import("pg");
  try {
    driver = await import("pg");
  } catch (err) {
    throw new SwitchboardError("the postgres inspector needs the pg package (8.x)", Code.FailedPrecondition, { cause: err });
  }
  const pool: Pool = new driver.Pool({
    connectionString: options.url,
    max: 2,
    application_name: "switchboard-inspector",
    options: "-c default_transaction_read_only=on",
    query_timeout: Math.max(1, Math.floor(options.queryTimeoutMs ?? 10_000)),
    idleTimeoutMillis: 10_000,
  });
  // An idle connection that dies must not crash the process; the next query opens another.
  pool.on("error", () => {});
  const query = async <R extends object>(text: string, values: unknown[]): Promise<R[]> => {
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (err) {
      throw new SwitchboardError(`postgres inspector: ${messageOf(err)}`, Code.Unavailable, { cause: err });
    }
  };
  return {
    async listEntityIds(table, persistenceId, q) {
      if (table === "journal") {
        const head = `${persistenceId}${JOURNAL_ID_SEPARATOR}`;
        const rows = await query<{ id: string }>(LIST_SQL.journal, ["", head + q.prefix, q.after === undefined ? "" : head + q.after, q.limit]);
        return rows.map((row) => row.id.slice(head.length));
      }
      const rows = await query<{ id: string }>(LIST_SQL[table], [persistenceId, q.prefix, q.after ?? "", q.limit]);
      return rows.map((row) => row.id);
    },
    async readJournal(journalId, fromSeq, limit): Promise<InspectedEvent[]> {
      const rows = await query<{ seq_nr: string; type_url: string; payload: Buffer; written_at: Date }>(JOURNAL_SQL, [
        journalId,
        Math.max(0, Math.floor(fromSeq)),
        limit,
      ]);
      return rows.map((row) => ({
        seq: Number(row.seq_nr),
        payload: { typeUrl: row.type_url, value: new Uint8Array(row.payload) },
        writtenAt: row.written_at.getTime(),
      }));
    },
    async close() {
      await pool.end();
    },
  };
}
