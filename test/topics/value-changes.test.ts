import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { valueChangeCases } from "./value-changes.cases.js";

valueChangeCases("SQLite", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-value-changes-"));
  return { store: `sqlite:${path.join(dir, "changes.db")}`, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});
