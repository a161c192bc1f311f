/**
 * The cluster's internal port: node-to-node calls over HTTP/2 (`switchboard.cluster.Mesh`,
 * protocols/cluster). The server runs forwarded commands and takes CRDT gossip; the
 * forwarder sends commands to entity owners; the gossip replicas replicate CRDT deltas.
 * See docs/design.md#the-mesh.
 */
export { createMeshClient, type MeshCallOptions, type MeshClient, type MeshClientOptions } from "./client.js";
export { createGossipReplicas, type GossipReplicas, type GossipReplicasOptions } from "./gossip.js";
export { createMeshForwarder, type MeshForwarder, type MeshForwarderOptions } from "./forwarder.js";
export { type MeshServer, type MeshServerOptions, startMeshServer } from "./server.js";
export type { CrdtStateSource, EntityRef, ExchangeAnswer, MeshReplicaSink, StateDigest } from "./types.js";
export { DEFAULT_MESH_MAX_MESSAGE_SIZE, MESH_PATHS, type MeshCommand } from "./wire.js";
