import { Worker } from "node:worker_threads";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { SqliteWriteOp, WriteResult } from "./write-ops.js";
import { errorFromData, type FromWriter, resultFromData, type ToWriter, type WriterStart } from "./writer-protocol.js";

/** The main thread's end of the SQLite store's writer thread. */
export interface WriterThread {
  /**
   * Posts a batch and resolves with each write's result once the thread's COMMIT has
   * returned; rejects when the transaction failed as a whole, or with `Code.Unavailable`
   * when the thread has died (the batch may or may not have committed: it is not
   * acknowledged either way).
   */
  commit(batch: readonly SqliteWriteOp[]): Promise<WriteResult[]>;
  /** Why the thread can no longer write (it crashed or exited), or undefined while it can. */
  readonly failure: SwitchboardError | undefined;
  /** Closes the thread's connection and waits for the thread to end. */
  close(): Promise<void>;
  /** Tests only: makes the thread die as a crash would. */
  crash(how: "throw" | "exit"): void;
}

/** Options of {@link startWriterThread}. */
export interface WriterThreadOptions extends WriterStart {
  /** The store, for error messages (`sqlite:/var/lib/app.db`). */
  readonly description: string;
  /** Told once when the thread dies unasked (crash or exit), with the error every call now gets. */
  readonly onFailure: (error: SwitchboardError) => void;
}

interface Waiting {
  readonly resolve: (results: WriteResult[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Starts the writer thread on an existing, migrated database file and resolves once it
 * has opened its connection (with the asked `synchronous`, in WAL mode).
 *
 * While no batch is in flight the thread does not keep the process alive; while one is,
 * it does, so a process waiting only for a commit cannot exit under it.
 */
export async function startWriterThread(options: WriterThreadOptions): Promise<WriterThread> {
  const { description } = options;
  const start: WriterStart = { path: options.path, synchronous: options.synchronous, busyTimeoutMs: options.busyTimeoutMs };
  const entry = workerEntry();
  const worker = new Worker(entry.source, { eval: entry.eval, workerData: start });
  const waiting = new Map<number, Waiting>();
  let nextId = 1;
  let failure: SwitchboardError | undefined;
  let closing = false;
  let opened = false;
  let onClosed: (() => void) | undefined;
  let onOpened: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onOpened = { resolve, reject };
  });

  function fail(error: SwitchboardError): void {
    if (failure !== undefined) return;
    failure = error;
    for (const pending of waiting.values()) pending.reject(error);
    waiting.clear();
    worker.unref();
    if (opened) options.onFailure(error);
    else onOpened?.reject(error);
  }

  worker.on("message", (message: FromWriter) => {
    switch (message.type) {
      case "ready":
        if (message.synchronous !== (options.synchronous === "FULL" ? 2 : 1) || message.journalMode !== "wal") {
          onOpened?.reject(
            new SwitchboardError(
              `${description}: the writer connection runs synchronous=${String(message.synchronous)}, journal_mode=${String(message.journalMode)}; expected ${options.synchronous} and wal`,
              Code.FailedPrecondition,
            ),
          );
          return;
        }
        opened = true;
        worker.unref();
        onOpened?.resolve();
        return;
      case "open-failed":
        onOpened?.reject(errorFromData(message.error));
        return;
      case "committed":
      case "failed": {
        const pending = waiting.get(message.id);
        if (pending === undefined) return;
        waiting.delete(message.id);
        if (waiting.size === 0) worker.unref();
        if (message.type === "committed") pending.resolve(message.results.map(resultFromData));
        else pending.reject(errorFromData(message.error));
        return;
      }
      case "closed":
        onClosed?.();
        return;
    }
  });
  worker.on("error", (err) => {
    fail(new SwitchboardError(`${description}: the sqlite writer thread crashed: ${err.message}`, Code.Unavailable, { cause: err }));
  });
  worker.on("exit", (code) => {
    onClosed?.();
    if (!closing) fail(new SwitchboardError(`${description}: the sqlite writer thread exited (code ${code})`, Code.Unavailable));
  });

  try {
    await ready;
  } catch (error) {
    closing = true;
    await worker.terminate();
    throw error;
  }

  const post = (message: ToWriter) => worker.postMessage(message);
  let closed: Promise<void> | undefined;
  return {
    commit(batch) {
      if (failure !== undefined) return Promise.reject(failure);
      if (closing) return Promise.reject(new SwitchboardError(`${description}: store is closed`, Code.Unavailable));
      const id = nextId++;
      return new Promise<WriteResult[]>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.ref();
        post({ type: "batch", id, writes: batch });
      });
    },
    get failure() {
      return failure;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        if (failure !== undefined) return;
        worker.ref();
        const done = new Promise<void>((resolve) => {
          onClosed = resolve;
        });
        post({ type: "close" });
        await done;
        await worker.terminate();
      })();
      return closed;
    },
    crash(how) {
      post({ type: "crash", how });
    },
  };
}

/**
 * The thread's entry module: the built `writer-worker.js` beside this file, or, when
 * this file runs from source under tsx (tests), a small bootstrap that registers tsx in
 * the thread first (worker threads do not inherit its loader on Node 20).
 */
function workerEntry(): { source: string | URL; eval: boolean } {
  const own = import.meta.url;
  if (!own.endsWith(".ts")) return { source: new URL("./writer-worker.js", own), eval: false };
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./writer-worker.ts", own).href;
  return { source: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
}
