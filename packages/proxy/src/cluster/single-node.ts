import { Code, SwitchboardError } from "../errors/index.js";
import { LOCAL_WRITER } from "../store/types.js";
import type { ClusterNode, CrdtReplicas, Forwarder, Placement, PlacementDecision } from "./types.js";

/** The node id of a proxy that is not part of a cluster. Stable, so a restart keeps its CRDT entries. */
export const SINGLE_NODE_ID = "single-node";

const HERE: PlacementDecision = Object.freeze({ kind: "local", writer: LOCAL_WRITER });

/** Placement on one node: every entity is here, written as {@link LOCAL_WRITER}. */
export const localPlacement: Placement = { locate: () => HERE };

/** The forwarder of one node: there is nobody to forward to. */
export const noForwarder: Forwarder = {
  forward(target) {
    return Promise.reject(new SwitchboardError(`no route to node ${target.nodeId}: this proxy is not part of a cluster`, Code.Unavailable));
  },
  forwardStreamed(target) {
    return {
      // biome-ignore lint/correctness/useYield: fails before yielding
      async *[Symbol.asyncIterator]() {
        throw new SwitchboardError(`no route to node ${target.nodeId}: this proxy is not part of a cluster`, Code.Unavailable);
      },
    };
  },
};

/** The only replica of every CRDT: changes go nowhere and every consistency level is met at once. */
export function singleNodeReplicas(nodeId: string = SINGLE_NODE_ID): CrdtReplicas {
  const members = Object.freeze([nodeId]);
  return {
    nodeId,
    members: () => members,
    publish() {},
    onDelta: () => () => {},
    awaitConsistency: () => Promise.resolve(),
  };
}

/** A proxy on its own: local placement, no forwarding, one replica. */
export function singleNode(): ClusterNode {
  return { placement: localPlacement, forwarder: noForwarder, replicas: singleNodeReplicas(), close: () => Promise.resolve() };
}

/** The single node, shared: what a proxy uses before (or without) a cluster. */
export const LOCAL_NODE: ClusterNode = singleNode();
