/**
 * The PostgreSQL store against a real, throw-away PostgreSQL 15 server (see
 * `pg-server.ts`): the shared store contract, then what only a server shows (schema
 * migration under concurrency, group commit, conflicts inside a batch, the server
 * going away, a writer killed with SIGKILL).
 *
 * Run: node --import tsx --test test/postgres/postgres-store.test.ts
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import pg from "pg";
import { Code, SwitchboardError } from "../../packages/proxy/src/errors/index.js";
import { runStoreContract } from "../../packages/proxy/src/store/contract.case.js";
import { runInspectorContract } from "../../packages/proxy/src/store/inspector-contract.case.js";
import { createPostgresInspector, createPostgresStore, type PostgresStore } from "../../packages/proxy/src/store/postgres/index.js";
import { type AnyValue, LOCAL_WRITER } from "../../packages/proxy/src/store/types.js";
import { type PostgresServer, startPostgres } from "./pg-server.js";

// One server for the file, started on first use; every test gets its own database.
let shared: Promise<PostgresServer> | undefined;
function sharedServer(): Promise<PostgresServer> {
  shared ??= startPostgres();
  return shared;
}
async function freshDatabase(): Promise<string> {
  return (await sharedServer()).createDatabase();
}
after(async () => {
  if (shared !== undefined) await (await shared).stop();
});

runStoreContract(
  "postgres",
  async () => {
    const store = await createPostgresStore({ url: await freshDatabase() });
    return { store, cleanup: () => store.close() };
  },
  {
    cluster: true,
    durable: async () => {
      const url = await freshDatabase();
      return { target: url, open: () => createPostgresStore({ url }), cleanup: async () => {} };
    },
  },
);

runInspectorContract("postgres", async () => {
  const url = await freshDatabase();
  const store = await createPostgresStore({ url });
  return { store, openInspector: () => createPostgresInspector({ url }), cleanup: () => store.close() };
});

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));
const any = (typeUrl: string, value: string): AnyValue => ({ typeUrl, value: bytes(value) });

/** Runs `body` with a raw `pg` client on `url`, for looking at (or breaking) what the store wrote. */
async function withRaw<T>(url: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

function expectCode(code: Code, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SwitchboardError, `expected a SwitchboardError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

function assertRejectedWith(result: PromiseSettledResult<unknown> | undefined, code: Code): void {
  assert.equal(result?.status, "rejected");
  if (result?.status === "rejected") expectCode(code)(result.reason);
}

describe("postgres store", () => {
  it("tells its commit observer each committed batch's duration and size", async () => {
    const commits: [number, number][] = [];
    const store = await createPostgresStore({ url: await freshDatabase(), onCommit: (seconds, size) => commits.push([seconds, size]) });
    try {
      await store.writeValue({ kind: "update", persistenceId: "p", entityId: "first", value: any("t/V", "1"), writer: LOCAL_WRITER });
      assert.equal(commits.length, 1);
      assert.equal(commits[0]?.[1], 1);
      // Writes queued in one turn of the event loop commit together.
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.writeValue({ kind: "update", persistenceId: "p", entityId: `e${i}`, value: any("t/V", "1"), writer: LOCAL_WRITER }),
        ),
      );
      assert.equal(
        commits.reduce((sum, [, size]) => sum + size, 0),
        21,
      );
      assert.ok(commits.length < 21, `${commits.length} batches`);
      for (const [seconds] of commits) assert.ok(seconds > 0 && Number.isFinite(seconds));
    } finally {
      await store.close();
    }
  });

  it("creates the schema once when several stores open a fresh database at once, and again is a no-op", async () => {
    const url = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 6 }, () => createPostgresStore({ url, poolSize: 2 })));
    for (const store of stores) {
      assert.match(store.description, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/switchboard_\d+$/);
    }
    // They all work against the one schema.
    await Promise.all(stores.map((store, i) => store.saveOffset(`c${i}`, i)));
    await Promise.all(stores.map((store) => store.close()));
    await (await createPostgresStore({ url })).close();

    await withRaw(url, async (client) => {
      const versions = await client.query("SELECT version FROM schema_version ORDER BY version");
      assert.deepEqual(
        versions.rows.map((r) => r.version),
        [1, 2, 3, 4],
      );
      const tables = await client.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename");
      assert.deepEqual(
        tables.rows.map((r) => r.tablename),
        [
          "cluster_lease",
          "cluster_member",
          "crdt_state",
          "event_journal",
          "eventing_offset",
          "schema_version",
          "snapshot",
          "topic_group_offset",
          "topic_message",
          "value_change",
          "value_entity",
        ],
      );
      const offsets = await client.query("SELECT count(*)::int AS n FROM eventing_offset");
      assert.equal(offsets.rows[0]?.n, 6);
    });
  });

  it("migrates under an advisory lock: a store opening while another migrates waits for it", async () => {
    const url = await freshDatabase();
    await withRaw(url, async (other) => {
      // Stand in for another proxy in the middle of its migration.
      await other.query("BEGIN");
      await other.query("SELECT pg_advisory_xact_lock(hashtextextended('switchboard:schema', 0))");
      let opened = false;
      // A lock timeout far shorter than the wait: waiting for another proxy's
      // migration is not a lock timeout.
      const opening = createPostgresStore({ url, lockTimeoutMs: 100 }).then((store) => {
        opened = true;
        return store;
      });
      opening.catch(() => undefined); // awaited below; keeps an early failure from being unhandled
      await waitForSession(url, "query LIKE '%pg_try_advisory_xact_lock%'");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(opened, false);
      await other.query("COMMIT");
      const store = await opening;
      await store.saveOffset("c", 1);
      await store.close();
    });
  });

  it("refuses a database written by a newer schema", async () => {
    const url = await freshDatabase();
    await (await createPostgresStore({ url })).close();
    await withRaw(url, (client) => client.query("INSERT INTO schema_version (version) SELECT MAX(version) + 1 FROM schema_version"));
    await assert.rejects(createPostgresStore({ url }), expectCode(Code.FailedPrecondition, /version 5 is newer/));
  });

  it("fails to open with UNAVAILABLE when nothing listens, and rejects a pool of fewer than 2", async () => {
    const server = await sharedServer();
    // A port of the loopback that the server does not use; connecting is refused at once.
    const url = `postgres://postgres@127.0.0.1:${server.port === 1 ? 2 : 1}/switchboard`;
    await assert.rejects(createPostgresStore({ url }), expectCode(Code.Unavailable));
    await assert.rejects(createPostgresStore({ url: server.url, poolSize: 1 }), expectCode(Code.InvalidArgument));
  });

  it("counts a value entity's updates in its version column (for a later compare-and-set)", async () => {
    const url = await freshDatabase();
    const store = await createPostgresStore({ url });
    try {
      await store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", "v"), writer: LOCAL_WRITER });
      await store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", "v2"), writer: LOCAL_WRITER });
      const version = await withRaw(url, (client) => client.query("SELECT version FROM value_entity WHERE entity_id = 'e'"));
      assert.equal(version.rows[0]?.version, "2");
    } finally {
      await store.close();
    }
  });

  it("numbers the value changes of two stores writing one persistence id gap-free, and a reader paging meanwhile skips none", async () => {
    // Two stores on one database stand for two proxies of a cluster writing entities of one type.
    const url = await freshDatabase();
    const stores = [await createPostgresStore({ url }), await createPostgresStore({ url })];
    try {
      const seen: number[] = [];
      let writing = true;
      const reader = (async () => {
        const [store] = stores;
        let after = 0;
        while (true) {
          const done = !writing;
          const changes = (await store?.valueChanges("counters", after, 50)) ?? [];
          for (const change of changes) seen.push(change.position);
          after = changes.at(-1)?.position ?? after;
          if (done && changes.length === 0) return;
        }
      })();
      const value = (n: number): AnyValue => ({ typeUrl: "t/Counter", value: new TextEncoder().encode(String(n)) });
      // Each store writes one batch after the other (a write awaited before the next), so
      // the two stores' transactions interleave all along.
      await Promise.all(
        stores.map(async (store, s) => {
          for (let i = 0; i < 150; i++) {
            await store.writeValue({
              kind: "update",
              persistenceId: "counters",
              entityId: `s${s}-e${i % 10}`,
              value: value(i),
              writer: LOCAL_WRITER,
              recordChange: true,
            });
          }
        }),
      );
      writing = false;
      await reader;
      assert.deepEqual(
        seen,
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it("fails the writes of a batch that cannot take its change-log lock within lock_timeout with UNAVAILABLE, and carries on", async () => {
    const url = await freshDatabase();
    const store = await createPostgresStore({ url, lockTimeoutMs: 200 });
    try {
      const value: AnyValue = { typeUrl: "t/Counter", value: new TextEncoder().encode("1") };
      const write = { kind: "update", persistenceId: "counters", entityId: "a", value, writer: LOCAL_WRITER, recordChange: true } as const;
      await withRaw(url, async (other) => {
        // Another proxy's batch holds the log's lock and does not commit.
        await other.query("BEGIN");
        await other.query("SELECT pg_advisory_xact_lock(hashtextextended('switchboard.value_change:' || 'counters', 0))");
        await assert.rejects(store.writeValue(write), expectCode(Code.Unavailable));
        await other.query("COMMIT");
      });
      assert.deepEqual(await store.valueChanges("counters", 0, 10), []);
      assert.equal(await store.getValue("counters", "a"), undefined);
      await store.writeValue(write);
      assert.deepEqual(
        (await store.valueChanges("counters", 0, 10)).map((c) => c.position),
        [1],
      );
    } finally {
      await store.close();
    }
  });

  it("commits 500 concurrent writes in far fewer transactions than writes", async () => {
    const store = await createPostgresStore({ url: await freshDatabase() });
    try {
      const before = store.stats;
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          i % 2 === 0
            ? store.writeValue({ kind: "update", persistenceId: "g", entityId: `e${i}`, value: any("t/V", `${i}`), writer: LOCAL_WRITER })
            : store.append({ journalId: `g|${i}`, tag: "g", firstSeq: 1, events: [any("t/E", `${i}`)], writer: LOCAL_WRITER }),
        ),
      );
      const afterStats = store.stats;
      const transactions = afterStats.transactions - before.transactions;
      assert.equal(afterStats.writes - before.writes, 500);
      assert.ok(transactions >= 1 && transactions <= 5, `500 writes took ${transactions} transactions`);
      assert.ok(afterStats.largestBatch >= 100, `largest batch ${afterStats.largestBatch}`);
      assert.equal(afterStats.replayedTransactions, 0);
      assert.equal((await store.eventsByTag("g", 0, 1000)).length, 250);
      assert.equal(text((await store.getValue("g", "e498"))?.value), "498");

      // Writes awaited one by one cannot share a transaction.
      const sequentialBefore = store.stats.transactions;
      for (let i = 0; i < 5; i++) await store.saveOffset("c", i);
      assert.equal(store.stats.transactions - sequentialBefore, 5);
    } finally {
      await store.close();
    }
  });

  describe("a failing write inside a batch fails alone", () => {
    it("a taken seq: the first append wins, the second is ABORTED, the rest commit in the same transaction", async () => {
      const store = await createPostgresStore({ url: await freshDatabase() });
      try {
        const before = store.stats;
        const results = await Promise.allSettled([
          store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [any("t/E", "first")], snapshot: any("t/S", "first"), writer: LOCAL_WRITER }),
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", "v"), writer: LOCAL_WRITER }),
          store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [any("t/E", "second")], snapshot: any("t/S", "second"), writer: LOCAL_WRITER }),
          store.append({ journalId: "j", tag: "t", firstSeq: 5, events: [any("t/E", "gap")], writer: LOCAL_WRITER }),
          store.append({ journalId: "j", tag: "t", firstSeq: 2, events: [any("t/E", "next")], writer: LOCAL_WRITER }),
          store.saveOffset("c", 7),
        ]);
        assert.deepEqual(
          results.map((r) => r.status),
          ["fulfilled", "fulfilled", "rejected", "rejected", "fulfilled", "fulfilled"],
        );
        assertRejectedWith(results[2], Code.Aborted);
        assertRejectedWith(results[3], Code.Aborted);
        assert.equal(store.stats.transactions - before.transactions, 1);
        assert.equal(store.stats.replayedTransactions, 0);
        assert.deepEqual(
          (await store.readEvents("j", 0)).map((e) => text(e.payload.value)),
          ["first", "next"],
        );
        // The refused append wrote no snapshot either.
        assert.equal(text((await store.loadSnapshot("j"))?.payload.value), "first");
        assert.equal(text((await store.getValue("p", "e"))?.value), "v");
        assert.equal(await store.loadOffset("c"), 7);
      } finally {
        await store.close();
      }
    });

    it("an SQL error (a NUL character PostgreSQL cannot store) is INVALID_ARGUMENT; the batch is replayed with savepoints", async () => {
      const store = await createPostgresStore({ url: await freshDatabase() });
      try {
        const results = await Promise.allSettled([
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "ok-1", value: any("t/V", "1"), writer: LOCAL_WRITER }),
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "bad\u0000id", value: any("t/V", "x"), writer: LOCAL_WRITER }),
          store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [any("t/E", "e1")], writer: LOCAL_WRITER }),
          store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [any("t/E", "dup")], writer: LOCAL_WRITER }),
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "ok-2", value: any("t/V", "2"), writer: LOCAL_WRITER }),
        ]);
        assert.deepEqual(
          results.map((r) => r.status),
          ["fulfilled", "rejected", "fulfilled", "rejected", "fulfilled"],
        );
        assertRejectedWith(results[1], Code.InvalidArgument);
        assertRejectedWith(results[3], Code.Aborted);
        assert.equal(store.stats.replayedTransactions, 1);
        assert.equal(store.stats.failedTransactions, 0);
        assert.equal(text((await store.getValue("p", "ok-1"))?.value), "1");
        assert.equal(text((await store.getValue("p", "ok-2"))?.value), "2");
        assert.deepEqual(
          (await store.readEvents("j", 0)).map((e) => text(e.payload.value)),
          ["e1"],
        );
      } finally {
        await store.close();
      }
    });

    it("a primary-key race with another writer (23505) is ABORTED for that append only", async () => {
      const url = await freshDatabase();
      const store = await createPostgresStore({ url });
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        // Another proxy has inserted seq 1 of journal "race" but not committed yet: our
        // append passes its highest-seq check, then waits on the primary key.
        await other.query("BEGIN");
        await other.query("INSERT INTO event_journal (persistence_id, seq_nr, type_url, payload, tag) VALUES ('race', 1, 't/E', '\\x01', 't')");
        const pending = Promise.allSettled([
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", "v"), writer: LOCAL_WRITER }),
          store.append({ journalId: "race", tag: "t", firstSeq: 1, events: [any("t/E", "ours")], writer: LOCAL_WRITER }),
          store.saveOffset("c", 3),
        ]);
        await waitForSession(url, "wait_event_type = 'Lock'");
        await other.query("COMMIT");
        const results = await pending;
        assert.deepEqual(
          results.map((r) => r.status),
          ["fulfilled", "rejected", "fulfilled"],
        );
        assertRejectedWith(results[1], Code.Aborted);
        assert.equal(store.stats.replayedTransactions, 1);
        assert.equal(text((await store.getValue("p", "e"))?.value), "v");
        assert.equal(await store.loadOffset("c"), 3);
        const events = await store.readEvents("race", 0);
        assert.deepEqual(
          events.map((e) => Array.from(e.payload.value)),
          [[1]],
        );
      } finally {
        await other.end();
        await store.close();
      }
    });
  });

  it("reports an undecodable row as DATA_LOSS naming the journal or entity", async () => {
    const url = await freshDatabase();
    const store = await createPostgresStore({ url });
    try {
      await store.writeValue({ kind: "update", persistenceId: "cart", entityId: "c-7", value: any("t/V", "x"), writer: LOCAL_WRITER });
      await store.append({ journalId: "cart|c-7", tag: "cart", firstSeq: 1, events: [any("t/E", "x")], writer: LOCAL_WRITER });
      await store.putCrdt("presence", "room", bytes("x"));
      await withRaw(url, async (client) => {
        await client.query("ALTER TABLE value_entity ALTER COLUMN type_url DROP NOT NULL");
        await client.query("UPDATE value_entity SET type_url = NULL");
        // Beyond what a JavaScript number holds exactly.
        await client.query("UPDATE event_journal SET seq_nr = 9007199254740993");
        await client.query("ALTER TABLE crdt_state ALTER COLUMN state DROP NOT NULL");
        await client.query("UPDATE crdt_state SET state = NULL");
      });
      await assert.rejects(store.getValue("cart", "c-7"), expectCode(Code.DataLoss, /"cart" id "c-7"/));
      await assert.rejects(store.readEvents("cart|c-7", 0), expectCode(Code.DataLoss, /journal "cart\|c-7"/));
      await assert.rejects(store.highestSeq("cart|c-7"), expectCode(Code.DataLoss, /journal "cart\|c-7"/));
      await assert.rejects(store.eventsByTag("cart", 0, 10), expectCode(Code.DataLoss, /journal "cart\|c-7"/));
      await assert.rejects(store.getCrdt("presence", "room"), expectCode(Code.DataLoss, /"presence" id "room"/));
    } finally {
      await store.close();
    }
  });

  it("rejects with UNAVAILABLE while the server is down, without crashing, and recovers when it is back", { timeout: 60_000 }, async () => {
    // Its own server: this test stops it.
    const server = await startPostgres();
    const warnings: string[] = [];
    const store: PostgresStore = await createPostgresStore({
      url: server.url,
      logger: { warn: (message) => warnings.push(message) },
    });
    try {
      await store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [any("t/E", "before")], writer: LOCAL_WRITER });
      await store.saveOffset("c", 1);

      // Writers busy while the server goes away: every failure must be UNAVAILABLE.
      let running = true;
      const failures: unknown[] = [];
      let acknowledged = 0;
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; running; i++) {
          try {
            await store.writeValue({ kind: "update", persistenceId: "busy", entityId: `w${w}`, value: any("t/V", `${i}`), writer: LOCAL_WRITER });
            acknowledged += 1;
          } catch (err) {
            failures.push(err);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
      });
      await until(() => acknowledged >= 200, "200 writes acknowledged before the outage");
      await server.halt();
      await until(() => failures.length >= 20, "20 writes failed during the outage");
      running = false;
      await Promise.all(writers);
      for (const failure of failures) expectCode(Code.Unavailable)(failure);

      const down = await Promise.allSettled([
        store.append({ journalId: "j", tag: "t", firstSeq: 2, events: [any("t/E", "down")], writer: LOCAL_WRITER }),
        store.saveOffset("c", 2),
        store.loadOffset("c"),
        store.readEvents("j", 0),
      ]);
      for (const result of down) assertRejectedWith(result, Code.Unavailable);
      assert.ok(store.stats.failedTransactions >= 1);
      assert.ok(warnings.includes("postgres store: write batch failed"), warnings.join("; "));

      await server.resume();
      // The pool opens new connections; the first attempts may still meet dead ones.
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await store.append({ journalId: "j", tag: "t", firstSeq: 2, events: [any("t/E", "after")], writer: LOCAL_WRITER });
          break;
        } catch (err) {
          expectCode(Code.Unavailable)(err);
          if (Date.now() > deadline) throw err;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert.deepEqual(
        (await store.readEvents("j", 0)).map((e) => text(e.payload.value)),
        ["before", "after"],
      );
      assert.equal(await store.loadOffset("c"), 1);
    } finally {
      await store.close();
      await server.stop();
    }
  });
});

/** Polls `condition` every 5 ms, failing with `what` after 20 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Waits until a session of the store matches `where` on pg_stat_activity (it waits for
 * a row lock, or it has tried the schema lock). Polls from its own connection: inside
 * a transaction, pg_stat_activity would keep answering from its first snapshot.
 */
async function waitForSession(url: string, where: string): Promise<void> {
  await withRaw(url, async (client) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'switchboard' AND ${where}`);
      if (rows[0]?.n > 0) return;
      if (Date.now() > deadline) throw new Error(`no session of the store matched: ${where}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });
}
