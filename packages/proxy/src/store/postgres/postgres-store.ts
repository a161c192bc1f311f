import type { Pool, PoolClient, QueryConfig, QueryResult } from "pg";
import { Code, SwitchboardError } from "../../errors/index.js";
import { type BatchOutcomes, createGroupCommit, type GroupCommitStats, messageOf, type QueuedWrite, type CommitObserver } from "../group-commit.js";
import { createAppendListeners, staleWriter, validateHeartbeat, validateLeaseRequest, validateWriter } from "../fencing.js";
import type {
  AnyValue,
  ClusterStore,
  JournalAppend,
  JournalEvent,
  LeaseGrant,
  LeaseRecord,
  MemberRecord,
  Snapshot,
  Store,
  TaggedEvent,
  TopicRecord,
  TopicStore,
  TopicTrim,
  ValueChange,
  ValueWrite,
} from "../types.js";
import { decodeAttributes } from "../topic-attributes.js";
import { validateAppend, validateGroup, validateLimit, validateOffset, validatePublish, validateRetention, validateTime } from "../validate.js";
import { migrate } from "./schema.js";

/** The logger the PostgreSQL store reports failed batches and lost connections to. */
export interface PostgresStoreLogger {
  warn(message: string, fields?: object): void;
}

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /**
   * Connection string, e.g. `postgres://user:secret@db.internal:5432/switchboard`. The
   * store's tables live in the connection's default schema; give each application its
   * own database, or pick a schema with `?options=-csearch_path%3Dname`.
   */
  readonly url: string;
  /** Most connections the store opens: one for the group-commit writer, the rest for reads (default 10, at least 2). */
  readonly poolSize?: number | undefined;
  /**
   * How long a write waits for a row lock held by another transaction (another proxy)
   * before failing, in ms (default 5000). Sent as the session's `lock_timeout`.
   */
  readonly lockTimeoutMs?: number | undefined;
  /** How long opening a connection may take before the call fails with `Code.Unavailable`, in ms (default 10000). */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * How long the client waits for any answer before it gives the connection up and the
   * call fails with `Code.Unavailable`, in ms (default 30000). A server behind a
   * network partition sends no reset, and TCP keepalive would take many minutes to notice.
   */
  readonly queryTimeoutMs?: number | undefined;
  /** Receives a warning when a write batch fails or a pooled connection drops. */
  readonly logger?: PostgresStoreLogger | undefined;
  /** Told of every committed batch (duration in seconds, size), e.g. for metrics. */
  readonly onCommit?: CommitObserver | undefined;
}

/** Counters of the group-commit writer, for tests, metrics and benchmarks. */
export interface PostgresStoreStats extends GroupCommitStats {
  /**
   * Batches run a second time, one savepoint per write, because a write failed with
   * an SQL error and took the pipelined transaction down with it. Included in
   * `transactions` (or `failedTransactions`) once.
   */
  readonly replayedTransactions: number;
}

/** The PostgreSQL store: a {@link Store} that arbitrates clusters, plus read-only group-commit counters. */
export interface PostgresStore extends Store {
  readonly cluster: ClusterStore;
  readonly topics: TopicStore;
  /** A snapshot of the counters at the time of the call. */
  readonly stats: PostgresStoreStats;
}

/** A named (server-side prepared) statement: its name and SQL. */
interface StatementDef {
  readonly name: string;
  readonly text: string;
}

/** A row as read. Columns are `unknown` on purpose: every value is checked when decoded (a mismatch is `Code.DataLoss`). */
type Row = Readonly<Record<string, unknown>>;

/** A write waiting for the next group commit. */
interface PendingWrite extends QueuedWrite {
  /** The one statement that performs the write. */
  readonly statement: QueryConfig;
  /**
   * Judges the statement's result. A write the statement refused without an SQL error
   * (an append whose seq is taken) returns its error here; the batch goes on.
   */
  readonly check?: (result: QueryResult<Row>) => SwitchboardError | undefined;
  /**
   * A persistence id whose change log the write appends to: its batch takes that log's
   * advisory lock right after BEGIN (see {@link changeLocks}).
   */
  readonly changeLog?: string;
}

/** A batch holds at most this many writes; the rest wait for the next one. Keeps transactions and pipelines bounded. */
const MAX_BATCH = 1000;

