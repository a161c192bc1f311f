/**
 * The PostgreSQL store adapter (`--store postgres://…`). `pg` is an optional
 * dependency, loaded with `import()` when a store is created.
 */
export {
  createPostgresStore,
  type PostgresStore,
  type PostgresStoreLogger,
  type PostgresStoreOptions,
  type PostgresStoreStats,
} from "./postgres-store.js";
export { createPostgresInspector, type PostgresInspectorOptions } from "./postgres-inspector.js";
