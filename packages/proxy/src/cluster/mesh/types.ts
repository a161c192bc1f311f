import type { ReplicatedDelta } from "../types.js";

/** Which CRDT a digest or a request is about. */
export interface EntityRef {
  readonly persistenceId: string;
  readonly entityId: string;
}

/** A short hash of one CRDT's full state as one replica holds it (anti-entropy). */
export interface StateDigest {
  readonly entity?: EntityRef | undefined;
  readonly hash: Uint8Array;
}

/** The answer to a peer's digests. */
export interface ExchangeAnswer {
  /** Full states here that the peer lacks or holds differently. */
  readonly states: readonly ReplicatedDelta[];
  /** Entities whose full state this replica wants from the peer. */
  readonly wanted: readonly EntityRef[];
}

/**
 * What the mesh server hands CRDT replication traffic to (the receiving end of
 * {@link createGossipReplicas}).
 */
export interface MeshReplicaSink {
  /**
   * Deltas (or full states) sent by node `from`. Resolves once this replica holds them
   * (its delta listeners took them); only then does the sender count them as acknowledged.
   */
  receive(from: string, deltas: readonly ReplicatedDelta[]): Promise<void>;
  /** Anti-entropy: node `from`'s digests of every full state it holds. */
  exchange(from: string, digests: readonly StateDigest[]): Promise<ExchangeAnswer>;
}

/**
 * The anti-entropy source: every CRDT this replica holds, as full states in the CRDT
 * storage format. Periodic exchanges compare these with a peer's, so replicas converge
 * even after deltas were lost (a peer down, a partition).
 */
export interface CrdtStateSource {
  states(): Iterable<ReplicatedDelta> | Promise<Iterable<ReplicatedDelta>>;
}
