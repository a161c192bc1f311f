import type { Any } from "@bufbuild/protobuf/wkt";
import type { ClientAction, MetadataEntry, SideEffect } from "@switchboard/protocol";
import type { CrdtReplicas, EntitySelector } from "../../cluster/types.js";
import type { EntityServiceModel, MethodModel } from "../../descriptors/service-model.js";
import type { Clock } from "../../internal/clock.js";
import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import type { Store, WriterToken } from "../../store/types.js";
import type { UserFunctionClient } from "../../user-function/client.js";
import type { ActiveEntities } from "../session/active-entities.js";
import type { CallSignal } from "../../internal/call-signal.js";

/** What an entity answered to one command, once its state change is durable. */
export interface EntityOutcome {
  readonly clientAction: ClientAction | undefined;
  readonly sideEffects: readonly SideEffect[];
}

/** One command for an entity (or an Action call). */
export interface EntityCommand {
  readonly method: MethodModel;
  /** The entity key (empty for Actions). */
  readonly entityId: string;
  readonly payload: Any;
  /** Aborted when the client cancels (or its deadline passes). */
  readonly signal?: CallSignal;
  /** Absolute deadline (ms since the epoch), when the client set one. */
  readonly deadline?: number;
  /** Request metadata (Actions only). */
  readonly metadata?: readonly MetadataEntry[];
  /** Who writes, as placement decided (default: the single-node writer). */
  readonly writer?: WriterToken;
}

/** Drives the calls of one service: one user-function stream per active entity, or per Action call. */
export interface EntityRuntime {
  /** A unary command: routes it to its entity, activating it if needed. */
  handle(command: EntityCommand): Promise<EntityOutcome>;
  /**
   * A streamed call (server-streamed CRDT calls; every streamed Action call, whose
   * request messages come from `requests`): yields the outcome of each message the user
   * function sends, and returns when it ends the stream. When the command's signal aborts
   * (client cancel), the runtime tells the user function and the iterable returns.
   */
  handleStreamed?(command: EntityCommand, requests?: AsyncIterable<Any>): AsyncIterable<EntityOutcome>;
  /** Number of active entities, for metrics and tests. */
  readonly activeCount: number;
  /** Passivates one entity if it is active; resolves to whether it was. */
  passivate(entityId: string): Promise<boolean>;
  /** Passivates the selected active entities gracefully; resolves when their writes are durable. */
  passivateWhere(select: EntitySelector): Promise<void>;
  /** Passivates every active entity at once (shutdown). */
  close(): Promise<void>;
}

/**
 * Runs side effects that no client call carries any more (those of a cancelled CRDT
 * streamed call), the way the router runs a reply's side effects.
 */
export interface EffectRunner {
  /** `source` says where they come from, for logs and `reportError` texts. */
  runDetached(effects: readonly SideEffect[], source: string): Promise<void>;
}

/**
 * The persistence ids whose value-entity writes are recorded as changes (some method of
 * the current deployment consumes them). One per proxy, outliving deployments: a runtime
 * carried over by a re-discovery reads the new deployment's answer at each write.
 */
export interface RecordedChanges {
  has(persistenceId: string): boolean;
  /** Replaces the set (a deployment, as it starts). */
  set(persistenceIds: readonly string[]): void;
}

/**
 * What a runtime of one service works with, its store port aside: a runtime receives
 * only the store port its kind uses (value, journal or CRDT), never the whole store.
 */
export interface RuntimeEnvironment {
  readonly service: EntityServiceModel;
  readonly client: UserFunctionClient;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Idle timeout in ms (the service's own strategy, else the proxy default). */
  readonly passivationTimeoutMs: number;
  readonly relayTimeoutMs: number;
  /** Where activations and passivations are counted (default: nowhere). */
  readonly metrics?: Metrics;
  /** Every active entity of the proxy, for the active-entity cap. */
  readonly activeEntities: ActiveEntities;
  /** This node as a CRDT replica. */
  readonly replicas: CrdtReplicas;
  /** Which value entities record their changes (absent: none do). */
  readonly recordedChanges?: RecordedChanges;
  readonly effects: EffectRunner;
  /** Tells the user function it broke the protocol (EntityDiscovery.reportError). */
  reportError(message: string): void;
  /**
   * Aborted once the proxy begins to stop. A user function beside it usually stops at the
   * same moment (one Ctrl-C reaches both), so streams it ends from then on are expected.
   */
  readonly stopping?: AbortSignal;
}

/**
 * What a kind's runtime factory gets: the environment and the whole store, from which the
 * kind module picks the one port its runtime uses.
 */
export interface EntityRuntimeContext extends RuntimeEnvironment {
  readonly store: Store;
}

/** Builds the runtime of one service. */
export type EntityRuntimeFactory = (context: EntityRuntimeContext) => EntityRuntime;
