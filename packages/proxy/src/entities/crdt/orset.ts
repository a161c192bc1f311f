import { create } from "@bufbuild/protobuf";
import { type CrdtDelta, CrdtDeltaSchema, type ORSetDelta } from "@switchboard/protocol";
import type { AnyValue } from "../../store/types.js";
import { anyKey, fromAny, toAny } from "./any-key.js";
import { contextOf, type Dot, type DotContext, EMPTY_CONTEXT, joinContexts, joinDots, nextDot } from "./dots.js";
import type { Applied, Replica } from "./state.js";

/** One element of an ORSet with the add events (dots) that keep it in the set. */
export interface ORSetEntry {
  readonly value: AnyValue;
  /** Never empty: an element without dots is not in the set. */
  readonly dots: ReadonlySet<Dot>;
}

/**
 * Observed-remove (add-wins) set without tombstones: every add tags the element with a
 * fresh dot, a remove drops the dots it observed, and the causal context tells a
 * concurrent add (an unseen dot, kept) from an observed remove (a seen dot, dropped).
 */
export interface ORSetState {
  readonly kind: "orset";
  readonly entries: ReadonlyMap<string, ORSetEntry>;
  readonly context: DotContext;
}

/** The empty ORSet. */
export const EMPTY_ORSET: ORSetState = Object.freeze({ kind: "orset", entries: new Map<string, ORSetEntry>(), context: EMPTY_CONTEXT });

/** Join of two ORSets (also how a delta state is applied). */
export function mergeORSet(a: ORSetState, b: ORSetState): ORSetState {
  const entries = new Map<string, ORSetEntry>();
  for (const key of new Set([...a.entries.keys(), ...b.entries.keys()])) {
    const x = a.entries.get(key);
    const y = b.entries.get(key);
    const dots = joinDots(x?.dots ?? new Set(), a.context, y?.dots ?? new Set(), b.context);
    if (dots.size > 0) entries.set(key, { value: (x ?? y)?.value as AnyValue, dots });
  }
  return { kind: "orset", entries, context: joinContexts(a.context, b.context) };
}

/**
 * Applies an `ORSetDelta` in the protocol's order (clear, remove, add) as this replica's
 * own operations. Removing an absent element is a no-op, as in the user function; adding
 * a present one re-tags it with a fresh dot (it now survives a concurrent remove).
 */
export function applyORSet(state: ORSetState, delta: ORSetDelta, replica: Replica): Applied<ORSetState> {
  const entries = new Map(state.entries);
  let context = state.context;
  const observed: Dot[] = [];
  const added = new Map<string, ORSetEntry>();
  const drop = (key: string) => {
    const entry = entries.get(key);
    if (entry === undefined) return;
    observed.push(...entry.dots);
    entries.delete(key);
    added.delete(key);
  };
  if (delta.cleared) for (const key of [...entries.keys()]) drop(key);
  for (const any of delta.removed) drop(anyKey(fromAny(any)));
  for (const any of delta.added) {
    const value = fromAny(any);
    const key = anyKey(value);
    drop(key);
    const next = nextDot(context, replica.nodeId);
    context = next.context;
    const entry = { value, dots: new Set([next.dot]) };
    entries.set(key, entry);
    added.set(key, entry);
  }
  const newDots = [...added.values()].map((e) => [...e.dots][0] as Dot);
  return {
    kind: "applied",
    state: { kind: "orset", entries, context },
    delta: { kind: "orset", entries: added, context: contextOf([...observed, ...newDots]) },
  };
}

/** The ORSet as a delta from empty. */
export function orsetInit(state: ORSetState): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "orset", value: { added: [...state.entries.values()].map((e) => toAny(e.value)) } } });
}
