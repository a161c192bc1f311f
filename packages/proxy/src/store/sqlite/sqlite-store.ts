import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { Code, SwitchboardError } from "../../errors/index.js";
import { type BatchOutcomes, createGroupCommit, type GroupCommitStats, type QueuedWrite, type CommitObserver } from "../group-commit.js";
import { createAppendListeners, isLocalWriter, staleWriter, validateWriter } from "../fencing.js";
import type {
  AnyValue,
  JournalAppend,
  JournalEvent,
  Snapshot,
  Store,
  TaggedEvent,
  TopicRecord,
  TopicStore,
  TopicTrim,
  ValueChange,
  ValueWrite,
  WriterToken,
} from "../types.js";
import { validateAppend, validateGroup, validateLimit, validateOffset, validatePublish, validateRetention, validateTime } from "../validate.js";
import { migrate } from "./schema.js";
import { decodeAttributes } from "../topic-attributes.js";
import { classify, dataLoss, decodeInt } from "./sqlite-errors.js";
import { type AnyRow, type ChangeRow, prepareStatements, type Statements, type TopicRow } from "./statements.js";
import { createBatchRunner, type SqliteWriteOp, type WriteResult } from "./write-ops.js";
import { startWriterThread, type WriterThread } from "./writer-thread.js";

/** The logger the SQLite store reports batch failures and odd settings to. */
export interface SqliteStoreLogger {
  warn(message: string, fields?: object): void;
  /** Receives the failure of the writer thread, when there is one (else `warn` does). */
  error?(message: string, fields?: object): void;
}

/**
 * Where the SQLite store commits its write batches: `inline` on the calling (main)
 * thread, which waits for each COMMIT and its fsync; `worker` on a writer thread that
 * owns the write connection, so the next batch gathers while the current one's fsync
 * runs (docs/design.md#group-commit). Reads stay on a main-thread connection either way.
 */
export type SqliteCommitMode = "inline" | "worker";

/** The commit mode used when none is asked for. */
export const DEFAULT_SQLITE_COMMIT: SqliteCommitMode = "inline";

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
  /** Where batches commit (default {@link DEFAULT_SQLITE_COMMIT}); `:memory:` always commits inline. */
  readonly commit?: SqliteCommitMode | undefined;
}

/** Counters of the group-commit writer, for tests, metrics and benchmarks. */
export type SqliteStoreStats = GroupCommitStats;

/** The SQLite store: a {@link Store} plus read-only group-commit counters. */
export interface SqliteStore extends Store {
  readonly topics: TopicStore;
  /** A snapshot of the counters at the time of the call. */
  readonly stats: SqliteStoreStats;
  /** Where this store commits its batches. */
  readonly commitMode: SqliteCommitMode;
}

type Database = BetterSqlite3.Database;

/** A write waiting for the next group commit. */
interface SqliteWrite extends QueuedWrite {
  readonly op: SqliteWriteOp;
  /** The offsets a publish was given, set when its batch committed. */
  offsets?: readonly number[];
  /** What a retention run removed, set when its batch committed. */
  trims?: readonly TopicTrim[];
}

