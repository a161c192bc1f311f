import type { StoreConfig } from "./config/index.js";
import type { Logger } from "./observability/logger.js";
import type { Metrics } from "./observability/metrics.js";
import { createMemoryStore } from "./store/memory/memory-store.js";
import { createPostgresStore } from "./store/postgres/index.js";
import { createSqliteStore } from "./store/sqlite/sqlite-store.js";
import type { Store } from "./store/types.js";

/**
 * Opens the store a config names (creating or migrating its schema). The durable stores
 * report each group commit (duration and batch size) to `metrics`.
 */
export async function openStore(config: StoreConfig, logger: Logger, metrics?: Pick<Metrics, "storeCommit">): Promise<Store> {
  const onCommit = metrics === undefined ? undefined : (seconds: number, size: number) => metrics.storeCommit(seconds, size);
  switch (config.kind) {
    case "memory":
      return createMemoryStore();
    case "sqlite": {
      const sqliteLogger = logger.child({ component: "sqlite" });
      const store = await createSqliteStore({ path: config.path, logger: sqliteLogger, onCommit, commit: config.commit });
      sqliteLogger.info("sqlite store opened", { path: config.path, commit: store.commitMode });
      return store;
    }
    case "postgres":
      return createPostgresStore({ url: config.url, logger: logger.child({ component: "postgres" }), onCommit });
    default: {
      const never: never = config;
      throw new Error(`unknown store ${JSON.stringify(never)}`);
    }
  }
}
