import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { eventsourced } from "@switchboard/protocol/tck";
import Database from "better-sqlite3";
import { eventSourcedCases } from "./event-sourced.cases.js";
import { createTestClient } from "./support/grpc-client.js";
import { startModelUserFunction } from "./support/model-user-function.js";
import { startProxy } from "./support/proxy-process.js";

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

describe("event-sourced entities over a damaged SQLite journal", () => {
  it("answers DATA_LOSS naming the journal for an undecodable row, stops only that entity and keeps the row", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-damaged-"));
    const file = path.join(dir, "es.db");
    const uf = await startModelUserFunction();
    const PROCESS = "/cloudstate.tck.model.EventSourcedTckModel/Process";
    const call = (client: ReturnType<typeof createTestClient>, id: string, emit?: string) =>
      client.unary(PROCESS, eventsourced.RequestSchema, eventsourced.ResponseSchema, {
        id,
        actions: emit ? [{ action: { case: "emit", value: { value: emit } } }] : [],
      });
    try {
      let proxy = await startProxy({ userFunctionPort: uf.port, store: `sqlite:${file}` });
      let client = createTestClient(proxy.port);
      await call(client, "damaged", "a");
      await call(client, "healthy", "h");
      client.close();
      await proxy.stop();
      const db = new Database(file);
      db.prepare("UPDATE event_journal SET payload = 'not a blob' WHERE persistence_id = ?").run("event-sourced-tck-model|damaged");
      db.close();
      proxy = await startProxy({ userFunctionPort: uf.port, store: `sqlite:${file}` });
      client = createTestClient(proxy.port);
      const damaged = await call(client, "damaged");
      assert.equal(damaged.code, grpc.status.DATA_LOSS);
      assert.match(damaged.details, /event-sourced-tck-model\|damaged/);
      assert.equal((await call(client, "healthy")).messages[0]?.message, "h", "other entities are unaffected");
      assert.equal((await call(client, "damaged")).code, grpc.status.DATA_LOSS, "still reported, not papered over");
      client.close();
      await proxy.stop();
      const check = new Database(file, { readonly: true });
      const rows = check.prepare("SELECT count(*) AS n FROM event_journal WHERE persistence_id = ?").get("event-sourced-tck-model|damaged") as { n: number };
      check.close();
      assert.equal(rows.n, 1, "the damaged row is kept for an operator to inspect");
    } finally {
      await uf.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
