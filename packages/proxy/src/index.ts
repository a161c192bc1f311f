/**
 * @switchboard/proxy: the Switchboard runtime. Most users run the `switchboard` CLI;
 * this entry point is for embedding the proxy in a Node process.
 */
export { DEFAULTS, parseConfig, type ProxyConfig, type StoreConfig } from "./config/index.js";
export { Code, codeName, httpStatusFor, SwitchboardError } from "./errors/index.js";
export { createLogger, type Logger, type LoggerOptions, type LogLevel, silentLogger } from "./observability/logger.js";
export { createProxy, type SwitchboardProxy, type ProxyOptions } from "./proxy.js";
export { PROXY_VERSION } from "./version.js";
