import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { Code, SwitchboardError } from "../../errors/index.js";
import { type BatchOutcomes, createGroupCommit, type GroupCommitStats, messageOf, type QueuedWrite, type CommitObserver } from "../group-commit.js";
import { createAppendListeners, isLocalWriter, staleWriter, validateWriter } from "../fencing.js";
import type { AnyValue, JournalAppend, JournalEvent, Snapshot, Store, TaggedEvent, TopicRecord, TopicStore, ValueWrite, WriterToken } from "../types.js";
import { validateAppend, validateGroup, validateLimit, validateOffset, validatePublish } from "../validate.js";
import { migrate } from "./schema.js";
import { decodeAttributes } from "../topic-attributes.js";

/** The logger the SQLite store reports batch failures and odd settings to. */
export interface SqliteStoreLogger {
  warn(message: string, fields?: object): void;
}

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions {
  /** Database file; its parent directory is created if missing. `:memory:` opens a private in-memory database. */
  readonly path: string;
  /**
   * `FULL` (default) fsyncs the WAL on every commit, so an acknowledged write survives
   * power loss. `NORMAL` survives process crashes but may lose the last commits on an
   * OS crash or power loss (docs/design.md#durability).
   */
  readonly synchronous?: "FULL" | "NORMAL" | undefined;
  /** How long a write waits for another connection's lock before failing, in ms (default 5000). */
  readonly busyTimeoutMs?: number | undefined;
  /** Receives a warning when a write batch fails or WAL mode is unavailable. */
  readonly logger?: SqliteStoreLogger | undefined;
  /** Told of every committed batch (duration in seconds, size), e.g. for metrics. */
  readonly onCommit?: CommitObserver | undefined;
}

/** Counters of the group-commit writer, for tests, metrics and benchmarks. */
export type SqliteStoreStats = GroupCommitStats;

/** The SQLite store: a {@link Store} plus read-only group-commit counters. */
export interface SqliteStore extends Store {
  readonly topics: TopicStore;
  /** A snapshot of the counters at the time of the call. */
  readonly stats: SqliteStoreStats;
}

type Database = BetterSqlite3.Database;
/**
 * Row shapes as read. Columns are `unknown` on purpose: a file can be edited by other
 * tools, so every value is checked when decoded (a mismatch is `Code.DataLoss`).
 */
interface AnyRow {
  readonly type_url: unknown;
  readonly payload: unknown;
}
interface EventRow extends AnyRow {
  readonly seq_nr: unknown;
}
interface TopicRow extends AnyRow {
  readonly position: unknown;
  readonly attributes: unknown;
  readonly published_at: unknown;
}
interface TaggedRow extends EventRow {
  readonly ordering: unknown;
  readonly persistence_id: unknown;
}

/** A write waiting for the next group commit. */
interface SqliteWrite extends QueuedWrite {
  /** Runs the write's statements; throws to fail (and roll back) only this write. */
  readonly apply: () => void;
}

/** Thrown out of a batch when SQLite has already rolled back the whole transaction. */
class BatchLost extends Error {
  constructor(override readonly cause: unknown) {
    super("transaction rolled back by SQLite");
  }
}

/**
 * Opens (creating and migrating if needed) a SQLite database as the proxy's store.
 *
 * The file runs in WAL mode with `synchronous=FULL` unless told otherwise. Reads are
 * synchronous prepared statements. Writes use group commit: every write issued in
 * one event-loop turn is queued, and a `setImmediate` flush runs them all in one
 * transaction, each inside its own savepoint, so a write that fails (a taken seq:
 * `Code.Aborted`) rolls back alone. Write promises settle only after COMMIT has
 * returned, that is once the batch is durable. If the commit itself fails (disk full,
 * I/O error, lock timeout) every write of the batch rejects with `Code.Unavailable`.
 *
 * `better-sqlite3` is loaded with `import()` so that it stays an optional driver.
 */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const Driver = await loadDriver();
  const memory = options.path === ":memory:";
  const path = memory ? options.path : resolve(options.path);
  const description = `sqlite:${path}`;
  const synchronous = options.synchronous ?? "FULL";
  if (synchronous !== "FULL" && synchronous !== "NORMAL") {
    throw new SwitchboardError(`${description}: synchronous must be FULL or NORMAL, got ${String(synchronous)}`, Code.InvalidArgument);
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const logger = options.logger;

  let db: Database;
  try {
    if (!memory) mkdirSync(dirname(path), { recursive: true });
    db = new Driver(path);
  } catch (err) {
    throw classify(err, `${description}: open`);
  }
  try {
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal" && !memory) {
      logger?.warn("sqlite store: WAL mode not available, durability and concurrency differ", { path, mode });
    }
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    migrate(db, description);
  } catch (err) {
    db.close();
    throw classify(err, `${description}: open`);
  }
  return openStore(db, description, logger, options.onCommit);
}

