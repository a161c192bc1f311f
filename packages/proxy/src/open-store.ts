import type { StoreConfig } from "./config/index.js";
import type { Logger } from "./observability/logger.js";
import { createMemoryStore } from "./store/memory/memory-store.js";
import { createPostgresStore } from "./store/postgres/index.js";
import { createSqliteStore } from "./store/sqlite/sqlite-store.js";
import type { Store } from "./store/types.js";

/** Opens the store a config names (creating or migrating its schema). */
export async function openStore(config: StoreConfig, logger: Logger): Promise<Store> {
  switch (config.kind) {
    case "memory":
      return createMemoryStore();
    case "sqlite":
      return createSqliteStore({ path: config.path, logger: logger.child({ component: "sqlite" }) });
    case "postgres":
      return createPostgresStore({ url: config.url, logger: logger.child({ component: "postgres" }) });
    default: {
      const never: never = config;
      throw new Error(`unknown store ${JSON.stringify(never)}`);
    }
  }
}
