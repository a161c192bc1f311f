import type { ClusterConfig } from "../config/cluster.js";
import { Code, SwitchboardError } from "../errors/index.js";
import { createClusterNode } from "./cluster-node.js";
import { createMeshForwarder, startMeshServer } from "./mesh/index.js";
import type { ClusterFactory } from "./types.js";

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
    const server = await startMeshServer({ host: bindHost, port: config.port, entityHost: host, logger: logger.child({ part: "mesh" }) });
    const port = Number(server.address.slice(server.address.lastIndexOf(":") + 1));
    const address = `${config.advertiseHost.includes(":") ? `[${config.advertiseHost}]` : config.advertiseHost}:${port}`;
    const transport = createMeshForwarder({ logger: logger.child({ part: "forwarder" }) });
    const node = createClusterNode({
      nodeId: config.nodeId,
      address,
      store: store.cluster,
      host,
      transport,
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
      },
    };
  };
}
