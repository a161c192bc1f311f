export { DEFAULTS, parseConfig, parseStore, START_HELP, type ParseConfigResult, type ProxyConfig, type StoreConfig } from "./config.js";
export { CLUSTER_DEFAULTS, type ClusterConfig, clusterStoreError, type MachineInfo } from "./cluster.js";
