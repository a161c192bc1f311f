import Database from "better-sqlite3";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { valueChangeCases } from "./value-changes.cases.js";

valueChangeCases("SQLite", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-value-changes-"));
  const file = path.join(dir, "changes.db");
  return {
    store: `sqlite:${file}`,
    async changesKept(persistenceId) {
      const db = new Database(file, { readonly: true });
      try {
        return Number(db.prepare("SELECT count(*) FROM value_change WHERE persistence_id = ?").pluck().get(persistenceId));
      } finally {
        db.close();
      }
    },
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});
