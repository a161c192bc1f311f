import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { eventSourcedCases } from "./event-sourced.cases.js";

const dirs: string[] = [];
eventSourcedCases({
  name: "SQLite",
  durable: true,
  async make() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-es-"));
    dirs.push(dir);
    return `sqlite:${path.join(dir, "es.db")}`;
  },
  async cleanup() {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  },
});
eventSourcedCases({ name: "memory", durable: false, make: async () => "memory", cleanup: async () => {} });
