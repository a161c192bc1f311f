/**
 * The store contract (kill -9 and reopen cases included) and the inspector contract over a
 * SQLite file in one commit mode, for the test files of each mode.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runStoreContract } from "../contract.case.js";
import { runInspectorContract } from "../inspector-contract.case.js";
import { createSqliteInspector } from "./sqlite-inspector.js";
import { createSqliteStore, type SqliteCommitMode } from "./sqlite-store.js";

/**
 * Runs both contracts as `name`, on stores opened with `commit` (undefined: the default
 * mode). `tempDir` gives a directory the calling file removes when its tests are done.
 */
export function runSqliteContracts(name: string, commit: SqliteCommitMode | undefined, tempDir: () => string): void {
  const open = (path: string) => createSqliteStore(commit === undefined ? { path } : { path, commit });
  runStoreContract(
    name,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "switchboard-sqlite-"));
      const store = await open(join(dir, "store.db"));
      if (commit !== undefined) assert.equal(store.commitMode, commit);
      return {
        store,
        async cleanup() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    {
      durable: async () => {
        const path = join(tempDir(), "kill.db");
        // kill-writer.fixture.ts opens `sqlite:` inline and `sqlite-worker:` on a writer thread.
        return { target: `${commit === "worker" ? "sqlite-worker" : "sqlite"}:${path}`, open: () => open(path), cleanup: async () => {} };
      },
    },
  );

  runInspectorContract(name, async () => {
    const path = join(tempDir(), "inspected.db");
    const store = await open(path);
    return { store, openInspector: () => createSqliteInspector(path), cleanup: () => store.close() };
  });
}