/** Builds the store over an open, migrated database. */
function openStore(db: Database, description: string, logger: SqliteStoreLogger | undefined, onCommit: CommitObserver | undefined): SqliteStore {
  const sql = prepareStatements(db);
  const appended = createAppendListeners();

  // Each write runs in a savepoint (better-sqlite3 nests `transaction` that way), so a
  // failing write is undone without touching the others of its batch.
  const inSavepoint = db.transaction((apply: () => void) => apply());
  const runBatch = db.transaction(
    (batch: readonly SqliteWrite[]): BatchOutcomes =>
      batch.map((write) => {
        try {
          inSavepoint(write.apply);
          return undefined;
        } catch (err) {
          // Some errors (I/O, full disk, busy) make SQLite roll back the whole
          // transaction. Carrying on would run the next writes in autocommit mode,
          // outside the batch, so give the batch up instead.
          if (!db.inTransaction) throw new BatchLost(err);
          return classify(err, write.context);
        }
      }),
  );
  const writes = createGroupCommit<SqliteWrite>({
    description,
    label: "sqlite store",
    logger,
    onCommit,
    commit(batch) {
      try {
        // IMMEDIATE takes the write lock up front, so a second process on the same file
        // makes us wait (busy_timeout) at BEGIN rather than fail half-way through.
        return runBatch.immediate(batch);
      } catch (err) {
        throw err instanceof BatchLost ? err.cause : err;
      }
    },
  });

  let closing: Promise<void> | undefined;

  /** Queues a write for the next group commit; the promise settles after its COMMIT. */
  function enqueue(context: string, apply: () => void): Promise<void> {
    return writes.enqueue({ context, apply });
  }

  /** Runs a synchronous read, turning a throw into a rejected promise with a store error. */
  function read<T>(context: string, run: () => T): Promise<T> {
    if (writes.closed) return Promise.reject(closedError(description));
    try {
      return Promise.resolve(run());
    } catch (err) {
      return Promise.reject(classify(err, context));
    }
  }

  const topics: TopicStore = {
    publish(topic, messages) {
      const invalid = validatePublish(topic, messages.length);
      if (invalid !== undefined) return Promise.reject(invalid);
      const rows = messages.map((m) => ({ typeUrl: m.payload.typeUrl, value: copyBytes(m.payload.value), attributes: JSON.stringify(m.attributes) }));
      const offsets: number[] = [];
      return enqueue(topicContext(topic), () => {
        // Inside the batch transaction of the one writer connection, so MAX + 1 is gap-free and unique.
        offsets.length = 0;
        let offset = decodeInt(sql.highestTopicOffset.get(topic), topicContext(topic));
        const now = Date.now();
        for (const row of rows) {
          offset += 1;
          sql.insertTopicMessage.run(topic, offset, row.typeUrl, row.value, row.attributes, now);
          offsets.push(offset);
        }
      }).then(() => offsets);
    },

    readTopic(topic, afterOffset, limit) {
      const invalid = validateOffset(afterOffset, "afterOffset") ?? validateLimit(limit);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = topicContext(topic);
      return read(context, () => sql.readTopic.all(topic, afterOffset, limit).map((row) => decodeTopicRow(row, context)));
    },

    loadGroupOffset(topic, group) {
      const invalid = validateGroup(topic, group);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = groupContext(topic, group);
      return read(context, () => {
        const position = sql.getGroupOffset.get(topic, group);
        return position === undefined ? 0 : decodeInt(position, context);
      });
    },

    saveGroupOffset(topic, group, offset) {
      const invalid = validateGroup(topic, group) ?? validateOffset(offset, "offset");
      if (invalid !== undefined) return Promise.reject(invalid);
      return enqueue(groupContext(topic, group), () => {
        sql.upsertGroupOffset.run(topic, group, offset);
      });
    },
  };

  return {
    description,
    topics,

    get stats(): SqliteStoreStats {
      return writes.stats;
    },

    getValue(persistenceId, entityId) {
      const context = valueContext(persistenceId, entityId);
      return read(context, () => {
        const row = sql.getValue.get(persistenceId, entityId);
        return row === undefined ? undefined : decodeAny(row, context);
      });
    },

    onAppended(listener) {
      return appended.add(listener);
    },

    writeValue(write: ValueWrite) {
      const context = valueContext(write.persistenceId, write.entityId);
      const refused = refuseWriter(write.writer, context);
      if (refused !== undefined) return Promise.reject(refused);
      switch (write.kind) {
        case "update": {
          // Copy now: the caller may reuse its buffer before the batch runs.
          const payload = copyBytes(write.value.value);
          const typeUrl = write.value.typeUrl;
          return enqueue(context, () => {
            sql.upsertValue.run(write.persistenceId, write.entityId, typeUrl, payload);
          });
        }
        case "delete":
          return enqueue(context, () => {
            sql.deleteValue.run(write.persistenceId, write.entityId);
          });
        default:
          return Promise.reject(new SwitchboardError(`${context}: unknown write kind`, Code.InvalidArgument));
      }
    },

    loadSnapshot(journalId) {
      const context = journalContext(journalId);
      return read(context, (): Snapshot | undefined => {
        const row = sql.getSnapshot.get(journalId);
        if (row === undefined) return undefined;
        return { seq: decodeInt(row.seq_nr, context), payload: decodeAny(row, context) };
      });
    },

    readEvents(journalId, afterSeq) {
      const context = journalContext(journalId);
      return read(context, () =>
        sql.readEvents.all(journalId, afterSeq).map((row): JournalEvent => ({ seq: decodeInt(row.seq_nr, context), payload: decodeAny(row, context) })),
      );
    },

    highestSeq(journalId) {
      const context = journalContext(journalId);
      return read(context, () => decodeInt(sql.highestSeq.get(journalId), context));
    },

    append(append: JournalAppend) {
      const invalid = validateAppend(append) ?? refuseWriter(append.writer, journalContext(append.journalId));
      if (invalid !== undefined) return Promise.reject(invalid);
      const { journalId, tag, firstSeq } = append;
      const context = journalContext(journalId);
      const events = append.events.map((e) => ({ typeUrl: e.typeUrl, value: copyBytes(e.value) }));
      const snapshot = append.snapshot === undefined ? undefined : { typeUrl: append.snapshot.typeUrl, value: copyBytes(append.snapshot.value) };
      return enqueue(context, () => {
        // The check runs inside the batch transaction, after the writes queued before
        // it, so of two appends at the same seq in one batch the first wins. The
        // UNIQUE key still guards against another process writing the same file.
        const highest = decodeInt(sql.highestSeq.get(journalId), context);
        if (firstSeq !== highest + 1) {
          throw new SwitchboardError(`${context}: append at seq ${firstSeq} conflicts, highest stored seq is ${highest}`, Code.Aborted);
        }
        const now = Date.now();
        events.forEach((e, i) => {
          sql.insertEvent.run(journalId, firstSeq + i, e.typeUrl, e.value, tag, now);
        });
        if (snapshot !== undefined) {
          sql.upsertSnapshot.run(journalId, firstSeq + events.length - 1, snapshot.typeUrl, snapshot.value);
        }
      }).then(() => appended.notify(tag));
    },

    eventsByTag(tag, afterOffset, limit) {
      const invalid = validateOffset(afterOffset, "afterOffset") ?? validateLimit(limit);
      if (invalid !== undefined) return Promise.reject(invalid);
      return read(`tag "${tag}"`, () =>
        sql.eventsByTag.all(tag, afterOffset, limit).map((row): TaggedEvent => {
          const journalId = row.persistence_id;
          const context = typeof journalId === "string" ? journalContext(journalId) : `tag "${tag}"`;
          if (typeof journalId !== "string") throw dataLoss(context, "persistence_id is not text");
          return {
            offset: decodeInt(row.ordering, context),
            journalId,
            seq: decodeInt(row.seq_nr, context),
            payload: decodeAny(row, context),
          };
        }),
      );
    },

    getCrdt(persistenceId, entityId) {
      const context = crdtContext(persistenceId, entityId);
      return read(context, () => {
        const state = sql.getCrdt.get(persistenceId, entityId);
        return state === undefined ? undefined : decodeBytes(state, context);
      });
    },

    putCrdt(persistenceId, entityId, state) {
      const context = crdtContext(persistenceId, entityId);
      if (state === undefined) {
        return enqueue(context, () => {
          sql.deleteCrdt.run(persistenceId, entityId);
        });
      }
      const bytes = copyBytes(state);
      return enqueue(context, () => {
        sql.upsertCrdt.run(persistenceId, entityId, bytes);
      });
    },

    loadOffset(consumer) {
      const context = `offset of consumer "${consumer}"`;
      return read(context, () => {
        const position = sql.getOffset.get(consumer);
        return position === undefined ? 0 : decodeInt(position, context);
      });
    },

    saveOffset(consumer, offset) {
      const invalid = validateOffset(offset, "offset");
      if (invalid !== undefined) return Promise.reject(invalid);
      return enqueue(`offset of consumer "${consumer}"`, () => {
        sql.upsertOffset.run(consumer, offset);
      });
    },

    close() {
      closing ??= (async () => {
        // Writes already accepted are still committed (and their promises settled)
        // before the connection goes away.
        await writes.close();
        try {
          db.close();
        } catch (err) {
          throw classify(err, `${description}: close`);
        }
      })();
      return closing;
    },
  };
}

