/**
 * The SQLite store's writer thread: it owns the write connection and commits the
 * batches the store posts, one at a time, answering each only after its COMMIT returned
 * (`writer-thread.ts` starts it; `writer-protocol.ts` has the messages). Started as a
 * worker thread, never imported.
 */
import { parentPort, workerData } from "node:worker_threads";
import type BetterSqlite3 from "better-sqlite3";
import { prepareStatements } from "./statements.js";
import { createBatchRunner } from "./write-ops.js";
import { errorToData, type FromWriter, resultToData, type ToWriter, type WriterStart } from "./writer-protocol.js";

const port = parentPort;
if (port === null) throw new Error("writer-worker.ts runs as a worker thread");
const start = workerData as WriterStart;
const post = (message: FromWriter) => port.postMessage(message);

let db: BetterSqlite3.Database;
let run: ReturnType<typeof createBatchRunner>;
try {
  const Driver = (await import("better-sqlite3")).default;
  db = new Driver(start.path, { fileMustExist: true });
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${start.synchronous}`);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(start.busyTimeoutMs))}`);
  run = createBatchRunner(db, prepareStatements(db));
  post({ type: "ready", synchronous: db.pragma("synchronous", { simple: true }), journalMode: db.pragma("journal_mode", { simple: true }) });
} catch (err) {
  post({ type: "open-failed", error: errorToData(err) });
  port.close();
  throw err;
}

port.on("message", (message: ToWriter) => {
  switch (message.type) {
    case "batch": {
      let results: ReturnType<typeof run>;
      try {
        results = run(message.writes);
      } catch (err) {
        post({ type: "failed", id: message.id, error: errorToData(err) });
        return;
      }
      post({ type: "committed", id: message.id, results: results.map(resultToData) });
      return;
    }
    case "close":
      db.close();
      post({ type: "closed" });
      port.close();
      return;
    case "crash":
      if (message.how === "exit") process.exit(70);
      setImmediate(() => {
        throw new Error("writer thread crash requested by a test");
      });
      return;
  }
});
