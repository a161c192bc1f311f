/**
 * The storage ports and their adapters. Core code depends on the types; `main.ts`
 * picks an adapter: the in-memory store for tests, SQLite as the embedded default.
 */
export type {
  AnyValue,
  CrdtStore,
  JournalAppend,
  JournalEvent,
  JournalStore,
  OffsetStore,
  Snapshot,
  Store,
  TaggedEvent,
  ValueStore,
  ValueWrite,
} from "./types.js";
export { createMemoryStore } from "./memory/memory-store.js";
export {
  createSqliteStore,
  type SqliteStore,
  type SqliteStoreLogger,
  type SqliteStoreOptions,
  type SqliteStoreStats,
} from "./sqlite/sqlite-store.js";