/** Prepares every statement once, right after migration. */
function prepareStatements(db: Database) {
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

/** Loads the driver, turning a missing package into a clear error. */
async function loadDriver(): Promise<typeof BetterSqlite3> {
  try {
    const mod = await import("better-sqlite3");
    return mod.default;
  } catch (err) {
    throw new SwitchboardError(
      "the sqlite store needs the better-sqlite3 package (^12 on Node 20); install it next to @switchboard/proxy",
      Code.FailedPrecondition,
      { cause: err },
    );
  }
}

/**
 * A SQLite file arbitrates no cluster, so it holds no leases: only the local writer may
 * write, and a fenced write is refused as stale.
 */
function refuseWriter(writer: WriterToken, context: string): SwitchboardError | undefined {
  const invalid = validateWriter(writer, context);
  if (invalid !== undefined) return invalid;
  return isLocalWriter(writer) ? undefined : staleWriter(`${context} (a sqlite store holds no leases)`, writer);
}

function valueContext(persistenceId: string, entityId: string): string {
  return `value entity "${persistenceId}" id "${entityId}"`;
}

function crdtContext(persistenceId: string, entityId: string): string {
  return `crdt "${persistenceId}" id "${entityId}"`;
}

function journalContext(journalId: string): string {
  return `journal "${journalId}"`;
}

function topicContext(topic: string): string {
  return `topic "${topic}"`;
}

function groupContext(topic: string, group: string): string {
  return `offset of group "${group}" on topic "${topic}"`;
}

/** A stored topic message; its attributes must be a JSON object of strings. */
function decodeTopicRow(row: TopicRow, context: string): TopicRecord {
  if (typeof row.attributes !== "string") throw dataLoss(context, "attributes are not text");
  const attributes = decodeAttributes(row.attributes);
  if (attributes === undefined) throw dataLoss(context, "attributes are not a JSON object of strings");
  return {
    offset: decodeInt(row.position, context),
    publishedAt: decodeInt(row.published_at, context),
    payload: decodeAny(row, context),
    attributes,
  };
}

function closedError(description: string): SwitchboardError {
  return new SwitchboardError(`${description}: store is closed`, Code.Unavailable);
}

function dataLoss(context: string, detail: string): SwitchboardError {
  return new SwitchboardError(`${context}: cannot decode stored row: ${detail}`, Code.DataLoss);
}

/** The Any held in a row's `type_url` and `payload` columns. */
function decodeAny(row: AnyRow, context: string): AnyValue {
  const typeUrl = row.type_url;
  if (typeof typeUrl !== "string") throw dataLoss(context, "type_url is not text");
  return { typeUrl, value: decodeBytes(row.payload, context) };
}

/**
 * A BLOB column as a plain Uint8Array. better-sqlite3 hands out a fresh Buffer per
 * value that owns its whole ArrayBuffer, so a view over it shares nothing with the
 * database or other callers; anything else is copied.
 */
function decodeBytes(value: unknown, context: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw dataLoss(context, `expected a blob, got ${typeof value}`);
  if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) {
    return new Uint8Array(value.buffer, 0, value.byteLength);
  }
  return new Uint8Array(value);
}

