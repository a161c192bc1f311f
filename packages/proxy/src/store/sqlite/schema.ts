import type BetterSqlite3 from "better-sqlite3";
import { Code, SwitchboardError } from "../../errors/index.js";

/**
 * The schema migrations of the SQLite store, oldest first; entry `i` brings the
 * database from version `i` to version `i + 1`. Never edit a shipped entry: add one.
 *
 * Two-column keys, as in docs/design.md#tables. `event_journal.persistence_id` holds
 * the journal id (`<persistence id>|<entity id>`); `ordering` is the global offset
 * that eventing reads by tag. AUTOINCREMENT keeps an ordering from ever being reused,
 * and with a single writer connection orderings are assigned in commit order, so a
 * tag reader that pages by offset never skips an event committed later.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE event_journal (
    ordering       INTEGER PRIMARY KEY AUTOINCREMENT,
    persistence_id TEXT    NOT NULL,
    seq_nr         INTEGER NOT NULL,
    type_url       TEXT    NOT NULL,
    payload        BLOB    NOT NULL,
    tag            TEXT,
    written_at     INTEGER NOT NULL,
    UNIQUE (persistence_id, seq_nr)
  );
  CREATE INDEX event_journal_tag ON event_journal (tag, ordering);

  CREATE TABLE snapshot (
    persistence_id TEXT    PRIMARY KEY,
    seq_nr         INTEGER NOT NULL,
    type_url       TEXT    NOT NULL,
    payload        BLOB    NOT NULL
  );

  CREATE TABLE value_entity (
    persistence_id TEXT    NOT NULL,
    entity_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    type_url       TEXT    NOT NULL,
    payload        BLOB    NOT NULL,
    PRIMARY KEY (persistence_id, entity_id)
  );

  CREATE TABLE crdt_state (
    persistence_id TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    state          BLOB NOT NULL,
    PRIMARY KEY (persistence_id, entity_id)
  );

  CREATE TABLE eventing_offset (
    consumer TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
  );
  `,
  // The embedded broker: one append-only log per topic, offsets 1, 2, 3… gap-free per
  // topic (taken as MAX + 1 inside the single writer's transaction), CloudEvents
  // attributes as a JSON object; and the stored progress of each consumer group.
  `
  CREATE TABLE topic_message (
    topic        TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    type_url     TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    attributes   TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (topic, position)
  ) WITHOUT ROWID;

  CREATE TABLE topic_group_offset (
    topic      TEXT    NOT NULL,
    group_name TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (topic, group_name)
  );
  `,
  // Value-entity changes as an event source: one log per persistence id, positions
  // 1, 2, 3… gap-free (MAX + 1 inside the single writer's transaction, the same one
  // that writes the value); a delete has no type_url and payload.
  `
  CREATE TABLE value_change (
    persistence_id TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    entity_id      TEXT    NOT NULL,
    type_url       TEXT,
    payload        BLOB,
    changed_at     INTEGER NOT NULL,
    PRIMARY KEY (persistence_id, position)
  ) WITHOUT ROWID;
  `,
];

/** The schema version this build writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to {@link SCHEMA_VERSION}, recording each applied step in
 * `schema_version`. Runs in one IMMEDIATE transaction, so two processes opening a
 * fresh file at once cannot both migrate it. Throws `Code.FailedPrecondition` when the
 * file was written by a newer schema than this build knows.
 */
export function migrate(db: BetterSqlite3.Database, description: string): void {
  db.transaction(() => {
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    const current = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version").pluck().get();
    if (typeof current !== "number") {
      throw new SwitchboardError(`${description}: unreadable schema_version table`, Code.DataLoss);
    }
    if (current > SCHEMA_VERSION) {
      throw new SwitchboardError(
        `${description}: database schema version ${current} is newer than this proxy supports (${SCHEMA_VERSION})`,
        Code.FailedPrecondition,
      );
    }
    const record = db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)");
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      db.exec(MIGRATIONS[version - 1] ?? "");
      record.run(version, Date.now());
    }
  }).immediate();
}
