import type { ProxyConfig } from "../config/index.js";
import type { Logger } from "../observability/logger.js";
import type { PrometheusMetrics } from "../observability/prometheus-metrics.js";
import type { StoreInspector } from "../store/inspector.js";
import { type AdminApiDeps, createAdminApi } from "./admin-api.js";
import { startAdminServer } from "./admin-server.js";

/** What {@link startAdmin} needs besides the config. */
export interface StartAdminOptions extends Omit<AdminApiDeps, "inspector" | "stats"> {
  readonly config: ProxyConfig;
  readonly logger: Logger;
  readonly metrics: PrometheusMetrics;
  /** Opens the store's inspector (undefined: the store cannot list entities). */
  openInspector(): Promise<StoreInspector | undefined>;
}

/** The running admin port and what it opened. */
export interface Admin {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts the admin port unless `--admin-port 0`. A port that cannot be bound (already
 * in use) is logged and the proxy runs on without it: the admin port must never keep
 * the services from being served.
 */
export async function startAdmin(options: StartAdminOptions): Promise<Admin | undefined> {
  const { config, logger } = options;
  if (config.adminPort === 0) return undefined;
  let inspector: StoreInspector | undefined;
  try {
    inspector = await options.openInspector();
  } catch (error) {
    logger.warn("entity listing is unavailable on the admin port", { reason: (error as Error).message });
  }
  const api = createAdminApi({ ...options, inspector, stats: () => options.metrics.stats() });
  try {
    const server = await startAdminServer({ host: config.adminBind, port: config.adminPort, token: config.adminToken, api, metrics: options.metrics, logger });
    logger.info("admin port bound", {
      address: `${server.host}:${server.port}`,
      console: `http://${server.host}:${server.port}/`,
      token: config.adminToken !== undefined,
    });
    return {
      host: server.host,
      port: server.port,
      async close() {
        await server.close();
        await inspector?.close();
      },
    };
  } catch (error) {
    logger.warn("cannot bind the admin port; running without metrics, admin API and console", {
      address: `${config.adminBind}:${config.adminPort}`,
      error: (error as Error).message,
    });
    await inspector?.close();
    return undefined;
  }
}
