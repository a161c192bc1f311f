import { resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { Code, SwitchboardError } from "../../errors/index.js";
import { type EntityTable, type InspectedEvent, JOURNAL_ID_SEPARATOR, type StoreInspector } from "../inspector.js";
import { prefixRange } from "../prefix-range.js";

interface EventRow {
  seq_nr: number;
  type_url: string;
  payload: Buffer;
  written_at: number;
}

/**
 * A {@link StoreInspector} over the SQLite file a store writes: its own read-only
 * connection (WAL lets it read beside the writer without blocking it), so inspection
 * never queues behind or delays a group commit. Prefix queries are index ranges.
 */
export async function createSqliteInspector(path: string): Promise<StoreInspector> {
  let Driver: typeof BetterSqlite3;
  try {
    Driver = (await import("better-sqlite3")).default;
  } catch (err) {
    throw new SwitchboardError("the sqlite inspector needs the better-sqlite3 package", Code.FailedPrecondition, { cause: err });
  }
  const db = new Driver(resolve(path), { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  const after = (value: string | undefined) => value ?? "";
  const lists: Record<EntityTable, BetterSqlite3.Statement<[string, string, string, string, number], string>> = {
    value: db
      .prepare<[string, string, string, string, number], string>(
        "SELECT entity_id FROM value_entity WHERE persistence_id = ? AND entity_id >= ? AND entity_id < ? AND entity_id > ? ORDER BY entity_id LIMIT ?",
      )
      .pluck(),
    crdt: db
      .prepare<[string, string, string, string, number], string>(
        "SELECT entity_id FROM crdt_state WHERE persistence_id = ? AND entity_id >= ? AND entity_id < ? AND entity_id > ? ORDER BY entity_id LIMIT ?",
      )
      .pluck(),
    // The persistence id is part of the journal id here, so the first parameter is unused ('' = '').
    journal: db
      .prepare<[string, string, string, string, number], string>(
        "SELECT DISTINCT persistence_id FROM event_journal WHERE ? = '' AND persistence_id >= ? AND persistence_id < ? AND persistence_id > ? ORDER BY persistence_id LIMIT ?",
      )
      .pluck(),
  };
  const journal = db.prepare<[string, number, number], EventRow>(
    "SELECT seq_nr, type_url, payload, written_at FROM event_journal WHERE persistence_id = ? AND seq_nr >= ? ORDER BY seq_nr LIMIT ?",
  );
  return {
    async listEntityIds(table, persistenceId, query) {
      if (table === "journal") {
        const head = `${persistenceId}${JOURNAL_ID_SEPARATOR}`;
        const { low, high } = prefixRange(head + query.prefix);
        const ids = lists.journal.all("", low, high, query.after === undefined ? "" : head + query.after, query.limit);
        return ids.map((id) => id.slice(head.length));
      }
      const { low, high } = prefixRange(query.prefix);
      return lists[table].all(persistenceId, low, high, after(query.after), query.limit);
    },
    async readJournal(journalId, fromSeq, limit): Promise<InspectedEvent[]> {
      return journal.all(journalId, fromSeq, limit).map((row) => ({
        seq: row.seq_nr,
        payload: { typeUrl: row.type_url, value: new Uint8Array(row.payload) },
        writtenAt: row.written_at,
      }));
    },
    async close() {
      db.close();
    },
  };
}
