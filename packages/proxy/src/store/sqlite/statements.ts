import type BetterSqlite3 from "better-sqlite3";

/**
 * Row shapes as read. Columns are `unknown` on purpose: a file can be edited by other
 * tools, so every value is checked when decoded (a mismatch is `Code.DataLoss`).
 */
export interface AnyRow {
  readonly type_url: unknown;
  readonly payload: unknown;
}
export interface EventRow extends AnyRow {
  readonly seq_nr: unknown;
}
export interface TopicRow extends AnyRow {
  readonly position: unknown;
  readonly attributes: unknown;
  readonly published_at: unknown;
}
export interface ChangeRow extends AnyRow {
  readonly position: unknown;
  readonly entity_id: unknown;
  readonly changed_at: unknown;
}
export interface TaggedRow extends EventRow {
  readonly ordering: unknown;
  readonly persistence_id: unknown;
}

type Rows<R> = BetterSqlite3.Statement<unknown[], R>;
type Run = BetterSqlite3.Statement<unknown[], unknown>;

/** The store's statements, prepared once on a connection. */
export interface Statements {
  readonly getValue: Rows<AnyRow>;
  readonly upsertValue: Run;
  readonly deleteValue: Run;
  readonly highestChange: Run;
  readonly insertChange: Run;
  readonly readChanges: Rows<ChangeRow>;
  readonly pruneChanges: Run;
  readonly getSnapshot: Rows<EventRow>;
  readonly upsertSnapshot: Run;
  readonly readEvents: Rows<EventRow>;
  readonly highestSeq: Run;
  readonly insertEvent: Run;
  readonly eventsByTag: Rows<TaggedRow>;
  readonly getCrdt: Run;
  readonly upsertCrdt: Run;
  readonly deleteCrdt: Run;
  readonly getOffset: Run;
  readonly highestTopicOffset: Run;
  readonly insertTopicMessage: Run;
  readonly readTopic: Rows<TopicRow>;
  readonly topicNames: Rows<{ topic: string }>;
  readonly oldestFirst: Rows<{ position: number | bigint; published_at: number | bigint }>;
  readonly newestFirst: Rows<{ position: number | bigint; size: number | bigint }>;
  readonly trimTopic: Run;
  readonly firstTopicOffsetAt: Run;
  readonly getGroupOffset: Run;
  readonly upsertGroupOffset: Run;
  readonly upsertOffset: Run;
}