function decodeInt(value: unknown, context: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw dataLoss(context, `expected an integer, got ${typeof value === "number" ? value : typeof value}`);
  }
  return value;
}

/** A private copy of caller bytes, taken when a write is queued. */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function sqliteCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/** Errors that mean "the store cannot take this now": retrying later, elsewhere, may work. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL|INTERRUPT)/;

/** Maps anything a statement threw to a SwitchboardError naming the journal or entity. */
function classify(err: unknown, context: string): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  const code = sqliteCode(err) ?? "";
  const message = `${context}: ${messageOf(err)}`;
  if (code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE") {
    return new SwitchboardError(`${context}: conflicting concurrent write (${messageOf(err)})`, Code.Aborted, { cause: err });
  }
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
    return new SwitchboardError(message, Code.DataLoss, { cause: err });
  }
  if (code === "SQLITE_TOOBIG") return new SwitchboardError(message, Code.ResourceExhausted, { cause: err });
  if (UNAVAILABLE.test(code)) return new SwitchboardError(message, Code.Unavailable, { cause: err });
  // better-sqlite3 throws a TypeError once the connection is closed.
  if (err instanceof TypeError && /not open/.test(err.message)) {
    return new SwitchboardError(message, Code.Unavailable, { cause: err });
  }
  return new SwitchboardError(message, Code.Internal, { cause: err });
}
