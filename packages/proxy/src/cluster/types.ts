import type { Any } from "@bufbuild/protobuf/wkt";
import type { EntityServiceModel, ServiceModel } from "../descriptors/service-model.js";
import type { EntityOutcome } from "../entities/shared/types.js";
import type { Logger } from "../observability/logger.js";
import type { Store, WriterToken } from "../store/types.js";
import type { CallSignal } from "../internal/call-signal.js";

/**
 * The ports a cluster implements. The core asks them where an entity runs, sends
 * commands for remote entities through them and tells CRDT replicas of each other's
 * changes; `single-node.ts` implements them for one proxy ("everything is here").
 */

/** Where the entity of one command runs, decided after its entity id is known. */
export type PlacementDecision =
  /** Here; store writes of the command carry `writer` (the shard lease and its fencing token). */
  | { readonly kind: "local"; readonly writer: WriterToken }
  /** On another node: the command goes through the {@link Forwarder}. */
  | { readonly kind: "remote"; readonly nodeId: string; readonly address: string }
  /** Nowhere right now (shard being handed over, no owner): the caller gets UNAVAILABLE with `reason`. */
  | { readonly kind: "unavailable"; readonly reason: string };

/** What a placement may wait for: the call's deadline and cancellation. */
export interface LocateOptions {
  /** Absolute deadline (ms since the epoch): a placement that waits for an owner gives up by then. */
  readonly deadline?: number;
  readonly signal?: CallSignal;
}

/** The placement port: which node runs an entity. */
export interface Placement {
  /**
   * Consulted by the router for every entity command, after the entity id is read. A
   * cluster may wait (within `options.deadline`) for a shard being handed over to get an owner.
   */
  locate(service: EntityServiceModel, entityId: string, options?: LocateOptions): PlacementDecision | Promise<PlacementDecision>;
}

/** A node that owns entities, as placement names it. */
export interface RemoteNode {
  readonly nodeId: string;
  /** Its internal address (`host:port`). */
  readonly address: string;
}

/** One entity command as it crosses nodes: names, not models, so both ends resolve their own. */
export interface RemoteCommand {
  /** Full service name, e.g. `com.example.Counter`. */
  readonly service: string;
  /** Method name, e.g. `Increment`. */
  readonly method: string;
  readonly entityId: string;
  /** The command payload, its type URL kept. */
  readonly payload: Any;
  /** Absolute deadline (ms since the epoch), when the client set one. */
  readonly deadline?: number;
  /** Aborted when the client cancels. */
  readonly signal?: CallSignal;
}

/**
 * Sends entity commands to the node that owns the entity. The owner answers with the
 * entity's outcome once its state change is durable there; the calling router settles the
 * side effects and forwards of that outcome itself, as it does for local entities.
 * Failures are thrown as SwitchboardErrors (UNAVAILABLE when the node cannot be reached).
 */
export interface Forwarder {
  forward(target: RemoteNode, command: RemoteCommand): Promise<EntityOutcome>;
  /** A server-streamed (CRDT) call: the reply's outcome, then one per streamed message. */
  forwardStreamed(target: RemoteNode, command: RemoteCommand): AsyncIterable<EntityOutcome>;
}

/** Picks active entities, e.g. those of the shards being handed over. */
export type EntitySelector = (service: EntityServiceModel, entityId: string) => boolean;

/**
 * This node's entities as the cluster sees them: the receiving end of the
 * {@link Forwarder} and the hook for shard hand-offs.
 */
export interface EntityHost {
  /** The current service model (undefined before discovery). */
  model(): ServiceModel | undefined;
  /**
   * Runs a command that another node forwarded here. Runs it only when placement says
   * the entity is local (never forwards again); otherwise UNAVAILABLE.
   */
  handle(command: RemoteCommand): Promise<EntityOutcome>;
  /** A forwarded server-streamed (CRDT) call. */
  handleStreamed(command: RemoteCommand): AsyncIterable<EntityOutcome>;
  /**
   * Passivates the selected active entities: they take no more commands, their streams
   * close and their writes are durable when this resolves (call it before releasing a
   * shard's lease).
   */
  passivate(select: EntitySelector): Promise<void>;
}

/** How many replicas must hold a CRDT change before its caller is answered. */
export type WriteConsistency = "local" | "majority" | "all";

/** A CRDT change as replicas exchange it: a delta state in the CRDT storage format. */
export interface ReplicatedDelta {
  readonly persistenceId: string;
  readonly entityId: string;
  readonly delta: Uint8Array;
}

/** This node as one CRDT replica among the cluster's members. */
export interface CrdtReplicas {
  /** This node's id; stable across restarts so its CRDT entries stay its own. */
  readonly nodeId: string;
  /** Node ids of the live members, this node included (Vote's `total_voters`). */
  members(): readonly string[];
  /** Sends a local change to the other replicas (no wait). */
  publish(delta: ReplicatedDelta): void;
  /** Listens for changes from other replicas; returns an unsubscribe function. */
  onDelta(listener: (delta: ReplicatedDelta) => void): () => void;
  /** Resolves once `delta` is held by as many members as `level` asks (`local`: at once). */
  awaitConsistency(level: WriteConsistency, delta: ReplicatedDelta, signal?: AbortSignal): Promise<void>;
}

/** A consumer lease held by this node: the consumer runs until `lost` aborts, then calls `done`. */
export interface HeldConsumerLease {
  /** Aborted when the consumer must stop (its lease moves to another node or ran out). */
  readonly lost: AbortSignal;
  /** Says the consumer stopped (its last offset saved), so the lease can be released. */
  done(): void;
}

/**
 * Singleton work in a cluster: each named consumer (an event-log consumer) runs on
 * exactly one node, under a lease of its own.
 */
export interface ConsumerLeases {
  /** Resolves once this node holds `consumer`'s lease; undefined when `signal` aborts first. */
  acquire(consumer: string, signal: AbortSignal): Promise<HeldConsumerLease | undefined>;
}

/** What a cluster gives a proxy. */
export interface ClusterNode {
  readonly placement: Placement;
  readonly forwarder: Forwarder;
  readonly replicas: CrdtReplicas;
  /** Leases for singleton consumers (absent: every consumer runs here). */
  readonly consumers?: ConsumerLeases;
  /** Adapts the store the entities of this node write through (absent: the proxy's store as it is). */
  entityStore?(store: Store): Store;
  /** Whether this node may take traffic as far as the cluster is concerned (absent: always). */
  ready?(): boolean;
  /** Hands this node's shards over to the other members (graceful leave); called first when the proxy closes. */
  drain?(): Promise<void>;
  /** Leaves the cluster (called when the proxy closes, after its entities are passivated). */
  close(): Promise<void>;
}

/** Builds the cluster node of a proxy once the proxy's {@link EntityHost} exists. */
export type ClusterFactory = (host: EntityHost, context: ClusterContext) => ClusterNode | Promise<ClusterNode>;

/** What a proxy offers the cluster it joins besides its entities. */
export interface ClusterContext {
  /** The store the proxy writes to (its `cluster` ports arbitrate leases and membership). */
  readonly store: Store;
  readonly logger: Logger;
}
