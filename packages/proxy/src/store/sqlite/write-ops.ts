import type BetterSqlite3 from "better-sqlite3";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { TopicTrim } from "../types.js";
import { classify, decodeInt } from "./sqlite-errors.js";
import type { Statements } from "./statements.js";

/** Bytes with their type URL, as a write carries them (a private copy of the caller's). */
export interface StoredAny {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/**
 * One queued write of the SQLite store as plain data, so that it can be run on the
 * main thread or be posted to the writer thread as it is. `context` names the journal
 * or entity in error messages.
 */
export type SqliteWriteOp =
  | {
      readonly kind: "value-upsert";
      readonly context: string;
      readonly persistenceId: string;
      readonly entityId: string;
      readonly payload: StoredAny;
      /** Also record the change in `value_change`. */
      readonly recordChange: boolean;
    }
  | { readonly kind: "value-delete"; readonly context: string; readonly persistenceId: string; readonly entityId: string; readonly recordChange: boolean }
  /** Removes recorded changes up to `upTo`, except the newest (see `ValueChangeStore.pruneValueChanges`). */
  | { readonly kind: "prune-changes"; readonly context: string; readonly persistenceId: string; readonly upTo: number }
  | {
      readonly kind: "append";
      readonly context: string;
      readonly journalId: string;
      readonly tag: string;
      readonly firstSeq: number;
      readonly events: readonly StoredAny[];
      readonly snapshot: StoredAny | undefined;
    }
  | { readonly kind: "crdt-upsert"; readonly context: string; readonly persistenceId: string; readonly entityId: string; readonly state: Uint8Array }
  | { readonly kind: "crdt-delete"; readonly context: string; readonly persistenceId: string; readonly entityId: string }
  | { readonly kind: "offset"; readonly context: string; readonly consumer: string; readonly offset: number }
  | {
      readonly kind: "publish";
      readonly context: string;
      readonly topic: string;
      readonly messages: readonly { readonly typeUrl: string; readonly value: Uint8Array; readonly attributes: string }[];
    }
  | { readonly kind: "group-offset"; readonly context: string; readonly topic: string; readonly group: string; readonly offset: number }
  /** Retention: removes old messages of every topic (see `TopicStore.trimTopics`); -1 and MAX_SAFE_INTEGER are no limit. */
  | { readonly kind: "trim"; readonly context: string; readonly publishedBefore: number; readonly maxBytes: number };

/**
 * What one write of a committed batch came to: `undefined` (committed), the offsets a
 * publish was given or what a trim removed (committed), or the error it failed with alone.
 */
export type WriteResult = undefined | readonly number[] | readonly TopicTrim[] | SwitchboardError;

/** Thrown out of a batch when SQLite has already rolled back the whole transaction. */
class BatchLost extends Error {
  constructor(override readonly cause: unknown) {
    super("transaction rolled back by SQLite");
  }
}

/**
 * Whether a write changes the database with at most one statement: such a write needs no
 * savepoint to fail alone, since SQLite undoes a failed statement's own changes and keeps
 * the transaction. Reads before that statement (the seq check of an append) change nothing.
 */
function singleStatement(op: SqliteWriteOp): boolean {
  switch (op.kind) {
    case "value-upsert":
    case "value-delete":
      return !op.recordChange;
    case "append":
      return op.events.length === 1 && op.snapshot === undefined;
    case "crdt-upsert":
    case "crdt-delete":
    case "offset":
    case "group-offset":
    case "prune-changes":
      return true;
    default:
      return false;
  }
}

/**
 * Builds the function that commits a batch of writes as one `BEGIN IMMEDIATE … COMMIT`
 * on `db`, each write that takes more than one statement in its own savepoint, so that a
 * write that fails (a taken seq: `Code.Aborted`) rolls back alone (a savepoint costs two
 * statements of its own, so single-statement writes go without). It returns each write's result by position and
 * throws when the transaction failed as a whole; it returns only once COMMIT has
 * returned, that is once the batch is as durable as the connection's `synchronous`
 * setting makes it. The same function runs on the main thread and on the writer thread.
 */
export function createBatchRunner(db: BetterSqlite3.Database, sql: Statements): (batch: readonly SqliteWriteOp[]) => WriteResult[] {
  // better-sqlite3 nests `transaction` as savepoints.
  const inSavepoint = db.transaction((op: SqliteWriteOp) => applyWrite(sql, op));
  const runBatch = db.transaction((batch: readonly SqliteWriteOp[]): WriteResult[] =>
    batch.map((op) => {
      try {
        return singleStatement(op) ? applyWrite(sql, op) : inSavepoint(op);
      } catch (err) {
        // Some errors (I/O, full disk, busy) make SQLite roll back the whole
        // transaction. Carrying on would run the next writes in autocommit mode,
        // outside the batch, so give the batch up instead.
        if (!db.inTransaction) throw new BatchLost(err);
        return classify(err, op.context);
      }
    }),
  );
  return (batch) => {
    try {
      // IMMEDIATE takes the write lock up front, so a second process on the same file
      // makes us wait (busy_timeout) at BEGIN rather than fail half-way through.
      return runBatch.immediate(batch);
    } catch (err) {
      throw err instanceof BatchLost ? err.cause : err;
    }
  };
}

/** Runs one write's statements inside the batch transaction; throws to fail only this write. */
function applyWrite(sql: Statements, op: SqliteWriteOp): WriteResult {
  switch (op.kind) {
    case "value-upsert":
      sql.upsertValue.run(op.persistenceId, op.entityId, op.payload.typeUrl, op.payload.value);
      if (op.recordChange) recordChange(sql, op.persistenceId, op.entityId, op.payload, op.context);
      return undefined;
    case "value-delete":
      sql.deleteValue.run(op.persistenceId, op.entityId);
      if (op.recordChange) recordChange(sql, op.persistenceId, op.entityId, undefined, op.context);
      return undefined;
    case "prune-changes":
      sql.pruneChanges.run({ persistenceId: op.persistenceId, upTo: op.upTo });
      return undefined;
    case "append": {
      // The check runs inside the batch transaction, after the writes queued before
      // it, so of two appends at the same seq in one batch the first wins. The
      // UNIQUE key still guards against another process writing the same file.
      const highest = decodeInt(sql.highestSeq.get(op.journalId), op.context);
      if (op.firstSeq !== highest + 1) {
        throw new SwitchboardError(`${op.context}: append at seq ${op.firstSeq} conflicts, highest stored seq is ${highest}`, Code.Aborted);
      }
      const now = Date.now();
      op.events.forEach((e, i) => {
        sql.insertEvent.run(op.journalId, op.firstSeq + i, e.typeUrl, e.value, op.tag, now);
      });
      if (op.snapshot !== undefined) {
        sql.upsertSnapshot.run(op.journalId, op.firstSeq + op.events.length - 1, op.snapshot.typeUrl, op.snapshot.value);
      }
      return undefined;
    }
    case "crdt-upsert":
      sql.upsertCrdt.run(op.persistenceId, op.entityId, op.state);
      return undefined;
    case "crdt-delete":
      sql.deleteCrdt.run(op.persistenceId, op.entityId);
      return undefined;
    case "offset":
      sql.upsertOffset.run(op.consumer, op.offset);
      return undefined;
    case "publish": {
      // Inside the batch transaction of the one writer connection, so MAX + 1 is gap-free and unique.
      let offset = decodeInt(sql.highestTopicOffset.get(op.topic), op.context);
      const now = Date.now();
      const offsets: number[] = [];
      for (const message of op.messages) {
        offset += 1;
        sql.insertTopicMessage.run(op.topic, offset, message.typeUrl, message.value, message.attributes, now);
        offsets.push(offset);
      }
      return offsets;
    }
    case "group-offset":
      sql.upsertGroupOffset.run(op.topic, op.group, op.offset);
      return undefined;
    case "trim": {
      const trims: TopicTrim[] = [];
      for (const { topic } of sql.topicNames.all()) {
        const cut = retentionCut(sql, topic, op.publishedBefore, op.maxBytes);
        if (cut === undefined) continue;
        const removed = sql.trimTopic.run(topic, cut).changes;
        trims.push({ topic, removed: Number(removed), firstOffset: cut + 1 });
      }
      return trims;
    }
    default: {
      const never: never = op;
      throw new SwitchboardError(`unknown write ${JSON.stringify(never)}`, Code.Internal);
    }
  }
}

/** Records a value write in the persistence id's change log, at its last position + 1 (in the write's own savepoint). */
function recordChange(sql: Statements, persistenceId: string, entityId: string, payload: StoredAny | undefined, context: string): void {
  const position = decodeInt(sql.highestChange.get(persistenceId), context) + 1;
  sql.insertChange.run(persistenceId, position, entityId, payload?.typeUrl ?? null, payload?.value ?? null, Date.now());
}

/**
 * The highest position of `topic` that retention removes, undefined for none. Reads only
 * what it must: from the newest message until the byte budget is spent, and from the
 * oldest until the first message young enough (publish times follow positions). The
 * newest message is never cut.
 */
function retentionCut(sql: Statements, topic: string, publishedBefore: number, maxBytes: number): number | undefined {
  const newest = decodeInt(sql.highestTopicOffset.get(topic), `topic "${topic}"`);
  if (newest === 0) return undefined;
  let cut: number | undefined;
  // Iterators are closed (break) before the next statement runs on the connection.
  if (maxBytes < Number.MAX_SAFE_INTEGER) {
    let bytes = 0;
    for (const row of sql.newestFirst.iterate(topic)) {
      const position = Number(row.position);
      bytes += Number(row.size);
      if (position < newest && bytes > maxBytes) {
        cut = position;
        break;
      }
    }
  }
  if (publishedBefore >= 0) {
    for (const row of sql.oldestFirst.iterate(topic)) {
      const position = Number(row.position);
      if (position >= newest || Number(row.published_at) >= publishedBefore) break;
      if (cut === undefined || position > cut) cut = position;
    }
  }
  return cut;
}
