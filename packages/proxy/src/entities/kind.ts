import type { DescMethod } from "@bufbuild/protobuf";
import type { EntityRuntimeFactory } from "./shared/types.js";

/**
 * Everything the proxy knows of one entity kind, in one place: its protocol service,
 * its label, what its services may declare, and how its runtime is built. Descriptors,
 * discovery, router and deployment read kinds only through `registry.ts`.
 */
export interface EntityKindModule<K extends string = string> {
  /** Short name, e.g. `value-entity`. */
  readonly kind: K;
  /** The protocol service name, as in `ProxyInfo.supported_entity_types` and `Entity.entity_type`. */
  readonly entityType: string;
  /** Human name for messages, e.g. `Value entity`. */
  readonly label: string;
  /** Commands address one entity by the input's entity key (every stateful kind). */
  readonly keyed: boolean;
  /** Why `method` cannot belong to a service of this kind, or undefined when it can. */
  checkMethod(method: DescMethod): string | undefined;
  /** Builds the runtime of one service; undefined while this build cannot run the kind. */
  readonly createRuntime: EntityRuntimeFactory | undefined;
}

/** The rule of kinds whose commands are processed one at a time: unary methods only. */
export function unaryOnly(method: DescMethod): string | undefined {
  return method.methodKind === "unary" ? undefined : "streaming methods are not allowed for this entity type";
}