/** What commits the store's batches: the main-thread connection or the writer thread. */
interface Committer {
  commit(batch: readonly SqliteWriteOp[]): WriteResult[] | Promise<WriteResult[]>;
  /** Why writes (and reads) can no longer be served, or undefined while they can. */
  failure(): SwitchboardError | undefined;
  close(): Promise<void>;
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
  const mode: SqliteCommitMode = memory ? "inline" : (options.commit ?? DEFAULT_SQLITE_COMMIT);
  if (mode !== "inline" && mode !== "worker") {
    db.close();
    throw new SwitchboardError(`${description}: commit must be inline or worker, got ${String(mode)}`, Code.InvalidArgument);
  }
  const sql = prepareStatements(db);
  let committer: Committer;
  let thread: WriterThread | undefined;
  if (mode === "worker") {
    try {
      thread = await startWriterThread({
        path,
        synchronous,
        busyTimeoutMs,
        description,
        onFailure: (error) =>
          (logger?.error ?? logger?.warn)?.call(logger, "sqlite store: the writer thread died; the store refuses every call", {
            store: description,
            error: error.rawMessage,
          }),
      });
    } catch (err) {
      db.close();
      throw classify(err, `${description}: open`);
    }
    const started = thread;
    committer = {
      commit: (batch) => started.commit(batch),
      failure: () => started.failure,
      close: () => started.close(),
    };
  } else {
    committer = { commit: createBatchRunner(db, sql), failure: () => undefined, close: async () => {} };
  }
  const store = openStore(db, sql, description, logger, options.onCommit, committer, mode);
  if (thread !== undefined) writerThreads.set(store, thread);
  return store;
}

/** The writer thread of each store that commits on one (for {@link crashWriterThread}). */
const writerThreads = new WeakMap<SqliteStore, WriterThread>();

/**
 * Tests only: makes the writer thread of a `commit: "worker"` store die as a crash
 * would (`throw`: an uncaught exception in the thread; `exit`: the thread ends).
 * Returns false for a store that commits inline.
 * @internal
 */
export function crashWriterThread(store: SqliteStore, how: "throw" | "exit"): boolean {
  const thread = writerThreads.get(store);
  thread?.crash(how);
  return thread !== undefined;
}

