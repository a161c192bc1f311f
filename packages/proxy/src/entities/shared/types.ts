import type { Any } from "@bufbuild/protobuf/wkt";
import type { ClientAction, SideEffect } from "@switchboard/protocol";
import type { EntityServiceModel, MethodModel } from "../../descriptors/service-model.js";
import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import type { Store } from "../../store/types.js";
import type { UserFunctionClient } from "../../user-function/client.js";

/** What an entity answered to one command, once its state change is durable. */
export interface EntityOutcome {
  readonly clientAction: ClientAction | undefined;
  readonly sideEffects: readonly SideEffect[];
}

/** One command for a stateful entity. */
export interface EntityCommand {
  readonly method: MethodModel;
  readonly entityId: string;
  readonly payload: Any;
  readonly signal?: AbortSignal;
}

/** Drives the entities of one stateful entity service (one user-function stream per active entity). */
export interface EntityRuntime {
  /** Routes a command to its entity, activating it if needed. */
  handle(command: EntityCommand): Promise<EntityOutcome>;
  /**
   * A server-streamed call (CRDT entities): yields the reply's outcome, then one per
   * streamed message, and returns when the user function ends the stream. When the
   * command's signal aborts (client cancel), the runtime tells the user function
   * (`StreamCancelled`) and the iterable returns.
   */
  handleStreamed?(command: EntityCommand): AsyncIterable<EntityOutcome>;
  /** Number of active entities, for metrics and tests. */
  readonly activeCount: number;
  /** Passivates every active entity (closes their streams). */
  close(): Promise<void>;
  /** Passivates one entity if it is active; resolves to whether it was. */
  passivate?(entityId: string): Promise<boolean>;
}

/** What a runtime factory gets to build a runtime for one service. */
export interface EntityRuntimeContext {
  readonly service: EntityServiceModel;
  readonly client: UserFunctionClient;
  readonly store: Store;
  readonly logger: Logger;
  /** Idle timeout in ms (the service's own strategy, else the proxy default). */
  readonly passivationTimeoutMs: number;
  readonly relayTimeoutMs: number;
  /** Where activations and passivations are counted (default: nowhere). */
  readonly metrics?: Metrics;
  /** Tells the user function it broke the protocol (EntityDiscovery.reportError). */
  reportError(message: string): void;
  /**
   * Runs side effects that belong to no client call any more (e.g. those of a CRDT
   * `stream_cancelled_response`), the way the router runs a reply's side effects.
   */
  runSideEffects(effects: readonly SideEffect[]): Promise<void>;
}

/** Builds the runtime of one entity service. */
export type EntityRuntimeFactory = (context: EntityRuntimeContext) => EntityRuntime;