/** Prepares every statement once, right after migration. */
export function prepareStatements(db: BetterSqlite3.Database): Statements {
  const rows = <R>(source: string) => db.prepare<unknown[], R>(source);
  const scalar = (source: string) => db.prepare<unknown[], unknown>(source).pluck();
  return {
    getValue: rows<AnyRow>("SELECT type_url, payload FROM value_entity WHERE persistence_id = ? AND entity_id = ?"),
    upsertValue: db.prepare(
      `INSERT INTO value_entity (persistence_id, entity_id, version, type_url, payload) VALUES (?, ?, 1, ?, ?)
       ON CONFLICT (persistence_id, entity_id) DO UPDATE
       SET version = value_entity.version + 1, type_url = excluded.type_url, payload = excluded.payload`,
    ),
    deleteValue: db.prepare("DELETE FROM value_entity WHERE persistence_id = ? AND entity_id = ?"),
    highestChange: scalar("SELECT COALESCE(MAX(position), 0) FROM value_change WHERE persistence_id = ?"),
    insertChange: db.prepare("INSERT INTO value_change (persistence_id, position, entity_id, type_url, payload, changed_at) VALUES (?, ?, ?, ?, ?, ?)"),
    readChanges: rows<ChangeRow>(
      `SELECT position, entity_id, type_url, payload, changed_at FROM value_change
       WHERE persistence_id = ? AND position > ? ORDER BY position LIMIT ?`,
    ),
    // Everything up to the position given, but never the newest change (positions keep counting from it).
    pruneChanges: db.prepare(
      `DELETE FROM value_change WHERE persistence_id = @persistenceId AND position <= @upTo
       AND position < (SELECT MAX(position) FROM value_change WHERE persistence_id = @persistenceId)`,
    ),
    getSnapshot: rows<EventRow>("SELECT seq_nr, type_url, payload FROM snapshot WHERE persistence_id = ?"),
    upsertSnapshot: db.prepare(
      `INSERT INTO snapshot (persistence_id, seq_nr, type_url, payload) VALUES (?, ?, ?, ?)
       ON CONFLICT (persistence_id) DO UPDATE
       SET seq_nr = excluded.seq_nr, type_url = excluded.type_url, payload = excluded.payload`,
    ),
    readEvents: rows<EventRow>("SELECT seq_nr, type_url, payload FROM event_journal WHERE persistence_id = ? AND seq_nr > ? ORDER BY seq_nr"),
    highestSeq: scalar("SELECT COALESCE(MAX(seq_nr), 0) FROM event_journal WHERE persistence_id = ?"),
    insertEvent: db.prepare("INSERT INTO event_journal (persistence_id, seq_nr, type_url, payload, tag, written_at) VALUES (?, ?, ?, ?, ?, ?)"),
    eventsByTag: rows<TaggedRow>(
      `SELECT ordering, persistence_id, seq_nr, type_url, payload FROM event_journal
       WHERE tag = ? AND ordering > ? ORDER BY ordering LIMIT ?`,
    ),
    getCrdt: scalar("SELECT state FROM crdt_state WHERE persistence_id = ? AND entity_id = ?"),
    upsertCrdt: db.prepare(
      `INSERT INTO crdt_state (persistence_id, entity_id, state) VALUES (?, ?, ?)
       ON CONFLICT (persistence_id, entity_id) DO UPDATE SET state = excluded.state`,
    ),
    deleteCrdt: db.prepare("DELETE FROM crdt_state WHERE persistence_id = ? AND entity_id = ?"),
    getOffset: scalar("SELECT position FROM eventing_offset WHERE consumer = ?"),
    highestTopicOffset: scalar("SELECT COALESCE(MAX(position), 0) FROM topic_message WHERE topic = ?"),
    insertTopicMessage: db.prepare("INSERT INTO topic_message (topic, position, type_url, payload, attributes, published_at) VALUES (?, ?, ?, ?, ?, ?)"),
    readTopic: rows<TopicRow>(
      "SELECT position, type_url, payload, attributes, published_at FROM topic_message WHERE topic = ? AND position > ? ORDER BY position LIMIT ?",
    ),
    // Every topic name, by seeking the primary key from one name to the next (not a scan).
    topicNames: rows<{ topic: string }>(
      `WITH RECURSIVE names (topic) AS (
         SELECT MIN(topic) FROM topic_message
         UNION ALL
         SELECT (SELECT MIN(topic) FROM topic_message WHERE topic > names.topic) FROM names WHERE names.topic IS NOT NULL
       )
       SELECT topic FROM names WHERE topic IS NOT NULL`,
    ),
    // A topic from its oldest message (retention by age reads until the first young one)…
    oldestFirst: rows<{ position: number | bigint; published_at: number | bigint }>(
      "SELECT position, published_at FROM topic_message WHERE topic = ? ORDER BY position",
    ),
    // …and from its newest (retention by size reads until the budget is spent).
    newestFirst: rows<{ position: number | bigint; size: number | bigint }>(
      "SELECT position, length(payload) + length(CAST(attributes AS BLOB)) AS size FROM topic_message WHERE topic = ? ORDER BY position DESC",
    ),
    trimTopic: db.prepare("DELETE FROM topic_message WHERE topic = ? AND position <= ?"),
    firstTopicOffsetAt: scalar("SELECT MIN(position) FROM topic_message WHERE topic = ? AND published_at >= ?"),
    getGroupOffset: scalar("SELECT position FROM topic_group_offset WHERE topic = ? AND group_name = ?"),
    upsertGroupOffset: db.prepare(
      `INSERT INTO topic_group_offset (topic, group_name, position) VALUES (?, ?, ?)
       ON CONFLICT (topic, group_name) DO UPDATE SET position = excluded.position`,
    ),
    upsertOffset: db.prepare(
      `INSERT INTO eventing_offset (consumer, position) VALUES (?, ?)
       ON CONFLICT (consumer) DO UPDATE SET position = excluded.position`,
    ),
  };
}
