import type { StoreConfig } from "./config/index.js";
import type { StoreInspector } from "./store/inspector.js";
import { createSqliteInspector } from "./store/sqlite/sqlite-inspector.js";

/** Opens the read-only inspector of the store a config names, or undefined when that store has none. */
export async function openStoreInspector(config: StoreConfig): Promise<StoreInspector | undefined> {
  switch (config.kind) {
    case "sqlite":
      return config.path === ":memory:" ? undefined : createSqliteInspector(config.path);
    default:
      return undefined;
  }
}
