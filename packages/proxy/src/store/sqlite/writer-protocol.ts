import { Code, SwitchboardError } from "../../errors/index.js";
import { messageOf } from "../group-commit.js";
import { sqliteCode } from "./sqlite-errors.js";
import type { TopicTrim } from "../types.js";
import type { SqliteWriteOp, WriteResult } from "./write-ops.js";

/**
 * The messages between the SQLite store (main thread) and its writer thread
 * (`writer-worker.ts`). Everything is plain data, copied by `postMessage`.
 */

/** What the writer thread is started with (its `workerData`). */
export interface WriterStart {
  readonly path: string;
  readonly synchronous: "FULL" | "NORMAL";
  readonly busyTimeoutMs: number;
}

/** Main thread → writer thread. */
export type ToWriter =
  | { readonly type: "batch"; readonly id: number; readonly writes: readonly SqliteWriteOp[] }
  | { readonly type: "close" }
  /** Tests only: make the thread die the way a crash would (`throw`: an uncaught exception; `exit`: the thread ends). */
  | { readonly type: "crash"; readonly how: "throw" | "exit" };

/** An error as it crosses the thread boundary. */
export interface ErrorData {
  readonly message: string;
  /** The gRPC code of a SwitchboardError (its `rawMessage` is then `message`). */
  readonly code?: Code;
  /** SQLite's result code (`SQLITE_BUSY`…), when the driver gave one. */
  readonly sqliteCode?: string;
}

/** A write's result as it crosses the thread boundary: undefined, offsets, what a trim removed, or an error. */
export type ResultData = undefined | readonly number[] | readonly TopicTrim[] | ErrorData;

/** Writer thread → main thread. */
export type FromWriter =
  | { readonly type: "ready"; readonly synchronous: unknown; readonly journalMode: unknown }
  | { readonly type: "open-failed"; readonly error: ErrorData }
  | { readonly type: "committed"; readonly id: number; readonly results: readonly ResultData[] }
  | { readonly type: "failed"; readonly id: number; readonly error: ErrorData }
  | { readonly type: "closed" };

/** Any thrown value as data. */
export function errorToData(err: unknown): ErrorData {
  if (err instanceof SwitchboardError) return { message: err.rawMessage, code: err.code };
  const code = sqliteCode(err);
  return code === undefined ? { message: messageOf(err) } : { message: messageOf(err), sqliteCode: code };
}

/**
 * Back from data: a SwitchboardError when it was one, else an Error carrying SQLite's
 * code, so that the store classifies it as it would have on its own thread.
 */
export function errorFromData(data: ErrorData): Error {
  if (data.code !== undefined) return new SwitchboardError(data.message, data.code);
  const error = new Error(data.message) as Error & { code?: string };
  if (data.sqliteCode !== undefined) error.code = data.sqliteCode;
  return error;
}

export function resultToData(result: WriteResult): ResultData {
  return result instanceof SwitchboardError ? errorToData(result) : result;
}

export function resultFromData(data: ResultData): WriteResult {
  if (data === undefined || Array.isArray(data)) return data as WriteResult;
  const error = errorFromData(data as ErrorData);
  return error instanceof SwitchboardError ? error : new SwitchboardError(error.message, Code.Internal, { cause: error });
}
