import { create } from "@bufbuild/protobuf";
import { type CrdtDelta, CrdtDeltaSchema, type GSetDelta } from "@switchboard/protocol";
import type { AnyValue } from "../../store/types.js";
import { anyKey, fromAny, toAny } from "./any-key.js";
import type { Applied } from "./state.js";

/** Grow-only set of `Any` elements, keyed by {@link anyKey}; the merge is the union. */
export interface GSetState {
  readonly kind: "gset";
  readonly elements: ReadonlyMap<string, AnyValue>;
}

/** The empty GSet. */
export const EMPTY_GSET: GSetState = Object.freeze({ kind: "gset", elements: new Map<string, AnyValue>() });

/** Adds `GSetDelta.added`; the delta state holds only the elements that were new. */
export function applyGSet(state: GSetState, delta: GSetDelta): Applied<GSetState> {
  const fresh = new Map<string, AnyValue>();
  for (const any of delta.added) {
    const value = fromAny(any);
    const key = anyKey(value);
    if (!state.elements.has(key)) fresh.set(key, value);
  }
  if (fresh.size === 0) return { kind: "applied", state, delta: EMPTY_GSET };
  return { kind: "applied", state: { kind: "gset", elements: new Map([...state.elements, ...fresh]) }, delta: { kind: "gset", elements: fresh } };
}

/** Union of two GSets. */
export function mergeGSet(a: GSetState, b: GSetState): GSetState {
  let merged: Map<string, AnyValue> | undefined;
  for (const [key, value] of b.elements) {
    if (a.elements.has(key)) continue;
    merged ??= new Map(a.elements);
    merged.set(key, value);
  }
  return merged === undefined ? a : { kind: "gset", elements: merged };
}

/** The GSet as a delta from empty. */
export function gsetInit(state: GSetState): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "gset", value: { added: [...state.elements.values()].map(toAny) } } });
}
