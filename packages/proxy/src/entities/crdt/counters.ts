import { create } from "@bufbuild/protobuf";
import { type CrdtDelta, CrdtDeltaSchema, type GCounterDelta, type PNCounterDelta } from "@switchboard/protocol";
import type { Applied, Replica } from "./state.js";

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** Grow-only counter: one count per node; the value is their sum, the merge their maximum. */
export interface GCounterState {
  readonly kind: "gcounter";
  readonly counts: ReadonlyMap<string, bigint>;
}

/** Up/down counter: two grow-only halves, increments and decrements, per node. */
export interface PNCounterState {
  readonly kind: "pncounter";
  readonly increments: ReadonlyMap<string, bigint>;
  readonly decrements: ReadonlyMap<string, bigint>;
}

function sum(counts: ReadonlyMap<string, bigint>): bigint {
  let total = 0n;
  for (const count of counts.values()) total += count;
  return total;
}

/** Pointwise maximum: the join of two per-node count maps. */
export function mergeCounts(a: ReadonlyMap<string, bigint>, b: ReadonlyMap<string, bigint>): ReadonlyMap<string, bigint> {
  if (b.size === 0) return a;
  const merged = new Map(a);
  for (const [node, count] of b) {
    if (count > (merged.get(node) ?? 0n)) merged.set(node, count);
  }
  return merged;
}

/** The empty GCounter. */
export const EMPTY_GCOUNTER: GCounterState = Object.freeze({ kind: "gcounter", counts: new Map<string, bigint>() });

/** The empty PNCounter. */
export const EMPTY_PNCOUNTER: PNCounterState = Object.freeze({
  kind: "pncounter",
  increments: new Map<string, bigint>(),
  decrements: new Map<string, bigint>(),
});

/** The value of a GCounter. */
export function gcounterValue(state: GCounterState): bigint {
  return sum(state.counts);
}

/** The value of a PNCounter. */
export function pncounterValue(state: PNCounterState): bigint {
  return sum(state.increments) - sum(state.decrements);
}

/** Applies `GCounterDelta.increment` as this replica's own increment. */
export function applyGCounter(state: GCounterState, delta: GCounterDelta, replica: Replica): Applied<GCounterState> {
  // The value travels as uint64 (init's increment), so the sum must stay within it.
  if (gcounterValue(state) + delta.increment > UINT64_MAX) return { kind: "rejected", reason: "GCounter increment would exceed 2^64 - 1" };
  // No zero entries: a node with nothing counted has no entry (one representation per value).
  if (delta.increment === 0n) return { kind: "applied", state, delta: EMPTY_GCOUNTER };
  const own = (state.counts.get(replica.nodeId) ?? 0n) + delta.increment;
  const counts = new Map(state.counts);
  counts.set(replica.nodeId, own);
  return { kind: "applied", state: { kind: "gcounter", counts }, delta: { kind: "gcounter", counts: new Map([[replica.nodeId, own]]) } };
}

/** Applies `PNCounterDelta.change` to this replica's increments (positive) or decrements (negative). */
export function applyPNCounter(state: PNCounterState, delta: PNCounterDelta, replica: Replica): Applied<PNCounterState> {
  const change = delta.change;
  const next = pncounterValue(state) + change;
  // The value travels as int64 (init's change, the user function's counter).
  if (next > INT64_MAX || next < INT64_MIN) return { kind: "rejected", reason: "PNCounter value would leave the int64 range" };
  if (change === 0n) return { kind: "applied", state, delta: EMPTY_PNCOUNTER };
  const half = change > 0n ? "increments" : "decrements";
  const own = (state[half].get(replica.nodeId) ?? 0n) + (change > 0n ? change : -change);
  const counts = new Map(state[half]);
  counts.set(replica.nodeId, own);
  const single = new Map([[replica.nodeId, own]]);
  return {
    kind: "applied",
    state: { ...state, [half]: counts },
    delta: { ...EMPTY_PNCOUNTER, [half]: single },
  };
}

/** Join of two GCounters. */
export function mergeGCounter(a: GCounterState, b: GCounterState): GCounterState {
  return { kind: "gcounter", counts: mergeCounts(a.counts, b.counts) };
}

/** Join of two PNCounters. */
export function mergePNCounter(a: PNCounterState, b: PNCounterState): PNCounterState {
  return { kind: "pncounter", increments: mergeCounts(a.increments, b.increments), decrements: mergeCounts(a.decrements, b.decrements) };
}

/** The GCounter as a delta from zero. */
export function gcounterInit(state: GCounterState): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "gcounter", value: { increment: gcounterValue(state) } } });
}

/** The PNCounter as a delta from zero. */
export function pncounterInit(state: PNCounterState): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "pncounter", value: { change: pncounterValue(state) } } });
}
