import type { Any } from "@bufbuild/protobuf/wkt";
import type { MetadataEntry } from "@switchboard/protocol";
import type { EntitySelector } from "../cluster/types.js";
import type { EntityServiceModel, MethodModel, ServiceModel } from "../descriptors/service-model.js";
import type { EntityRuntime } from "../entities/shared/types.js";
import type { CallSignal } from "../internal/call-signal.js";

/** One message for the client: a payload (absent: no message) and the reply's metadata. */
export interface Reply {
  readonly payload: Any | undefined;
  readonly metadata?: readonly MetadataEntry[];
}

/** What the ingress knows of a call before its messages arrive. */
export interface Invocation {
  readonly method: MethodModel;
  /** Request headers as Cloudstate metadata (sent to Actions only). */
  readonly metadata: readonly MetadataEntry[];
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: CallSignal;
  /** Absolute deadline (ms since epoch), when the client set one. */
  readonly deadline?: number;
}

/**
 * The router as the ingress sees it: a call in, replies out. Errors are thrown (or
 * thrown by the iterator) as SwitchboardErrors carrying the status for the client.
 */
export interface Dispatcher {
  /** A unary call. */
  unary(invocation: Invocation, request: Uint8Array): Promise<Reply>;
  /** A client-streaming, server-streaming or bidi call. */
  stream(invocation: Invocation, requests: AsyncIterable<Uint8Array>): AsyncIterable<Reply>;
  /**
   * Delivers one payload unchanged (its type URL kept) to any method with the RPC of its
   * shape, and collects every reply. Used by eventing, where a subscriber taking
   * `google.protobuf.Any` gets events of any type.
   */
  deliver(method: MethodModel, payload: Any, metadata: readonly MetadataEntry[], signal?: CallSignal): Promise<Reply[]>;
}

/** Read access to the current service model (swapped atomically on re-discovery). */
export interface ModelSource {
  /** The model, or undefined before the first successful discovery. */
  current(): ServiceModel | undefined;
}

/**
 * What one discovery produced, as one immutable object: the service model and a runtime
 * for every service (plus, behind it, the event-log consumers of that model). A new
 * discovery makes a new deployment; the old one is swapped out and closed as one.
 */
export interface Deployment {
  readonly model: ServiceModel;
  /** The runtime of a service by full name; undefined when the kind is not built (or the name unknown). */
  runtimeFor(serviceName: string): EntityRuntime | undefined;
  /**
   * Gives the runtime of `service` (a service of the next model) to the next deployment
   * when this deployment runs the same service (kind, persistence id, passivation and
   * methods), so its active entities carry on through a re-discovery; this deployment
   * then no longer closes it. Undefined when there is none to give.
   */
  handOver(service: EntityServiceModel): EntityRuntime | undefined;
  /** Passivates the selected active entities of every service (e.g. the shards being handed over). */
  passivate(select: EntitySelector): Promise<void>;
  /** Stops the event-log consumers and passivates every entity. */
  close(): Promise<void>;
}

/** Read access to the current deployment (swapped atomically on re-discovery). */
export interface DeploymentSource {
  /** The deployment, or undefined before the first successful discovery. */
  current(): Deployment | undefined;
}
