/**
 * The storage ports and their adapters. Core code depends on the types; `main.ts`
 * picks an adapter: the in-memory store for tests, SQLite as the embedded default.
 */
export {
  type AnyValue,
  type ClusterStore,
  type CrdtStore,
  type JournalAppend,
  type JournalEvent,
  type JournalStore,
  LOCAL_WRITER,
  type LeaseGrant,
  type LeaseRecord,
  type LeaseStore,
  type MemberInfo,
  type MemberRecord,
  type MembershipStore,
  type OffsetStore,
  type Snapshot,
  type Store,
  type TaggedEvent,
  type TopicMessage,
  type TopicRecord,
  type TopicStore,
  type ValueStore,
  type ValueWrite,
  type WriterToken,
} from "./types.js";
export { createMemoryStore, type MemoryStoreOptions } from "./memory/memory-store.js";
export {
  createSqliteStore,
  type SqliteStore,
  type SqliteStoreLogger,
  type SqliteStoreOptions,
  type SqliteStoreStats,
} from "./sqlite/sqlite-store.js";
