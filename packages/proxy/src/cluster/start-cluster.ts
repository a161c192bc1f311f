import type { ClusterConfig } from "../config/cluster.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { Clock } from "../internal/clock.js";
import type { Logger } from "../observability/logger.js";
import { createClusterNode } from "./cluster-node.js";
import type { ClusterFactory, CrdtReplicas, EntityHost, Forwarder, RemoteNode } from "./types.js";

/** What cluster mode needs from the internal-port transport (`cluster/mesh/`). */
interface MeshModule {
  startMeshServer(options: {
    host: string;
    port: number;
    entityHost: EntityHost;
    replicas?: unknown;
    logger: Logger;
  }): Promise<{ readonly address: string; close(): Promise<void> }>;
  createMeshForwarder(options: { logger: Logger }): Forwarder & { close(): void };
  createGossipReplicas(options: { nodeId: string; members: () => readonly RemoteNode[]; logger: Logger; clock?: Clock }): CrdtReplicas & { close(): void };
}

// Loaded by name so this file builds before the transport lands in the same tree.
const MESH_MODULE = "./mesh/index.js";

/**
 * The cluster a `switchboard start --cluster-port …` node joins: binds the internal port
 * (forwarded commands and CRDT gossip), then runs a {@link createClusterNode} on the
 * store's membership and lease ports, advertising `advertiseHost:<bound port>`.
 */
export function clusterFactory(config: ClusterConfig, bindHost = "0.0.0.0"): ClusterFactory {
  return async (host, { store, logger: parent }) => {
    const logger = parent.child({ component: "cluster", node: config.nodeId });
    if (store.cluster === undefined) {
      throw new SwitchboardError(`cluster mode needs a store that arbitrates leases (PostgreSQL); ${store.description} does not`, Code.FailedPrecondition);
    }
    let mesh: MeshModule;
    try {
      mesh = (await import(MESH_MODULE)) as MeshModule;
    } catch (error) {
      throw new SwitchboardError(`cluster mode is not available in this build: ${(error as Error).message}`, Code.Unimplemented, { cause: error });
    }
    let replicas: (CrdtReplicas & { close(): void }) | undefined;
    let members: () => readonly RemoteNode[] = () => [];
    replicas = mesh.createGossipReplicas({ nodeId: config.nodeId, members: () => members(), logger: logger.child({ part: "gossip" }) });
    const server = await mesh.startMeshServer({ host: bindHost, port: config.port, entityHost: host, replicas, logger: logger.child({ part: "mesh" }) });
    const port = Number(server.address.slice(server.address.lastIndexOf(":") + 1));
    const address = `${config.advertiseHost.includes(":") ? `[${config.advertiseHost}]` : config.advertiseHost}:${port}`;
    const transport = mesh.createMeshForwarder({ logger: logger.child({ part: "forwarder" }) });
    const node = createClusterNode({
      nodeId: config.nodeId,
      address,
      store: store.cluster,
      host,
      transport,
      replicas: (live) => {
        members = live;
        return replicas as CrdtReplicas;
      },
      leaseTtlMs: config.leaseTtlMs,
      logger,
    });
    node.start();
    logger.info("joined the cluster", { address, leaseTtlMs: config.leaseTtlMs });
    return {
      placement: node.placement,
      forwarder: node.forwarder,
      replicas: node.replicas,
      consumers: node.consumers,
      ready: () => node.ready(),
      drain: () => node.drain(),
      async close() {
        await node.close();
        await server.close();
        transport.close();
        replicas?.close();
        replicas = undefined;
      },
    };
  };
}
