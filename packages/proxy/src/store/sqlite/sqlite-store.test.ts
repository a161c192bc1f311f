import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { Code, SwitchboardError } from "../../errors/index.js";
import { runSqliteContracts } from "./sqlite-contracts.case.js";
import { createSqliteStore, type SqliteStore } from "./sqlite-store.js";
import { LOCAL_WRITER } from "../types.js";

const tempDirs: string[] = [];

/** A fresh temp directory, removed when the file's tests are done. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "switchboard-sqlite-"));
  tempDirs.push(dir);
  return dir;
}

after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe("sqlite store commit observer", () => {
  it("is told each committed batch's duration and size, and a failing observer fails no write", async () => {
    const commits: [number, number][] = [];
    const store = await createSqliteStore({
      path: join(tempDir(), "observed.db"),
      onCommit: (seconds, size) => {
        commits.push([seconds, size]);
        throw new Error("observer broke");
      },
    });
    try {
      const value = { typeUrl: "t/V", value: new Uint8Array([1]) };
      await store.writeValue({ kind: "update", persistenceId: "p", entityId: "first", value, writer: LOCAL_WRITER });
      assert.deepEqual(
        commits.map(([, size]) => size),
        [1],
      );
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.writeValue({ kind: "update", persistenceId: "p", entityId: `e${i}`, value, writer: LOCAL_WRITER })),
      );
      assert.equal(
        commits.reduce((sum, [, size]) => sum + size, 0),
        21,
      );
      assert.ok(commits.length < 21, `${commits.length} batches`);
      for (const [seconds] of commits) assert.ok(seconds >= 0 && Number.isFinite(seconds));
      assert.equal((await store.getValue("p", "e19"))?.typeUrl, "t/V");
    } finally {
      await store.close();
    }
  });
});

runSqliteContracts("sqlite", undefined, tempDir);

const bytes = (text: string) => new TextEncoder().encode(text);

describe("sqlite store batches: a write that fails rolls back alone", () => {
  it("undoes a failed single-statement append and every statement of a failed multi-event one, and commits the rest of the batch", async () => {
    const path = join(tempDir(), "partial.db");
    const store = await createSqliteStore({ path });
    // A second connection installs a trigger that refuses chosen inserts, as a constraint would.
    const other = new Database(path);
    other.exec(
      "CREATE TRIGGER refuse BEFORE INSERT ON event_journal WHEN NEW.persistence_id = 'single' OR (NEW.persistence_id = 'multi' AND NEW.seq_nr = 2) BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    );
    other.close();
    try {
      const event = (v: string) => ({ typeUrl: "t/E", value: new TextEncoder().encode(v) });
      const append = (journalId: string, events: ReturnType<typeof event>[]) =>
        store.append({ journalId, tag: "t", firstSeq: 1, events, writer: LOCAL_WRITER });
      // Queued in one turn: one batch, one transaction.
      const results = await Promise.allSettled([
        append("before", [event("a")]),
        append("single", [event("b")]),
        append("multi", [event("c"), event("d")]),
        append("after", [event("e"), event("f")]),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["fulfilled", "rejected", "rejected", "fulfilled"],
      );
      assert.equal(store.stats.failedTransactions, 0, "the batch itself committed");
      assert.deepEqual(
        (await store.readEvents("before", 0)).map((e) => e.seq),
        [1],
      );
      assert.deepEqual(await store.readEvents("single", 0), []);
      assert.deepEqual(await store.readEvents("multi", 0), [], "the first event of the failed append is undone too");
      assert.deepEqual(
        (await store.readEvents("after", 0)).map((e) => e.seq),
        [1, 2],
      );
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store", () => {
  it("creates the parent directory, runs in WAL mode and records each schema version once", async () => {
    const path = join(tempDir(), "nested", "deeper", "schema.db");
    const store = await createSqliteStore({ path });
    assert.equal(store.description, `sqlite:${path}`);
    await store.close();
    await (await createSqliteStore({ path, synchronous: "NORMAL" })).close();

    const raw = new Database(path, { readonly: true });
    try {
      assert.deepEqual(raw.prepare("SELECT version FROM schema_version").pluck().all(), [1, 2, 3]);
      assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
      const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      for (const table of [
        "crdt_state",
        "event_journal",
        "eventing_offset",
        "snapshot",
        "topic_group_offset",
        "topic_message",
        "value_change",
        "value_entity",
      ]) {
        assert.ok(tables.includes(table), `table ${table}`);
      }
    } finally {
      raw.close();
    }
  });

  it("refuses a database written by a newer schema", async () => {
    const path = join(tempDir(), "newer.db");
    await (await createSqliteStore({ path })).close();
    const raw = new Database(path);
    raw.prepare("INSERT INTO schema_version (version, applied_at) SELECT MAX(version) + 1, 0 FROM schema_version").run();
    raw.close();
    await assert.rejects(createSqliteStore({ path }), (err: unknown) => {
      assert.ok(err instanceof SwitchboardError);
      assert.equal(err.code, Code.FailedPrecondition);
      assert.match(err.message, /version 4 is newer/);
      return true;
    });
  });

  it("works on :memory:", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    await store.saveOffset("c", 4);
    assert.equal(await store.loadOffset("c"), 4);
    await store.close();
  });

  it("commits 500 concurrent writes in far fewer transactions than writes", async () => {
    const store = await createSqliteStore({ path: join(tempDir(), "group.db") });
    try {
      const before = store.stats;
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          i % 2 === 0
            ? store.writeValue({ kind: "update", persistenceId: "g", entityId: `e${i}`, value: { typeUrl: "t/V", value: bytes(`${i}`) }, writer: LOCAL_WRITER })
            : store.append({ journalId: `g|${i}`, tag: "g", firstSeq: 1, events: [{ typeUrl: "t/E", value: bytes(`${i}`) }], writer: LOCAL_WRITER }),
        ),
      );
      const afterStats = store.stats;
      const transactions = afterStats.transactions - before.transactions;
      assert.equal(afterStats.writes - before.writes, 500);
      assert.ok(transactions >= 1 && transactions <= 5, `500 writes took ${transactions} transactions`);
      assert.ok(afterStats.largestBatch >= 100, `largest batch ${afterStats.largestBatch}`);
      assert.equal((await store.eventsByTag("g", 0, 1000)).length, 250);

      // Writes awaited one by one cannot share a transaction.
      const sequentialBefore = store.stats.transactions;
      for (let i = 0; i < 5; i++) await store.saveOffset("c", i);
      assert.equal(store.stats.transactions - sequentialBefore, 5);
    } finally {
      await store.close();
    }
  });

  it("rejects a whole batch with UNAVAILABLE when its transaction fails, and recovers", async () => {
    const path = join(tempDir(), "locked.db");
    const warnings: string[] = [];
    const store: SqliteStore = await createSqliteStore({
      path,
      busyTimeoutMs: 50,
      logger: { warn: (message) => warnings.push(message) },
    });
    // Another connection holding the write lock makes BEGIN IMMEDIATE time out.
    const other = new Database(path);
    try {
      await store.saveOffset("c", 1);
      other.exec("BEGIN IMMEDIATE");
      const results = await Promise.allSettled([
        store.saveOffset("c", 2),
        store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: { typeUrl: "t/V", value: bytes("x") }, writer: LOCAL_WRITER }),
        store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [{ typeUrl: "t/E", value: bytes("x") }], writer: LOCAL_WRITER }),
      ]);
      for (const result of results) {
        assert.equal(result.status, "rejected");
        if (result.status === "rejected") {
          assert.ok(result.reason instanceof SwitchboardError);
          assert.equal(result.reason.code, Code.Unavailable, result.reason.message);
        }
      }
      assert.equal(store.stats.failedTransactions, 1);
      assert.equal(warnings.length, 1);
      // Reads still work under WAL while another connection writes.
      assert.equal(await store.loadOffset("c"), 1);
      other.exec("ROLLBACK");
      await store.saveOffset("c", 3);
      assert.equal(await store.loadOffset("c"), 3);
      assert.equal(await store.highestSeq("j"), 0);
    } finally {
      other.close();
      await store.close();
    }
  });

  it("reports an undecodable row as DATA_LOSS naming the journal or entity", async () => {
    const path = join(tempDir(), "corrupt.db");
    const store = await createSqliteStore({ path });
    try {
      await store.writeValue({ kind: "update", persistenceId: "cart", entityId: "c-7", value: { typeUrl: "t/V", value: bytes("x") }, writer: LOCAL_WRITER });
      await store.append({ journalId: "cart|c-7", tag: "cart", firstSeq: 1, events: [{ typeUrl: "t/E", value: bytes("x") }], writer: LOCAL_WRITER });
      await store.putCrdt("presence", "room", bytes("x"));
      const raw = new Database(path);
      raw.exec("UPDATE value_entity SET payload = 'not a blob'");
      raw.exec("UPDATE event_journal SET payload = 42");
      raw.exec("UPDATE crdt_state SET state = 1.5");
      raw.close();
      const expectDataLoss = (name: RegExp) => (err: unknown) => {
        assert.ok(err instanceof SwitchboardError);
        assert.equal(err.code, Code.DataLoss);
        assert.match(err.message, name);
        return true;
      };
      await assert.rejects(store.getValue("cart", "c-7"), expectDataLoss(/"cart" id "c-7"/));
      await assert.rejects(store.readEvents("cart|c-7", 0), expectDataLoss(/journal "cart\|c-7"/));
      await assert.rejects(store.eventsByTag("cart", 0, 10), expectDataLoss(/journal "cart\|c-7"/));
      await assert.rejects(store.getCrdt("presence", "room"), expectDataLoss(/"presence" id "room"/));
    } finally {
      await store.close();
    }
  });
});
