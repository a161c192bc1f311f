import type { PoolClient } from "pg";
import { Code, SwitchboardError } from "../../errors/index.js";

/**
 * The schema migrations of the PostgreSQL store, oldest first; entry `i` brings the
 * database from version `i` to version `i + 1`. Never edit a shipped entry: add one.
 * Each entry is a list of single statements, because the store's connections run in
 * pipeline mode, where one query string must hold one statement.
 *
 * The tables (docs/design.md#tables), adapted to the store ports:
 * - `event_journal.persistence_id` holds the journal id (`<persistence id>|<entity id>`),
 *   `tag` the one tag every event of an entity gets (its persistence id), and `type_url`
 *   plus `payload` the `google.protobuf.Any` as the user function sent it.
 * - `ordering` is the global offset that eventing pages by tag, hence the index on
 *   `(tag, ordering)`.
 * - `value_entity.version` grows by one on every update, so a clustered writer can
 *   fence with `UPDATE … WHERE version = $expected` (compare-and-set) later.
 */
export const MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE event_journal (
       ordering       bigserial   NOT NULL,
       persistence_id text        NOT NULL,
       seq_nr         bigint      NOT NULL,
       type_url       text        NOT NULL,
       payload        bytea       NOT NULL,
       tag            text,
       written_at     timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (persistence_id, seq_nr)
     )`,
    "CREATE INDEX event_journal_tag ON event_journal (tag, ordering)",
    `CREATE TABLE snapshot (
       persistence_id text   PRIMARY KEY,
       seq_nr         bigint NOT NULL,
       type_url       text   NOT NULL,
       payload        bytea  NOT NULL
     )`,
    `CREATE TABLE value_entity (
       persistence_id text   NOT NULL,
       entity_id      text   NOT NULL,
       version        bigint NOT NULL,
       type_url       text   NOT NULL,
       payload        bytea  NOT NULL,
       PRIMARY KEY (persistence_id, entity_id)
     )`,
    `CREATE TABLE crdt_state (
       persistence_id text  NOT NULL,
       entity_id      text  NOT NULL,
       state          bytea NOT NULL,
       PRIMARY KEY (persistence_id, entity_id)
     )`,
    `CREATE TABLE eventing_offset (
       consumer text   PRIMARY KEY,
       position bigint NOT NULL
     )`,
  ],
  // Cluster arbitration: leases with fencing tokens and member heartbeats, both timed
  // by the server's clock. A lease row is never deleted, so its token only grows.
  [
    `CREATE TABLE cluster_lease (
       name       text        PRIMARY KEY,
       owner      text        NOT NULL,
       token      bigint      NOT NULL,
       expires_at timestamptz NOT NULL
     )`,
    `CREATE TABLE cluster_member (
       node_id       text        PRIMARY KEY,
       address       text        NOT NULL,
       status        text        NOT NULL,
       services_hash text        NOT NULL,
       heartbeat_at  timestamptz NOT NULL
     )`,
  ],
  // The embedded broker: one append-only log per topic (offsets 1, 2, 3… per topic,
  // taken as MAX + 1 in the publishing statement; the primary key refuses a second
  // proxy racing for the same offset), CloudEvents attributes as JSON text, and the
  // stored progress of each consumer group.
  [
    `CREATE TABLE topic_message (
       topic        text        NOT NULL,
       position     bigint      NOT NULL,
       type_url     text        NOT NULL,
       payload      bytea       NOT NULL,
       attributes   text        NOT NULL,
       published_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (topic, position)
     )`,
    `CREATE TABLE topic_group_offset (
       topic      text   NOT NULL,
       group_name text   NOT NULL,
       position   bigint NOT NULL,
       PRIMARY KEY (topic, group_name)
     )`,
  ],
  // Value-entity changes as an event source: one log per persistence id, positions
  // 1, 2, 3… taken as MAX + 1 in the statement that writes the value. Writers of one
  // persistence id hold a transaction-scoped advisory lock from the start of their
  // batch (see `changeLocks`), so positions commit in order across proxies and a reader
  // paging by position never skips one. A delete has no type_url and payload.
  [
    `CREATE TABLE value_change (
       persistence_id text        NOT NULL,
       position       bigint      NOT NULL,
       entity_id      text        NOT NULL,
       type_url       text,
       payload        bytea,
       changed_at     timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (persistence_id, position)
     )`,
  ],
];

/** The schema version this build writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** How long a starting store waits for another one's migration before it gives up (`Code.Unavailable`), in ms. */
const MIGRATION_LOCK_WAIT_MS = 120_000;

/**
 * Brings the database to {@link SCHEMA_VERSION}, recording each applied step in
 * `schema_version`, all in one transaction.
 *
 * Several proxies may start against one database at once. The transaction first takes
 * a transaction-scoped advisory lock, so they migrate one after the other: without it
 * two concurrent `CREATE TABLE IF NOT EXISTS` can still collide on the catalog's unique
 * index, and two proxies could both apply the same step. The lock goes with COMMIT or
 * ROLLBACK, also when the connection dies. A store waits up to two minutes for that
 * lock (then fails with `Code.Unavailable`).
 *
 * Throws `Code.FailedPrecondition` when the database was written by a newer schema
 * than this build knows. Other errors propagate as thrown by `pg`; the caller maps them.
 */
export async function migrate(client: PoolClient, description: string): Promise<void> {
  await client.query("BEGIN");
  try {
    await takeSchemaLock(client, description);
    await client.query("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    const { rows } = await client.query<{ version: unknown }>("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version");
    const current = rows[0]?.version;
    if (typeof current !== "number" || !Number.isSafeInteger(current)) {
      throw new SwitchboardError(`${description}: unreadable schema_version table`, Code.DataLoss);
    }
    if (current > SCHEMA_VERSION) {
      throw new SwitchboardError(
        `${description}: database schema version ${current} is newer than this proxy supports (${SCHEMA_VERSION})`,
        Code.FailedPrecondition,
      );
    }
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      for (const statement of MIGRATIONS[version - 1] ?? []) await client.query(statement);
      await client.query("INSERT INTO schema_version (version) VALUES ($1)", [version]);
    }
    await client.query("COMMIT");
  } catch (err) {
    // A failed ROLLBACK (connection gone) changes nothing: the server rolls back anyway.
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/**
 * Takes the schema's transaction-scoped advisory lock, polling with the `try` variant.
 * A blocking `pg_advisory_xact_lock` would be cut short by the session's
 * `lock_timeout` and the client's query timeout, both kept short for entity writes;
 * waiting for another proxy's migration is no conflict and may take longer.
 */
async function takeSchemaLock(client: PoolClient, description: string): Promise<void> {
  const deadline = Date.now() + MIGRATION_LOCK_WAIT_MS;
  for (;;) {
    const { rows } = await client.query<{ locked: unknown }>("SELECT pg_try_advisory_xact_lock(hashtextextended('switchboard:schema', 0)) AS locked");
    if (rows[0]?.locked === true) return;
    if (Date.now() > deadline) {
      throw new SwitchboardError(`${description}: another proxy has been migrating the schema for ${MIGRATION_LOCK_WAIT_MS / 1000} s`, Code.Unavailable);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
