/**
 * A proxy whose SQLite store commits on a writer thread, when that thread dies: `/ready`
 * answers 503, calls that need the store fail with UNAVAILABLE, and what was
 * acknowledged before is in the file. Real gRPC on the front port, a real SQLite file,
 * the raw-protocol TCK model as the user function.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { eventsourced, valueentity } from "@switchboard/protocol/tck";
import { parseConfig } from "../packages/proxy/src/config/index.js";
import { silentLogger } from "../packages/proxy/src/observability/logger.js";
import { createProxy } from "../packages/proxy/src/proxy.js";
import { crashWriterThread, createSqliteStore } from "../packages/proxy/src/store/sqlite/sqlite-store.js";
import { createTestClient, eventually } from "./support/grpc-client.js";
import { startModelUserFunction } from "./support/model-user-function.js";

const VE = "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process";
const ES = "/cloudstate.tck.model.EventSourcedTckModel/Process";

describe("a proxy on SQLite when the writer thread dies", () => {
  it("answers /ready with 503, fails store calls with UNAVAILABLE and keeps what it acknowledged", { timeout: 60_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-writer-crash-"));
    const file = path.join(dir, "state.db");
    const uf = await startModelUserFunction();
    const store = await createSqliteStore({ path: file, commit: "worker" });
    const parsed = parseConfig(
      ["--user-function-port", String(uf.port), "--http-port", "0", "--bind", "127.0.0.1", "--store", `sqlite:${file}`, "--admin-port", "0"],
      {},
    );
    assert.ok(parsed.config, parsed.error);
    let ready!: () => void;
    const discovered = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const proxy = await createProxy({ config: parsed.config, store, logger: silentLogger, onReady: () => ready() });
    const client = createTestClient(proxy.port);
    const readyStatus = async () => (await fetch(`http://127.0.0.1:${proxy.port}/ready`)).status;
    try {
      await discovered;
      await eventually(async () => (await readyStatus()) === 200, 10_000, "/ready 200");
      const update = (id: string, value: string) =>
        client.unary(VE, valueentity.RequestSchema, valueentity.ResponseSchema, { id, actions: [{ action: { case: "update", value: { value } } }] });
      const emit = (id: string, value: string) =>
        client.unary(ES, eventsourced.RequestSchema, eventsourced.ResponseSchema, { id, actions: [{ action: { case: "emit", value: { value } } }] });
      assert.equal((await update("kept", "1")).code, grpc.status.OK);
      assert.equal((await emit("journal", "a;")).code, grpc.status.OK);

      assert.equal(crashWriterThread(store, "throw"), true);
      await eventually(async () => (await readyStatus()) === 503, 10_000, "/ready 503 after the writer thread died");
      assert.match(store.failed?.() ?? "", /sqlite writer thread crashed/);
      // An active entity's write, a new entity's activation (a read) and an event-sourced append all fail.
      for (const result of [await update("kept", "2"), await update("fresh", "1"), await emit("journal", "b;")]) {
        assert.equal(result.code, grpc.status.UNAVAILABLE, `${result.code}: ${result.details}`);
        assert.match(result.details ?? "", /writer thread/);
      }
    } finally {
      client.close();
      await proxy.close();
      await uf.close();
    }
    // What was acknowledged is in the file; what failed is not.
    const reopened = await createSqliteStore({ path: file });
    try {
      const kept = await reopened.getValue("value-entity-tck-model", "kept");
      assert.ok(kept !== undefined, "the acknowledged update is stored");
      assert.equal(await reopened.getValue("value-entity-tck-model", "fresh"), undefined);
      assert.equal(await reopened.highestSeq("event-sourced-tck-model|journal"), 1);
    } finally {
      await reopened.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
