import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { durabilityCase } from "./durability.cases.js";

durabilityCase("SQLite", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-kill-"));
  return { store: `sqlite:${path.join(dir, "state.db")}`, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

durabilityCase("SQLite, commits on a writer thread", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-kill-"));
  return {
    store: `sqlite:${path.join(dir, "state.db")}`,
    args: ["--sqlite-commit", "worker"],
    logs: /sqlite store opened.*commit=worker/,
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});
