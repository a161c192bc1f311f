/** Cluster mode: on when a cluster port is given (`--cluster-port` or `CLUSTER_PORT`). */
export interface ClusterConfig {
  /** The internal port other nodes forward commands and CRDT deltas to (0: any free port). */
  readonly port: number;
  /** This node's id in the membership table; unique per running node. */
  readonly nodeId: string;
  /** The host other nodes reach this node's cluster port at. */
  readonly advertiseHost: string;
  /** How long a shard lease (and a heartbeat) lasts without renewal, in ms. */
  readonly leaseTtlMs: number;
}

/** Defaults of cluster mode. */
export const CLUSTER_DEFAULTS = Object.freeze({ leaseTtlMs: 5000 });

/** The flags of cluster mode, for `parseArgs`. */
export const CLUSTER_OPTIONS = {
  "cluster-port": { type: "string" },
  "node-id": { type: "string" },
  "advertise-host": { type: "string" },
  "lease-ttl": { type: "string" },
} as const;

/** Lines of `switchboard start --help` for cluster mode. */
export const CLUSTER_HELP = `Cluster mode (several nodes on one PostgreSQL; on when a cluster port is given):
  --cluster-port <port>         internal port for other nodes  env CLUSTER_PORT   (off)
  --node-id <id>                this node's id                env NODE_ID        (hostname-<random>)
  --advertise-host <host>       host other nodes reach it at  env ADVERTISE_HOST
                                (the --bind address; the hostname when binding 0.0.0.0)
  --lease-ttl <ms>              shard lease and heartbeat lifetime  env LEASE_TTL  (5000)
`;

/** What the parser needs to know about the machine for the defaults. */
export interface MachineInfo {
  readonly hostname: string;
  /** A short random suffix that makes default node ids unique. */
  randomSuffix(): string;
}

const WILDCARDS = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * Parses the cluster flags (flag > environment > default). Returns undefined when no
 * cluster port is given (single node), the config, or a one-line error.
 */
export function parseCluster(
  values: { "cluster-port"?: string; "node-id"?: string; "advertise-host"?: string; "lease-ttl"?: string },
  pick: (flag: string | undefined, envName: string) => string | undefined,
  bind: string,
  machine: MachineInfo,
): ClusterConfig | undefined | string {
  const rawPort = pick(values["cluster-port"], "CLUSTER_PORT");
  const rawTtl = pick(values["lease-ttl"], "LEASE_TTL");
  if (rawPort === undefined) {
    // NODE_ID and friends may be set for every pod of a deployment; without a cluster port they mean nothing.
    return undefined;
  }
  const from = values["cluster-port"] === undefined ? "CLUSTER_PORT" : "--cluster-port";
  const ttlFrom = values["lease-ttl"] === undefined ? "LEASE_TTL" : "--lease-ttl";
  if (!/^\d+$/.test(rawPort) || Number(rawPort) > 65535) return `${from} must be a port number (0-65535), got "${rawPort}"`;
  let leaseTtlMs: number = CLUSTER_DEFAULTS.leaseTtlMs;
  if (rawTtl !== undefined) {
    // Below a few hundred ms a loaded machine misses renewals and shards flap between nodes.
    if (!/^\d+$/.test(rawTtl) || Number(rawTtl) < 500) return `${ttlFrom} must be a whole number of milliseconds, at least 500, got "${rawTtl}"`;
    leaseTtlMs = Number(rawTtl);
  }
  const nodeId = pick(values["node-id"], "NODE_ID") ?? `${machine.hostname}-${machine.randomSuffix()}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(nodeId)) {
    return `${values["node-id"] === undefined ? "NODE_ID" : "--node-id"} must be 1-128 letters, digits, ".", "_", ":" or "-" starting with a letter or digit, got "${nodeId}"`;
  }
  const advertiseHost = pick(values["advertise-host"], "ADVERTISE_HOST") ?? (WILDCARDS.has(bind) ? machine.hostname : bind);
  if (advertiseHost === "" || /[\s/]/.test(advertiseHost))
    return `${values["advertise-host"] === undefined ? "ADVERTISE_HOST" : "--advertise-host"} must be a host name or address, got "${advertiseHost}"`;
  return { port: Number(rawPort), nodeId, advertiseHost, leaseTtlMs };
}

/** Why a config cannot run as a cluster node (undefined when it can): cluster mode needs PostgreSQL. */
export function clusterStoreError(cluster: ClusterConfig | undefined, storeKind: string): string | undefined {
  if (cluster === undefined || storeKind === "postgres") return undefined;
  return `cluster mode (--cluster-port) needs a PostgreSQL store (--store postgres://...), got a ${storeKind} store`;
}
