import type { Any } from "@bufbuild/protobuf/wkt";
import type { MetadataEntry, SideEffect } from "@switchboard/protocol";
import type { MethodModel, ServiceModel } from "../descriptors/service-model.js";

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
  readonly signal: AbortSignal;
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
  deliver(method: MethodModel, payload: Any, metadata: readonly MetadataEntry[], signal?: AbortSignal): Promise<Reply[]>;
  /** Runs side effects on behalf of `origin` when no client call is waiting for them. */
  runSideEffects(effects: readonly SideEffect[], origin: MethodModel): Promise<void>;
}

/** Read access to the current service model (swapped atomically on re-discovery). */
export interface ModelSource {
  /** The model, or undefined before the first successful discovery. */
  current(): ServiceModel | undefined;
}
