import type { StoreConfig } from "./config/index.js";
import { isInspectableStore, type StoreInspector } from "./store/inspector.js";
import { createPostgresInspector } from "./store/postgres/index.js";
import { createSqliteInspector } from "./store/sqlite/sqlite-inspector.js";

/**
 * Opens the read-only inspector of a store: the store's own when it carries one (the
 * memory store), else one on what the config names (its own connection to the SQLite
 * file or the PostgreSQL database); undefined when there is none.
 */
export async function openStoreInspector(config: StoreConfig, store?: object): Promise<StoreInspector | undefined> {
  if (store !== undefined && isInspectableStore(store)) return store.openInspector();
  switch (config.kind) {
    case "sqlite":
      return config.path === ":memory:" ? undefined : createSqliteInspector(config.path);
    case "postgres":
      return createPostgresInspector({ url: config.url });
    case "memory":
      return undefined;
    default: {
      const never: never = config;
      throw new Error(`unknown store ${JSON.stringify(never)}`);
    }
  }
}
