import assert from "node:assert/strict";
import Database from "better-sqlite3";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { eventually } from "../support/grpc-client.js";
import { startProxy } from "../support/proxy-process.js";
import { startCountersUserFunction } from "./support/counters-user-function.js";
import { readEvents, request } from "./support/topic-client.js";
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

describe("value-entity changes: a consumer that arrives with a new version of the user function", () => {
  it("records the entity's changes from the re-discovery on, and not before", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-value-changes-"));
    let uf = await startCountersUserFunction(0, { consumers: false });
    const port = uf.port;
    const proxy = await startProxy({ userFunctionPort: port, store: `sqlite:${path.join(dir, "changes.db")}` });
    try {
      const add = async () => {
        const answer = await request(
          proxy.port,
          "POST",
          "/switchboard.test.topics.Counter/Add",
          { "content-type": "application/json" },
          JSON.stringify({ id: "r1", by: 1 }),
        );
        return answer.status === 200 ? (JSON.parse(answer.body) as { value: string }).value : undefined;
      };
      assert.equal(await add(), "1");
      assert.doesNotMatch(proxy.stderr(), /value-change eventing started/);
      // The new version consumes the counters' changes.
      await uf.close();
      uf = await startCountersUserFunction(port);
      await eventually(() => /value-change eventing started/.test(proxy.stderr()), 15_000, "the consumers of the new version");
      let value: string | undefined;
      await eventually(async () => (value = await add()) !== undefined, 10_000, "calls served again");
      assert.equal(value, "2");
      const [event] = await readEvents(proxy.port, "counter-changes", "from=0", 1);
      assert.deepEqual((event?.data.data as Record<string, unknown>) ?? {}, { id: "r1", value: "2", position: "1" });
      assert.deepEqual(
        uf.seen.filter((s) => s.method === "Changed").map((s) => [s.id, s.value]),
        [["r1", 2n]],
      );
    } finally {
      await proxy.stop();
      await uf.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