/**
 * Opens a PostgreSQL database as the proxy's store, creating or migrating its schema.
 *
 * Reads go through a `pg` pool with named prepared statements. Writes use group
 * commit, like the SQLite store: every write is queued, and one writer connection
 * commits whatever has queued as one transaction, one batch at a time; writes that
 * arrive while a batch commits go out together in the next one. So a hundred
 * concurrent commands cost one WAL flush rather than a hundred. Write promises settle
 * only after COMMIT has returned, that is once the batch is durable (as durable as the
 * server's `synchronous_commit` makes it).
 *
 * Inside a batch every write stays independent: a write that fails (a taken seq:
 * `Code.Aborted`) fails alone, and the others commit. If the batch cannot commit at all
 * (the server went away, the disk is full) every write of the batch rejects with
 * `Code.Unavailable`; when the connection died during COMMIT the batch may or may not
 * have been committed, which a caller must treat as a failed write (entity runtimes
 * restart and replay from the journal).
 *
 * `pg` is loaded with `import()` so that it stays an optional driver. Throws
 * `Code.Unavailable` when the server cannot be reached, `Code.FailedPrecondition` when
 * `pg` is missing or the schema is newer than this build.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const description = describeUrl(options.url);
  const poolSize = options.poolSize ?? 10;
  if (!Number.isSafeInteger(poolSize) || poolSize < 2) {
    throw new SwitchboardError(`${description}: poolSize must be an integer of at least 2, got ${poolSize}`, Code.InvalidArgument);
  }
  const { Pool } = await loadDriver();
  const logger = options.logger;
  const pool = new Pool({
    connectionString: options.url,
    max: poolSize,
    // Pipeline mode sends a batch's statements without waiting for each answer: a
    // batch costs one round trip plus the server's work instead of one round trip per
    // write. Reads issue one query per checkout, where it changes nothing.
    pipeline: true,
    application_name: "switchboard",
    connectionTimeoutMillis: Math.max(1, Math.floor(options.connectTimeoutMs ?? 10_000)),
    lock_timeout: Math.max(0, Math.floor(options.lockTimeoutMs ?? 5000)),
    query_timeout: Math.max(1, Math.floor(options.queryTimeoutMs ?? 30_000)),
    keepAlive: true,
  });
  // An idle pooled connection that dies (server restart, failover) is reported here;
  // without a listener the pool's 'error' event would crash the process.
  pool.on("error", (err) => {
    logger?.warn("postgres store: pooled connection failed", { store: description, error: messageOf(err) });
  });
  try {
    await withClient(pool, (client) => migrate(client, description));
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw classify(err, `${description}: open`);
  }
  return openStore(pool, description, logger, options.onCommit);
}

/** Builds the store over a pool whose database is migrated. */
function openStore(pool: Pool, description: string, logger: PostgresStoreLogger | undefined, onCommit: CommitObserver | undefined): PostgresStore {
  let replayedTransactions = 0;
  let closing: Promise<void> | undefined;
  const appended = createAppendListeners();
  const changed = createAppendListeners();
  const writes = createGroupCommit<PendingWrite>({
    description,
    label: "postgres store",
    logger,
    onCommit,
    maxBatch: MAX_BATCH,
    commit: (batch) =>
      withClient(pool, async (client) => {
        const pipelined = await runPipelined(client, batch);
        if (pipelined !== undefined) return pipelined;
        replayedTransactions += 1;
        return runWithSavepoints(client, batch);
      }),
  });

  /** Queues a write for the next group commit; the promise settles after its COMMIT. */
  function enqueue(
    context: string,
    def: StatementDef,
    values: unknown[],
    check?: (result: QueryResult<Row>) => SwitchboardError | undefined,
    changeLog?: string,
  ): Promise<void> {
    const statement: QueryConfig = { name: def.name, text: def.text, values };
    return writes.enqueue({ context, statement, ...(check === undefined ? {} : { check }), ...(changeLog === undefined ? {} : { changeLog }) });
  }

  /** Runs one read statement on a pooled connection and decodes its rows. */
  async function read<T>(context: string, def: StatementDef, values: unknown[], decode: (rows: readonly Row[]) => T): Promise<T> {
    if (writes.closed) throw closedError(description);
    let result: QueryResult<Row>;
    try {
      result = await pool.query<Row>({ name: def.name, text: def.text, values });
    } catch (err) {
      throw classify(err, context);
    }
    return decode(result.rows);
  }

  /** Runs one statement of the cluster ports on a pooled connection, outside the group commit. */
  async function query(context: string, def: StatementDef, values: unknown[]): Promise<readonly Row[]> {
    if (writes.closed) throw closedError(description);
    try {
      return (await pool.query<Row>({ name: def.name, text: def.text, values })).rows;
    } catch (err) {
      throw classify(err, context);
    }
  }

  const topics: TopicStore = {
    publish(topic, messages) {
      const invalid = validatePublish(topic, messages.length);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = topicContext(topic);
      let offsets: number[] = [];
      return enqueue(
        context,
        SQL.publish,
        [topic, messages.map((m) => m.payload.typeUrl), messages.map((m) => copyBytes(m.payload.value)), messages.map((m) => JSON.stringify(m.attributes))],
        ({ rows }) => {
          offsets = rows.map((row) => decodeInt(row.position, context)).sort((a, b) => a - b);
          return offsets.length === messages.length
            ? undefined
            : new SwitchboardError(`${context}: stored ${offsets.length} of ${messages.length} messages`, Code.Internal);
        },
      ).then(() => offsets);
    },

    readTopic(topic, afterOffset, limit) {
      const invalid = validateOffset(afterOffset, "afterOffset") ?? validateLimit(limit);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = topicContext(topic);
      return read(context, SQL.readTopic, [topic, afterOffset, limit], (rows) =>
        rows.map((row): TopicRecord => {
          const attributes = typeof row.attributes === "string" ? decodeAttributes(row.attributes) : undefined;
          if (attributes === undefined) throw dataLoss(context, "attributes are not a JSON object of strings");
          return { offset: decodeInt(row.position, context), publishedAt: decodeInt(row.published_ms, context), payload: decodeAny(row, context), attributes };
        }),
      );
    },

    loadGroupOffset(topic, group) {
      const invalid = validateGroup(topic, group);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = groupContext(topic, group);
      return read(context, SQL.getGroupOffset, [topic, group], ([row]) => (row === undefined ? 0 : decodeInt(row.position, context)));
    },

    saveGroupOffset(topic, group, offset) {
      const invalid = validateGroup(topic, group) ?? validateOffset(offset, "offset");
      if (invalid !== undefined) return Promise.reject(invalid);
      return enqueue(groupContext(topic, group), SQL.upsertGroupOffset, [topic, group, offset]);
    },

    trimTopics(limits) {
      const invalid = validateRetention(limits);
      if (invalid !== undefined) return Promise.reject(invalid);
      let trims: TopicTrim[] = [];
      return enqueue("topic retention", SQL.trimTopics, [limits.publishedBefore ?? null, limits.maxBytes ?? null], ({ rows }) => {
        trims = rows.map((row) => {
          const topic = decodeText(row.topic, "topic");
          return { topic, removed: decodeInt(row.removed, topicContext(topic)), firstOffset: decodeInt(row.first_offset, topicContext(topic)) };
        });
        return undefined;
      }).then(() => trims);
    },

    offsetAtTime(topic, time) {
      const invalid = validateTime(topic, time);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = topicContext(topic);
      return read(context, SQL.offsetAtTime, [topic, time], ([row]) => (row === undefined ? 0 : decodeInt(row.position, context)));
    },
  };

  const cluster: ClusterStore = {
    async claimLeases(owner, leases, ttlMs) {
      const invalid = validateLeaseRequest(owner, leases, ttlMs);
      if (invalid !== undefined) throw invalid;
      if (leases.length === 0) return [];
      const rows = await query(`claim of ${leases.length} leases by "${owner}"`, SQL.claimLeases, [owner, [...new Set(leases)], ttlMs]);
      return rows.map((row): LeaseGrant => ({ lease: decodeText(row.name, "lease"), token: decodeInt(row.token, "lease token"), ttlMs }));
    },

    async releaseLeases(owner, leases) {
      const invalid = validateLeaseRequest(owner, leases);
      if (invalid !== undefined) throw invalid;
      if (leases.length === 0) return;
      await query(`release of ${leases.length} leases by "${owner}"`, SQL.releaseLeases, [owner, [...leases]]);
    },

    async listLeases() {
      const rows = await query("lease list", SQL.listLeases, []);
      return rows.map(
        (row): LeaseRecord => ({
          lease: decodeText(row.name, "lease"),
          owner: decodeText(row.owner, "lease owner"),
          token: decodeInt(row.token, "lease token"),
          remainingMs: decodeInt(row.remaining_ms, "lease remaining time"),
        }),
      );
    },

    async heartbeat(member, ttlMs) {
      const invalid = validateHeartbeat(member.nodeId, ttlMs);
      if (invalid !== undefined) throw invalid;
      const rows = await query(`heartbeat of "${member.nodeId}"`, SQL.heartbeat, [member.nodeId, member.address, member.status, member.servicesHash, ttlMs]);
      return rows.map((row): MemberRecord => {
        const status = row.status;
        if (status !== "up" && status !== "leaving") throw dataLoss("cluster_member", `unknown status ${String(status)}`);
        return {
          nodeId: decodeText(row.node_id, "member"),
          address: decodeText(row.address, "member address"),
          status,
          servicesHash: decodeText(row.services_hash, "member services hash"),
          heartbeatAgeMs: decodeInt(row.age_ms, "member heartbeat age"),
        };
      });
    },

    async leave(nodeId) {
      await query(`leave of "${nodeId}"`, SQL.leave, [nodeId]);
    },
  };

  return {
    description,
    cluster,
    topics,

    get stats(): PostgresStoreStats {
      return { ...writes.stats, replayedTransactions };
    },

    getValue(persistenceId, entityId) {
      const context = valueContext(persistenceId, entityId);
      return read(context, SQL.getValue, [persistenceId, entityId], ([row]) => (row === undefined ? undefined : decodeAny(row, context)));
    },

    writeValue(write: ValueWrite) {
      const context = valueContext(write.persistenceId, write.entityId);
      const { writer } = write;
      const invalid = validateWriter(writer, context);
      if (invalid !== undefined) return Promise.reject(invalid);
      // Both statements answer `fenced`: whether the writer held its lease when the write ran.
      const fenced = ({ rows: [row] }: QueryResult<Row>) => (row?.fenced === true ? undefined : staleWriter(context, writer));
      const { persistenceId } = write;
      // A recorded write also appends to the change log, under that log's lock (see changeLocks).
      const recorded = write.recordChange === true;
      const changeLog = recorded ? persistenceId : undefined;
      let written: Promise<void>;
      switch (write.kind) {
        case "update":
          // Copy now: the caller may reuse its buffer before the batch runs.
          written = enqueue(
            context,
            recorded ? SQL.upsertValueRecorded : SQL.upsertValue,
            [persistenceId, write.entityId, write.value.typeUrl, copyBytes(write.value.value), writer.lease, writer.token],
            fenced,
            changeLog,
          );
          break;
        case "delete":
          written = enqueue(
            context,
            recorded ? SQL.deleteValueRecorded : SQL.deleteValue,
            [persistenceId, write.entityId, writer.lease, writer.token],
            fenced,
            changeLog,
          );
          break;
        default:
          return Promise.reject(new SwitchboardError(`${context}: unknown write kind`, Code.InvalidArgument));
      }
      return recorded ? written.then(() => changed.notify(persistenceId)) : written;
    },

    valueChanges(persistenceId, afterPosition, limit) {
      const invalid = validateOffset(afterPosition, "afterPosition") ?? validateLimit(limit);
      if (invalid !== undefined) return Promise.reject(invalid);
      const context = changesContext(persistenceId);
      return read(context, SQL.readChanges, [persistenceId, afterPosition, limit], (rows) =>
        rows.map(
          (row): ValueChange => ({
            position: decodeInt(row.position, context),
            entityId: decodeText(row.entity_id, context),
            value: row.type_url === null ? undefined : decodeAny(row, context),
            changedAt: decodeInt(row.changed_ms, context),
          }),
        ),
      );
    },

    pruneValueChanges(persistenceId, upTo) {
      const invalid = validateOffset(upTo, "upTo");
      if (invalid !== undefined) return Promise.reject(invalid);
      return enqueue(changesContext(persistenceId), SQL.pruneChanges, [persistenceId, upTo]);
    },

    onValueChanged(listener) {
      return changed.add(listener);
    },

    loadSnapshot(journalId) {
      const context = journalContext(journalId);
      return read(context, SQL.getSnapshot, [journalId], ([row]): Snapshot | undefined =>
        row === undefined ? undefined : { seq: decodeInt(row.seq_nr, context), payload: decodeAny(row, context) },
      );
    },

    readEvents(journalId, afterSeq) {
      const context = journalContext(journalId);
      const after = seqBound(afterSeq);
      if (after === undefined) return writes.closed ? Promise.reject(closedError(description)) : Promise.resolve([]);
      return read(context, SQL.readEvents, [journalId, after], (rows) =>
        rows.map((row): JournalEvent => ({ seq: decodeInt(row.seq_nr, context), payload: decodeAny(row, context) })),
      );
    },

    highestSeq(journalId) {
      const context = journalContext(journalId);
      return read(context, SQL.highestSeq, [journalId], ([row]) => decodeInt(row?.highest, context));
    },

    append(append: JournalAppend) {
      const invalid = validateAppend(append) ?? validateWriter(append.writer, journalContext(append.journalId));
      if (invalid !== undefined) return Promise.reject(invalid);
      const { journalId, tag, firstSeq, events, snapshot, writer } = append;
      const context = journalContext(journalId);
      const lastSeq = firstSeq + events.length - 1;
      return enqueue(
        context,
        SQL.append,
        [
          journalId,
          events.map((_, i) => firstSeq + i),
          events.map((e) => e.typeUrl),
          events.map((e) => copyBytes(e.value)),
          tag,
          firstSeq,
          snapshot === undefined ? null : lastSeq,
          snapshot === undefined ? null : snapshot.typeUrl,
          snapshot === undefined ? null : copyBytes(snapshot.value),
          writer.lease,
          writer.token,
        ],
        // The statement checks the journal's highest seq itself and inserts nothing
        // when it is not firstSeq - 1. Refusing without an SQL error keeps the batch
        // transaction alive for the other writes. The check sees the writes queued
        // before this one in the same batch, so of two appends at one seq the first
        // wins; the primary key still stops another proxy racing us (23505: Aborted).
        ({ rows: [row] }) => {
          if (row?.fenced !== true) return staleWriter(context, writer);
          const inserted = decodeInt(row?.inserted, context);
          if (inserted === events.length) return undefined;
          const highest = decodeInt(row?.highest, context);
          return new SwitchboardError(`${context}: append at seq ${firstSeq} conflicts, highest stored seq is ${highest}`, Code.Aborted);
        },
      ).then(() => appended.notify(tag));
    },

    onAppended(listener) {
      return appended.add(listener);
    },

    eventsByTag(tag, afterOffset, limit) {
      const invalid = validateOffset(afterOffset, "afterOffset") ?? validateLimit(limit);
      if (invalid !== undefined) return Promise.reject(invalid);
      return read(`tag "${tag}"`, SQL.eventsByTag, [tag, afterOffset, limit], (rows) =>
        rows.map((row): TaggedEvent => {
          const journalId = row.persistence_id;
          if (typeof journalId !== "string") throw dataLoss(`tag "${tag}"`, "persistence_id is not text");
          const context = journalContext(journalId);
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
      return read(context, SQL.getCrdt, [persistenceId, entityId], ([row]) => (row === undefined ? undefined : decodeBytes(row.state, context)));
    },

    putCrdt(persistenceId, entityId, state) {
      const context = crdtContext(persistenceId, entityId);
      if (state === undefined) return enqueue(context, SQL.deleteCrdt, [persistenceId, entityId]);
      return enqueue(context, SQL.upsertCrdt, [persistenceId, entityId, copyBytes(state)]);
    },

    loadOffset(consumer) {
      const context = offsetContext(consumer);
      return read(context, SQL.getOffset, [consumer], ([row]) => (row === undefined ? 0 : decodeInt(row.position, context)));
    },

    saveOffset(consumer, offset) {
      const invalid = validateOffset(offset, "offset");
      if (invalid !== undefined) return Promise.reject(invalid);
      return enqueue(offsetContext(consumer), SQL.upsertOffset, [consumer, offset]);
    },

    close() {
      closing ??= (async () => {
        // Writes already accepted are still committed (and their promises settled)
        // before the pool goes away.
        await writes.close();
        try {
          await pool.end();
        } catch (err) {
          throw classify(err, `${description}: close`);
        }
      })();
      return closing;
    },
  };
}

/**
 * Runs a batch as one pipelined transaction with no savepoints: BEGIN, every write,
 * COMMIT, all sent before the first answer arrives.
 *
 * Savepoints are left out of this fast path on purpose: each one would cost two more
 * statements per write, and every savepoint that writes takes a subtransaction id;
 * past 64 of them in one transaction the server's snapshots overflow and every other
 * session's visibility checks slow down. Ordinary conflicts (a taken seq) never raise
 * an SQL error here (see `append`), so the fast path almost always commits.
 *
 * Returns `undefined` when a write failed with an SQL error: that error aborted the
 * transaction, the server answered COMMIT with ROLLBACK, and the caller replays the
 * batch with {@link runWithSavepoints}. Throws when the connection is lost or COMMIT
 * fails as a whole.
 */
async function runPipelined(client: PoolClient, batch: readonly PendingWrite[]): Promise<BatchOutcomes | undefined> {
  const begin = client.query("BEGIN");
  const locks = changeLocks(batch).map((statement) => client.query(statement));
  const writes = batch.map((write) => client.query<Row>({ ...write.statement }));
  const commit = client.query("COMMIT");
  // Every promise is settled together: one that failed unobserved (a lock wait past lock_timeout) would be an unhandled rejection.
  const [beginSettled, commitSettled, ...rest] = await Promise.allSettled([begin, commit, ...locks, ...writes]);
  const lockSettled = rest.slice(0, locks.length);
  const writeSettled = rest.slice(locks.length);
  const reasons = [beginSettled, commitSettled, ...lockSettled, ...writeSettled].flatMap((s) => (s.status === "rejected" ? [s.reason] : []));
  const lost = reasons.find(isConnectionLoss);
  if (lost !== undefined) throw lost;
  if (beginSettled?.status === "rejected") throw beginSettled.reason;
  if (commitSettled?.status !== "fulfilled") throw commitSettled?.reason ?? new Error("COMMIT did not answer");
  const committed = commitSettled.value.command;
  if (lockSettled.some((s) => s.status === "rejected")) {
    // A lock wait that failed (lock_timeout) rolled the batch back; the savepoint replay waits again.
    if (committed !== "ROLLBACK") throw new Error(`a lock failed but COMMIT answered ${String(committed)}`);
    return undefined;
  }
  if (writeSettled.some((s) => s.status === "rejected")) {
    if (committed !== "ROLLBACK") throw new Error(`a write failed but COMMIT answered ${String(committed)}`);
    return undefined;
  }
  if (committed !== "COMMIT") throw new Error(`COMMIT answered ${String(committed)}`);
  return batch.map((write, i) => {
    const settled = writeSettled[i];
    return settled?.status === "fulfilled" ? checkWrite(write, settled.value) : undefined;
  });
}

/**
 * Runs a batch as one transaction with a savepoint around each write, one statement
 * at a time, so a write that fails with an SQL error (a primary-key race with another
 * proxy: `Code.Aborted`; text PostgreSQL cannot store: `Code.InvalidArgument`) is
 * rolled back alone. Only used after the pipelined attempt failed, so its cost is paid
 * only by the rare batch that needs it. Throws when the connection is lost or COMMIT fails.
 */
async function runWithSavepoints(client: PoolClient, batch: readonly PendingWrite[]): Promise<BatchOutcomes> {
  const outcomes: (SwitchboardError | undefined)[] = [];
  await client.query("BEGIN");
  for (const statement of changeLocks(batch)) await client.query(statement);
  for (const write of batch) {
    await client.query("SAVEPOINT write");
    let result: QueryResult<Row>;
    try {
      result = await client.query<Row>({ ...write.statement });
    } catch (err) {
      if (isConnectionLoss(err)) throw err;
      outcomes.push(classify(err, write.context));
      await client.query("ROLLBACK TO SAVEPOINT write");
      continue;
    }
    outcomes.push(checkWrite(write, result));
    await client.query("RELEASE SAVEPOINT write");
  }
  const commit = await client.query("COMMIT");
  if (commit.command !== "COMMIT") throw new Error(`COMMIT answered ${String(commit.command)}`);
  return outcomes;
}

/**
 * The advisory locks a batch takes right after BEGIN, one per change log it appends to,
 * in one sorted order so that two batches never wait for each other in a cycle, and
 * before any row lock. Held until COMMIT, they make the change-log writers of one
 * persistence id commit one after the other, so that positions (MAX + 1, read after the
 * lock by a later statement, which sees every earlier commit) become visible in order.
 */
function changeLocks(batch: readonly PendingWrite[]): QueryConfig[] {
  const logs = new Set<string>();
  for (const write of batch) if (write.changeLog !== undefined) logs.add(write.changeLog);
  return [...logs].sort().map((log) => ({ name: SQL.lockChangeLog.name, text: SQL.lockChangeLog.text, values: [log] }));
}

/** The write's own verdict on its result; a verdict that cannot be reached is the write's error. */
function checkWrite(write: PendingWrite, result: QueryResult<Row>): SwitchboardError | undefined {
  if (write.check === undefined) return undefined;
  try {
    return write.check(result);
  } catch (err) {
    return classify(err, write.context);
  }
}

/**
 * Runs `body` on a pooled connection, listening for its 'error' event meanwhile (the
 * pool only listens while the connection is idle; an unheard 'error' would crash the
 * process). A connection that failed, or that `body` left in an unknown state by
 * throwing, is destroyed rather than returned to the pool.
 */
async function withClient<T>(pool: Pool, body: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  const onError = (err: Error) => {
    failure ??= err;
  };
  client.on("error", onError);
  try {
    return await body(client);
  } catch (err) {
    failure ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.off("error", onError);
    client.release(failure);
  }
}

/**
 * The CTE `fence (ok)` of a fenced write: true for the local writer (empty lease name)
 * or while the lease is held with exactly that token and unexpired on the server's
 * clock. `FOR SHARE` keeps the lease row from changing owner until the write's batch
 * has committed, so a takeover waits for it rather than racing it.
 */
function fence(lease: string, token: string): string {
  return `fence AS (
             SELECT (${lease}::text = '' OR EXISTS (
               SELECT 1 FROM cluster_lease
               WHERE name = ${lease}::text AND token = ${token}::bigint AND expires_at > clock_timestamp()
               FOR SHARE
             )) AS ok
           )`;
}

/**
 * The change-log row of a recorded value write ($1 persistence id, $2 entity id, then the
 * value's type URL and payload, or nulls), when fenced in. Its time is the statement's, not
 * the transaction's start (`now()`), which came before the change-log lock was granted.
 */
function changeInsert(typeUrl: string, payload: string): string {
  return `INSERT INTO value_change (persistence_id, position, entity_id, type_url, payload, changed_at)
             SELECT $1::text, COALESCE((SELECT MAX(position) FROM value_change WHERE persistence_id = $1::text), 0) + 1, $2::text, ${typeUrl}, ${payload}, clock_timestamp()
             FROM fence WHERE fence.ok`;
}

/** The fenced value upsert ($1–$4 the row, $5/$6 the writer), with `more` CTEs after it. */
function upsertValueText(more: string): string {
  return `WITH ${fence("$5", "$6")}, written AS (
             INSERT INTO value_entity (persistence_id, entity_id, version, type_url, payload)
             SELECT $1, $2, 1, $3, $4 FROM fence WHERE fence.ok
             ON CONFLICT (persistence_id, entity_id) DO UPDATE
             SET version = value_entity.version + 1, type_url = excluded.type_url, payload = excluded.payload
             RETURNING 1
           )${more}
           SELECT ok AS fenced FROM fence`;
}

/** The fenced value delete ($1/$2 the row, $3/$4 the writer), with `more` CTEs after it. */
function deleteValueText(more: string): string {
  return `WITH ${fence("$3", "$4")}, removed AS (
             DELETE FROM value_entity WHERE persistence_id = $1 AND entity_id = $2 AND (SELECT ok FROM fence)
             RETURNING 1
           )${more}
           SELECT ok AS fenced FROM fence`;
}

/**
 * The store's statements. Each has a name, so `pg` prepares it once per connection
 * and later calls skip parsing and planning.
 */
const SQL = {
  getValue: {
    name: "switchboard_get_value",
    text: "SELECT type_url, payload FROM value_entity WHERE persistence_id = $1 AND entity_id = $2",
  },
  /** Writes only when the writer holds its lease ($5, $6); answers `fenced`. */
  upsertValue: {
    name: "switchboard_upsert_value_fenced",
    text: upsertValueText(""),
  },
  /** Deletes only when the writer holds its lease ($3, $4); answers `fenced`. */
  deleteValue: {
    name: "switchboard_delete_value_fenced",
    text: deleteValueText(""),
  },
  /** {@link SQL.upsertValue} that also appends the change to the persistence id's change log. */
  upsertValueRecorded: {
    name: "switchboard_upsert_value_recorded",
    text: upsertValueText(`, change AS (${changeInsert("$3::text", "$4::bytea")})`),
  },
  /** {@link SQL.deleteValue} that also appends the delete (no value) to the change log. */
  deleteValueRecorded: {
    name: "switchboard_delete_value_recorded",
    text: deleteValueText(`, change AS (${changeInsert("NULL::text", "NULL::bytea")})`),
  },
  lockChangeLog: {
    name: "switchboard_lock_change_log",
    text: "SELECT pg_advisory_xact_lock(hashtextextended('switchboard.value_change:' || $1::text, 0))",
  },
  readChanges: {
    name: "switchboard_read_changes",
    text: `SELECT position, entity_id, type_url, payload, floor(extract(epoch FROM changed_at) * 1000)::bigint AS changed_ms
           FROM value_change WHERE persistence_id = $1 AND position > $2 ORDER BY position LIMIT $3`,
  },
  /** Removes the changes up to $2 but never the newest one, from which positions keep counting. */
  pruneChanges: {
    name: "switchboard_prune_changes",
    text: `DELETE FROM value_change WHERE persistence_id = $1 AND position <= $2
           AND position < (SELECT MAX(position) FROM value_change WHERE persistence_id = $1)`,
  },
  getSnapshot: {
    name: "switchboard_get_snapshot",
    text: "SELECT seq_nr, type_url, payload FROM snapshot WHERE persistence_id = $1",
  },
  readEvents: {
    name: "switchboard_read_events",
    text: "SELECT seq_nr, type_url, payload FROM event_journal WHERE persistence_id = $1 AND seq_nr > $2 ORDER BY seq_nr",
  },
  highestSeq: {
    name: "switchboard_highest_seq",
    text: "SELECT COALESCE(MAX(seq_nr), 0) AS highest FROM event_journal WHERE persistence_id = $1",
  },
  /**
   * One statement appends the events (one INSERT over `unnest` of the arrays) and
   * upserts the snapshot. The INSERT runs only if the journal's highest seq is
   * `firstSeq - 1` ($6) and the writer holds its lease ($10, $11), and the snapshot only
   * if the events went in, so a refused append writes nothing and raises no error.
   * Returns whether the writer was fenced in, the highest seq seen and the number of
   * events inserted.
   */
  append: {
    name: "switchboard_append_fenced",
    text: `WITH ${fence("$10", "$11")}, head AS (
             SELECT COALESCE(MAX(seq_nr), 0) AS highest FROM event_journal WHERE persistence_id = $1::text
           ), inserted AS (
             INSERT INTO event_journal (persistence_id, seq_nr, type_url, payload, tag)
             SELECT $1::text, e.seq_nr, e.type_url, e.payload, $5::text
             FROM head, fence, unnest($2::bigint[], $3::text[], $4::bytea[]) AS e (seq_nr, type_url, payload)
             WHERE head.highest = $6::bigint - 1 AND fence.ok
             ORDER BY e.seq_nr
             RETURNING 1
           ), snapshot_upsert AS (
             INSERT INTO snapshot (persistence_id, seq_nr, type_url, payload)
             SELECT $1::text, $7::bigint, $8::text, $9::bytea
             WHERE $8::text IS NOT NULL AND EXISTS (SELECT 1 FROM inserted)
             ON CONFLICT (persistence_id) DO UPDATE
             SET seq_nr = excluded.seq_nr, type_url = excluded.type_url, payload = excluded.payload
           )
           SELECT (SELECT ok FROM fence) AS fenced, (SELECT highest FROM head) AS highest, (SELECT count(*) FROM inserted) AS inserted`,
  },
  /**
   * Offsets are `ordering` values, which a sequence hands out at INSERT time, while
   * rows become visible at COMMIT. One store commits one batch at a time, so its own
   * events become visible in offset order. Two proxies writing to one database can
   * commit out of order, though: a reader that has paged past offset 12 will never see
   * offset 11 if its transaction commits later. Eventing must therefore read with a
   * small lag (or re-read a window behind its offset) until a gap-free scheme lands.
   */
  eventsByTag: {
    name: "switchboard_events_by_tag",
    text: `SELECT ordering, persistence_id, seq_nr, type_url, payload FROM event_journal
           WHERE tag = $1 AND ordering > $2 ORDER BY ordering LIMIT $3`,
  },
  getCrdt: {
    name: "switchboard_get_crdt",
    text: "SELECT state FROM crdt_state WHERE persistence_id = $1 AND entity_id = $2",
  },
  upsertCrdt: {
    name: "switchboard_upsert_crdt",
    text: `INSERT INTO crdt_state (persistence_id, entity_id, state) VALUES ($1, $2, $3)
           ON CONFLICT (persistence_id, entity_id) DO UPDATE SET state = excluded.state`,
  },
  deleteCrdt: {
    name: "switchboard_delete_crdt",
    text: "DELETE FROM crdt_state WHERE persistence_id = $1 AND entity_id = $2",
  },
  getOffset: {
    name: "switchboard_get_offset",
    text: "SELECT position FROM eventing_offset WHERE consumer = $1",
  },
  /**
   * Appends the messages of one publish at the topic's highest offset + 1, + 2, …; the
   * statement sees the writes queued before it in the same batch transaction.
   */
  publish: {
    name: "switchboard_publish",
    text: `WITH head AS (
             SELECT COALESCE(MAX(position), 0) AS highest FROM topic_message WHERE topic = $1::text
           )
           INSERT INTO topic_message (topic, position, type_url, payload, attributes)
           SELECT $1::text, head.highest + m.n, m.type_url, m.payload, m.attributes
           FROM head, unnest($2::text[], $3::bytea[], $4::text[]) WITH ORDINALITY AS m (type_url, payload, attributes, n)
           ORDER BY m.n
           RETURNING position`,
  },
  readTopic: {
    name: "switchboard_read_topic",
    text: `SELECT position, type_url, payload, attributes, floor(extract(epoch FROM published_at) * 1000)::bigint AS published_ms
           FROM topic_message WHERE topic = $1 AND position > $2 ORDER BY position LIMIT $3`,
  },
  /**
   * Retention: per topic, removes every message up to the highest one that is too old
   * (`$1`, ms since the epoch, null: no age limit) or beyond the byte budget counted
   * from the newest message (`$2`, null: no size limit); the newest message stays.
   */
  trimTopics: {
    name: "switchboard_trim_topics",
    text: `WITH cut AS (
             SELECT topic, MAX(position) AS cut FROM (
               SELECT topic, position, published_at,
                      SUM(octet_length(payload) + octet_length(attributes)) OVER (PARTITION BY topic ORDER BY position DESC) AS newer_bytes,
                      ROW_NUMBER() OVER (PARTITION BY topic ORDER BY position DESC) AS newest_rank
               FROM topic_message) ranked
             WHERE newest_rank > 1
               AND (published_at < to_timestamp($1::bigint / 1000.0) OR newer_bytes > $2::bigint)
             GROUP BY topic
           )
           , removed AS (
             DELETE FROM topic_message m USING cut
             WHERE m.topic = cut.topic AND m.position <= cut.cut
             RETURNING m.topic, m.position
           )
           SELECT topic, COUNT(*) AS removed, MAX(position) + 1 AS first_offset FROM removed GROUP BY topic`,
  },
  /** The offset before the first message published at or after `$2` (ms), else the topic's last offset. */
  offsetAtTime: {
    name: "switchboard_topic_offset_at_time",
    text: `SELECT COALESCE(
             (SELECT MIN(position) - 1 FROM topic_message WHERE topic = $1 AND published_at >= to_timestamp($2::bigint / 1000.0)),
             (SELECT MAX(position) FROM topic_message WHERE topic = $1),
             0) AS position`,
  },
  getGroupOffset: {
    name: "switchboard_get_group_offset",
    text: "SELECT position FROM topic_group_offset WHERE topic = $1 AND group_name = $2",
  },
  upsertGroupOffset: {
    name: "switchboard_upsert_group_offset",
    text: `INSERT INTO topic_group_offset (topic, group_name, position) VALUES ($1, $2, $3)
           ON CONFLICT (topic, group_name) DO UPDATE SET position = excluded.position`,
  },
  upsertOffset: {
    name: "switchboard_upsert_offset",
    text: `INSERT INTO eventing_offset (consumer, position) VALUES ($1, $2)
           ON CONFLICT (consumer) DO UPDATE SET position = excluded.position`,
  },
  /**
   * Grants each lease of $2 to owner $1 for $3 ms when it is new, already $1's, or
   * expired; a change of owner adds one to the token. The row lock of the upsert
   * serialises claims of one lease, and waits for write batches that fenced on it
   * (`FOR SHARE`) to commit, so a new owner reads everything its predecessor wrote.
   */
  claimLeases: {
    name: "switchboard_claim_leases",
    text: `INSERT INTO cluster_lease AS l (name, owner, token, expires_at)
           SELECT name, $1::text, 1, now() + $3::bigint * interval '1 millisecond' FROM unnest($2::text[]) AS name
           ON CONFLICT (name) DO UPDATE
           SET token = CASE WHEN l.owner = excluded.owner THEN l.token ELSE l.token + 1 END,
               owner = excluded.owner, expires_at = excluded.expires_at
           WHERE l.owner = excluded.owner OR l.expires_at <= now()
           RETURNING name, token`,
  },
  /** Expires $1's hold of the leases $2 now; the rows (and their tokens) stay. */
  releaseLeases: {
    name: "switchboard_release_leases",
    text: `UPDATE cluster_lease SET expires_at = LEAST(expires_at, now())
           WHERE owner = $1 AND name = ANY($2::text[])`,
  },
  listLeases: {
    name: "switchboard_list_leases",
    text: `SELECT name, owner, token,
                  GREATEST(0, ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000))::bigint AS remaining_ms
           FROM cluster_lease ORDER BY name`,
  },
  /** Upserts member $1 heard from now and answers every member heard from within $5 ms, itself included. */
  heartbeat: {
    name: "switchboard_heartbeat",
    text: `WITH me AS (
             INSERT INTO cluster_member (node_id, address, status, services_hash, heartbeat_at)
             VALUES ($1, $2, $3, $4, now())
             ON CONFLICT (node_id) DO UPDATE
             SET address = excluded.address, status = excluded.status, services_hash = excluded.services_hash, heartbeat_at = excluded.heartbeat_at
             RETURNING node_id, address, status, services_hash, 0::bigint AS age_ms
           )
           SELECT * FROM me
           UNION ALL
           SELECT node_id, address, status, services_hash, floor(extract(epoch FROM now() - heartbeat_at) * 1000)::bigint
           FROM cluster_member
           WHERE node_id <> $1 AND heartbeat_at > now() - $5::bigint * interval '1 millisecond'
           ORDER BY node_id`,
  },
  leave: {
    name: "switchboard_leave",
    text: "DELETE FROM cluster_member WHERE node_id = $1",
  },
} as const satisfies Record<string, StatementDef>;

/** Loads the driver, turning a missing package into a clear error. */
async function loadDriver(): Promise<typeof import("pg")> {
  try {
    return await import("pg");
  } catch (err) {
    throw new SwitchboardError("the postgres store needs the pg package (8.x); install it next to @switchboard/proxy", Code.FailedPrecondition, { cause: err });
  }
}

/** The connection string without its password or query, for logs and `description`. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username === "" ? "" : `${parsed.username}@`;
    return `postgres://${user}${parsed.host}${parsed.pathname}`;
  } catch {
    return "postgres";
  }
}

/**
 * The bound of a `readEvents` call as the server can take it: integral, and within
 * bigint. Returns `undefined` when nothing can follow it (+Infinity).
 */
function seqBound(afterSeq: number): number | undefined {
  if (Number.isNaN(afterSeq) || afterSeq < 0) return 0;
  if (afterSeq > Number.MAX_SAFE_INTEGER) return undefined;
  return Math.floor(afterSeq);
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

function changesContext(persistenceId: string): string {
  return `value changes of "${persistenceId}"`;
}

function topicContext(topic: string): string {
  return `topic "${topic}"`;
}

function groupContext(topic: string, group: string): string {
  return `offset of group "${group}" on topic "${topic}"`;
}

function offsetContext(consumer: string): string {
  return `offset of consumer "${consumer}"`;
}

function closedError(description: string): SwitchboardError {
  return new SwitchboardError(`${description}: store is closed`, Code.Unavailable);
}

function dataLoss(context: string, detail: string): SwitchboardError {
  return new SwitchboardError(`${context}: cannot decode stored row: ${detail}`, Code.DataLoss);
}

function decodeText(value: unknown, context: string): string {
  if (typeof value !== "string") throw dataLoss(context, `expected text, got ${typeof value}`);
  return value;
}

/** The Any held in a row's `type_url` and `payload` columns. */
function decodeAny(row: Row, context: string): AnyValue {
  const typeUrl = row.type_url;
  if (typeof typeUrl !== "string") throw dataLoss(context, "type_url is not text");
  return { typeUrl, value: decodeBytes(row.payload, context) };
}

/**
 * A bytea column as a plain Uint8Array. `pg` decodes bytea into a Buffer that may be a
 * slice of Node's shared allocation pool; such a view is copied so that callers never
 * share memory with anything else. A Buffer owning its whole ArrayBuffer is kept.
 */
function decodeBytes(value: unknown, context: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw dataLoss(context, `expected bytea, got ${value === null ? "null" : typeof value}`);
  if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) {
    return new Uint8Array(value.buffer, 0, value.byteLength);
  }
  return new Uint8Array(value);
}

/** An integer column: `pg` hands out int4 as a number and int8 (bigint, count) as a decimal string. */
function decodeInt(value: unknown, context: string): number {
  const number = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number)) {
    throw dataLoss(context, `expected an integer, got ${typeof value === "string" || typeof value === "number" ? value : typeof value}`);
  }
  return number;
}

/** A private copy of caller bytes, taken when a write is queued; a Buffer so `pg` sends it as binary. */
function copyBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

/** The SQLSTATE of an error the server sent (pg's DatabaseError carries `severity` too, a socket error does not). */
function sqlStateOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err) || !("severity" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/** Socket errors that mean the server cannot be reached (now). */
const SOCKET_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * Messages of the errors `pg` raises itself, without a code, when a connection ends,
 * cannot be opened in time or is used after it failed.
 */
const PG_CONNECTION_MESSAGE =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|Cannot use a pool after calling end/i;

/**
 * Whether an error means the connection (or the server) is gone, as opposed to one
 * statement failing: class 08 (connection exception), the server shutting down or
 * starting (57P01–57P03), a socket error, or `pg`'s own connection errors.
 */
function isConnectionLoss(err: unknown): boolean {
  const state = sqlStateOf(err);
  if (state !== undefined) return state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03";
  if (err instanceof AggregateError) return err.errors.some(isConnectionLoss);
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" && SOCKET_ERRORS.has(err.code)) {
    return true;
  }
  return err instanceof Error && PG_CONNECTION_MESSAGE.test(err.message);
}

