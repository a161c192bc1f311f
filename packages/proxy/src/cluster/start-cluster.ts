import type { ClusterConfig } from "../config/cluster.js";
import { Code, SwitchboardError } from "../errors/index.js";
import { createClusterNode } from "./cluster-node.js";
import { createCrdtLedger, mergingCrdtStore, recordingReplicas, syncCrdtReplicas } from "./crdt-sync.js";
import { createGossipReplicas, createMeshClient, createMeshForwarder, type GossipReplicas, startMeshServer } from "./mesh/index.js";
import type { ClusterFactory, RemoteNode } from "./types.js";

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
    // One mesh client (one HTTP/2 session per peer) for forwarded commands and CRDT gossip.
    const client = createMeshClient({ logger: logger.child({ part: "mesh-client" }) });
    let members: () => readonly RemoteNode[] = () => [];
    const replicas: GossipReplicas = createGossipReplicas({ nodeId: config.nodeId, members: () => members(), logger, client });
    let server: Awaited<ReturnType<typeof startMeshServer>>;
    try {
      server = await startMeshServer({ host: bindHost, port: config.port, entityHost: host, replicas, logger: logger.child({ part: "mesh" }) });
    } catch (error) {
      replicas.close();
      client.close();
      throw error;
    }
    const port = Number(server.address.slice(server.address.lastIndexOf(":") + 1));
    const address = `${config.advertiseHost.includes(":") ? `[${config.advertiseHost}]` : config.advertiseHost}:${port}`;
    const transport = createMeshForwarder({ logger: logger.child({ part: "forwarder" }), client });
    const node = createClusterNode({
      nodeId: config.nodeId,
      address,
      store: store.cluster,
      host,
      transport,
      // The CRDT replicas are the cluster's eligible members: Vote counts them, MAJORITY/ALL wait for them.
      replicas: (live) => {
        members = live;
        return replicas;
      },
      leaseTtlMs: config.leaseTtlMs,
      logger,
    });
    const ledger = createCrdtLedger(logger);
    const crdtStore = mergingCrdtStore(store, logger, ledger);
    const stopSync = syncCrdtReplicas({ replicas, store: crdtStore, host, logger, ledger });
    node.start();
    logger.info("joined the cluster", { address, leaseTtlMs: config.leaseTtlMs });
    return {
      placement: node.placement,
      forwarder: node.forwarder,
      replicas: recordingReplicas(node.replicas, ledger),
      consumers: node.consumers,
      // Entities write CRDT states through the same merging store the replicas' changes go through.
      entityStore: (base) => (base === store ? crdtStore : mergingCrdtStore(base, logger, ledger)),
      ready: () => node.ready(),
      drain: () => node.drain(),
      async close() {
        stopSync();
        await node.close();
        await server.close();
        transport.close();
        replicas.close();
        client.close();
      },
    };
  };
}
