export { DEFAULTS, parseConfig, parseStore, START_HELP, type ParseConfigResult, type ProxyConfig, type StoreConfig } from "./config.js";