/** Maps anything `pg` threw to a SwitchboardError naming the journal or entity. */
function classify(err: unknown, context: string): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  const message = `${context}: ${messageOf(err)}`;
  const state = sqlStateOf(err) ?? "";
  // unique_violation: another writer took the key; serialization failure and deadlock
  // are conflicts too, and retrying may succeed.
  if (state === "23505" || state === "40001" || state === "40P01") {
    return new SwitchboardError(`${context}: conflicting concurrent write (${messageOf(err)})`, Code.Aborted, { cause: err });
  }
  if (isConnectionLoss(err)) return new SwitchboardError(message, Code.Unavailable, { cause: err });
  // Insufficient resources (disk full, too many connections), a lock or statement
  // timeout, a read-only server (a standby after failover): retrying later, or
  // against another server, may work.
  if (state.startsWith("53") || state === "55P03" || state === "57014" || state === "25006") {
    return new SwitchboardError(message, Code.Unavailable, { cause: err });
  }
  // Text PostgreSQL cannot store, such as a NUL character in an id or a type URL.
  if (state === "22021" || state === "22P05") return new SwitchboardError(message, Code.InvalidArgument, { cause: err });
  if (state === "54000") return new SwitchboardError(message, Code.ResourceExhausted, { cause: err });
  if (state === "XX001" || state === "XX002") return new SwitchboardError(message, Code.DataLoss, { cause: err });
  return new SwitchboardError(message, Code.Internal, { cause: err });
}