/** Builds the store over an open, migrated database. */
function openStore(
  db: Database,
  sql: Statements,
  description: string,
  logger: SqliteStoreLogger | undefined,
  onCommit: CommitObserver | undefined,
  committer: Committer,
  commitMode: SqliteCommitMode,
): SqliteStore {
  // With a writer thread, `db` only reads: under WAL a read that starts after a COMMIT
  // returned (on any connection) sees it, so a read after an acknowledged write sees that write.
  const appended = createAppendListeners();
  const changed = createAppendListeners();

  const writes = createGroupCommit<SqliteWrite>({
    description,
    label: "sqlite store",
    logger,
    onCommit,
    async commit(batch): Promise<BatchOutcomes> {
      const results = await committer.commit(batch.map((write) => write.op));
      return batch.map((write, i) => {
        const result = results[i];
        if (result instanceof SwitchboardError) return result;
        if (result !== undefined) {
          if (write.op.kind === "trim") write.trims = result as readonly TopicTrim[];
          else write.offsets = result as readonly number[];
        }
        return undefined;
      });
    },
  });

  let closing: Promise<void> | undefined;

  /** Queues a write for the next group commit; the promise settles after its COMMIT (which sets what it returns, offsets or trims, on `write`). */
  function submit(write: SqliteWrite): Promise<void> {
    const failure = committer.failure();
    if (failure !== undefined) return Promise.reject(failure);
    return writes.enqueue(write);
  }

  /** Queues an operation whose commit returns nothing. */
  function enqueue(op: SqliteWriteOp): Promise<void> {
    return submit({ context: op.context, op });
  }

  /** Runs a synchronous read, turning a throw into a rejected promise with a store error. */
  function read<T>(context: string, run: () => T): Promise<T> {
    if (writes.closed) return Promise.reject(closedError(description));
    // A store whose writer thread died answers nothing, reads included: it fails loudly
    // rather than serve state it can no longer change.
    const failure = committer.failure();
    if (failure !== undefined) return Promise.reject(failure);
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
      const op: SqliteWriteOp = { kind: "publish", context: topicContext(topic), topic, messages: rows };
      const write: SqliteWrite = { context: op.context, op };
      return submit(write).then(() => [...(write.offsets ?? [])]);
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
      return enqueue({ kind: "group-offset", context: groupContext(topic, group), topic, group, offset });
    },

    trimTopics(limits) {
      const invalid = validateRetention(limits);
      if (invalid !== undefined) return Promise.reject(invalid);
      const op: SqliteWriteOp = {
        kind: "trim",
        context: "topic retention",
        publishedBefore: limits.publishedBefore ?? -1,
        maxBytes: limits.maxBytes ?? Number.MAX_SAFE_INTEGER,
      };
      const write: SqliteWrite = { context: op.context, op };
      return submit(write).then(() => [...(write.trims ?? [])]);
    },

    offsetAtTime(topic, time) {
      const invalid = validateTime(topic, time);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = topicContext(topic);
      return read(context, () => {
        const first = sql.firstTopicOffsetAt.get(topic, time);
        if (first !== undefined && first !== null) return decodeInt(first, context) - 1;
        return decodeInt(sql.highestTopicOffset.get(topic), context);
      });
    },
  };

  return {
    description,
    topics,

    commitMode,

    get stats(): SqliteStoreStats {
      return writes.stats;
    },

    failed() {
      return committer.failure()?.rawMessage;
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
      const recordChange = write.recordChange === true;
      const notifyChange = recordChange ? () => changed.notify(write.persistenceId) : undefined;
      switch (write.kind) {
        case "update":
          // Copy now: the caller may reuse its buffer before the batch runs.
          return enqueue({
            kind: "value-upsert",
            context,
            persistenceId: write.persistenceId,
            entityId: write.entityId,
            payload: { typeUrl: write.value.typeUrl, value: copyBytes(write.value.value) },
            recordChange,
          }).then(notifyChange);
        case "delete":
          return enqueue({ kind: "value-delete", context, persistenceId: write.persistenceId, entityId: write.entityId, recordChange }).then(notifyChange);
        default:
          return Promise.reject(new SwitchboardError(`${context}: unknown write kind`, Code.InvalidArgument));
      }
    },

    valueChanges(persistenceId, afterPosition, limit) {
      const invalid = validateOffset(afterPosition, "afterPosition") ?? validateLimit(limit);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = changesContext(persistenceId);
      return read(context, () => sql.readChanges.all(persistenceId, afterPosition, limit).map((row) => decodeChangeRow(row, context)));
    },

    pruneValueChanges(persistenceId, upTo) {
      const invalid = validateOffset(upTo, "upTo");
      if (invalid !== undefined) return Promise.reject(invalid);
      return enqueue({ kind: "prune-changes", context: changesContext(persistenceId), persistenceId, upTo });
    },

    onValueChanged(listener) {
      return changed.add(listener);
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
      return enqueue({ kind: "append", context, journalId, tag, firstSeq, events, snapshot }).then(() => appended.notify(tag));
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
        return enqueue({ kind: "crdt-delete", context, persistenceId, entityId });
      }
      return enqueue({ kind: "crdt-upsert", context, persistenceId, entityId, state: copyBytes(state) });
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
      return enqueue({ kind: "offset", context: `offset of consumer "${consumer}"`, consumer, offset });
    },

    close() {
      closing ??= (async () => {
        // Writes already accepted are still committed (and their promises settled)
        // before the connection goes away.
        await writes.close();
        try {
          await committer.close();
          db.close();
        } catch (err) {
          throw classify(err, `${description}: close`);
        }
      })();
      return closing;
    },
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

/** A recorded value change; a delete has neither type URL nor payload. */
function decodeChangeRow(row: ChangeRow, context: string): ValueChange {
  const entityId = row.entity_id;
  if (typeof entityId !== "string") throw dataLoss(context, "entity_id is not text");
  return {
    position: decodeInt(row.position, context),
    entityId,
    value: row.type_url === null ? undefined : decodeAny(row, context),
    changedAt: decodeInt(row.changed_at, context),
  };
}

function changesContext(persistenceId: string): string {
  return `value changes of "${persistenceId}"`;
}

function closedError(description: string): SwitchboardError {
  return new SwitchboardError(`${description}: store is closed`, Code.Unavailable);
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

/** A private copy of caller bytes, taken when a write is queued. */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
