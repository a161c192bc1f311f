/**
 * The SQLite store committing on its writer thread (`commit: "worker"`): the whole store
 * contract (kill -9 and reopen cases included) and the inspector contract on that path,
 * and what happens when the thread dies: every call fails with UNAVAILABLE, nothing
 * is acknowledged that was not committed, and what was acknowledged is in the file.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { Code, SwitchboardError } from "../../errors/index.js";
import { LOCAL_WRITER } from "../types.js";
import { runSqliteContracts } from "./sqlite-contracts.case.js";
import { crashWriterThread, createSqliteStore } from "./sqlite-store.js";

const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "switchboard-sqlite-writer-"));
  tempDirs.push(dir);
  return dir;
}

after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

runSqliteContracts("sqlite, commits on a writer thread", "worker", tempDir);

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));
const value = (v: string) => ({ typeUrl: "t/V", value: bytes(v) });

function isUnavailable(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SwitchboardError, String(err));
    assert.equal(err.code, Code.Unavailable, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe("sqlite store on a writer thread", () => {
  it("commits with synchronous=FULL on its own connection, in far fewer transactions than writes", async () => {
    const path = join(tempDir(), "group.db");
    const store = await createSqliteStore({ path, commit: "worker" });
    try {
      await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          store.append({
            journalId: `g|${i % 40}`,
            tag: "g",
            firstSeq: Math.floor(i / 40) + 1,
            events: [{ typeUrl: "t/E", value: bytes(`${i}`) }],
            writer: LOCAL_WRITER,
          }),
        ),
      );
      const stats = store.stats;
      assert.equal(stats.writes, 400);
      assert.ok(stats.transactions < 400, `${stats.transactions} transactions for 400 writes`);
      assert.equal((await store.eventsByTag("g", 0, 1000)).length, 400);
      // Writes awaited one by one: each read right after its acknowledgement sees it (the reads are on another connection).
      for (let i = 1; i <= 20; i++) {
        await store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: value(`v${i}`), writer: LOCAL_WRITER });
        assert.equal(text((await store.getValue("p", "e"))?.value), `v${i}`);
        await store.append({ journalId: "seq|1", tag: "seq", firstSeq: i, events: [{ typeUrl: "t/E", value: bytes(`e${i}`) }], writer: LOCAL_WRITER });
        assert.equal(await store.highestSeq("seq|1"), i);
      }
      const [offset] = (await store.topics.publish("t", [{ payload: value("m"), attributes: { id: "1" } }])) ?? [];
      assert.equal(offset, 1);
    } finally {
      await store.close();
    }
    const raw = new Database(path, { readonly: true });
    try {
      assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(raw.prepare("SELECT COUNT(*) FROM event_journal").pluck().get(), 420);
    } finally {
      raw.close();
    }
  });

  it("rejects a whole batch with UNAVAILABLE when its transaction fails on the thread, and recovers", async () => {
    const path = join(tempDir(), "locked.db");
    const warnings: string[] = [];
    const store = await createSqliteStore({ path, commit: "worker", busyTimeoutMs: 50, logger: { warn: (message) => warnings.push(message) } });
    const other = new Database(path);
    try {
      await store.saveOffset("c", 1);
      other.exec("BEGIN IMMEDIATE");
      const results = await Promise.allSettled([
        store.saveOffset("c", 2),
        store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: value("x"), writer: LOCAL_WRITER }),
      ]);
      for (const result of results) {
        assert.equal(result.status, "rejected");
        if (result.status === "rejected") isUnavailable(/SQLITE_BUSY|locked/)(result.reason);
      }
      assert.equal(store.stats.failedTransactions, 1);
      assert.equal(warnings.length, 1);
      assert.equal(await store.loadOffset("c"), 1);
      other.exec("ROLLBACK");
      await store.saveOffset("c", 3);
      assert.equal(await store.loadOffset("c"), 3);
      assert.equal(store.failed(), undefined);
    } finally {
      other.close();
      await store.close();
    }
  });

  it("reports a conflicting append as ABORTED from the thread, the rest of its batch committing", async () => {
    const store = await createSqliteStore({ path: join(tempDir(), "conflict.db"), commit: "worker" });
    try {
      const append = (v: string) =>
        store.append({ journalId: "c|1", tag: "c", firstSeq: 1, events: [{ typeUrl: "t/E", value: bytes(v) }], writer: LOCAL_WRITER });
      const [first, second] = await Promise.allSettled([append("a"), append("b")]);
      assert.equal(first.status, "fulfilled");
      assert.equal(second.status, "rejected");
      if (second.status === "rejected") {
        assert.ok(second.reason instanceof SwitchboardError);
        assert.equal(second.reason.code, Code.Aborted);
        assert.match(second.reason.message, /journal "c\|1": append at seq 1 conflicts, highest stored seq is 1/);
      }
    } finally {
      await store.close();
    }
  });

  for (const how of ["exit", "throw"] as const) {
    it(`fails every call with UNAVAILABLE once the thread dies (${how === "exit" ? "the thread ends" : "an uncaught exception"}), and keeps what it acknowledged`, async () => {
      const path = join(tempDir(), `crash-${how}.db`);
      const logged: string[] = [];
      const store = await createSqliteStore({
        path,
        commit: "worker",
        logger: { warn: (message) => logged.push(`warn ${message}`), error: (message) => logged.push(`error ${message}`) },
      });
      let closed = false;
      try {
        await store.writeValue({ kind: "update", persistenceId: "p", entityId: "before", value: value("kept"), writer: LOCAL_WRITER });
        assert.equal(store.failed(), undefined);
        assert.equal(crashWriterThread(store, how), true);
        // Posted after the crash request: the thread takes these in order, so they are in flight when it dies
        // (after "throw" a batch may still commit first; then it must be acknowledged and stored).
        const inFlight = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            store.writeValue({ kind: "update", persistenceId: "p", entityId: `during-${i}`, value: value(`d${i}`), writer: LOCAL_WRITER }),
          ),
        );
        const acknowledged = inFlight.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        for (const r of inFlight) if (r.status === "rejected") isUnavailable(/writer thread (exited|crashed)/)(r.reason);
        if (how === "exit") assert.deepEqual(acknowledged, []);
        // From then on the store is failed, loudly.
        for (let i = 0; i < 50 && store.failed() === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.match(store.failed() ?? "", /sqlite writer thread (exited|crashed)/);
        await assert.rejects(
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "after", value: value("x"), writer: LOCAL_WRITER }),
          isUnavailable(/writer thread/),
        );
        await assert.rejects(
          store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [{ typeUrl: "t/E", value: bytes("x") }], writer: LOCAL_WRITER }),
          isUnavailable(/writer thread/),
        );
        await assert.rejects(store.getValue("p", "before"), isUnavailable(/writer thread/));
        await assert.rejects(store.topics.publish("t", [{ payload: value("m"), attributes: {} }]), isUnavailable(/writer thread/));
        assert.ok(
          logged.some((line) => line.startsWith("error sqlite store: the writer thread died")),
          logged.join("\n"),
        );
        await store.close();
        closed = true;

        const reopened = await createSqliteStore({ path, commit: "worker" });
        try {
          assert.equal(text((await reopened.getValue("p", "before"))?.value), "kept");
          for (const i of acknowledged) assert.equal(text((await reopened.getValue("p", `during-${i}`))?.value), `d${i}`);
          assert.equal(await reopened.getValue("p", "after"), undefined);
        } finally {
          await reopened.close();
        }
      } finally {
        if (!closed) await store.close();
      }
    });
  }

  it("commits inline on :memory: (another thread cannot share it), and refuses an unknown mode", async () => {
    const store = await createSqliteStore({ path: ":memory:", commit: "worker" });
    assert.equal(store.commitMode, "inline");
    assert.equal(crashWriterThread(store, "exit"), false);
    await store.saveOffset("c", 2);
    assert.equal(await store.loadOffset("c"), 2);
    await store.close();
    await assert.rejects(createSqliteStore({ path: join(tempDir(), "mode.db"), commit: "elsewhere" as "worker" }), (err: unknown) => {
      assert.ok(err instanceof SwitchboardError);
      assert.equal(err.code, Code.InvalidArgument);
      assert.match(err.message, /commit must be inline or worker, got elsewhere/);
      return true;
    });
  });
});
