import { create } from "@bufbuild/protobuf";
import { type CrdtDelta, CrdtDeltaSchema, type ORMapDelta } from "@switchboard/protocol";
import type { AnyValue } from "../../store/types.js";
import { anyKey, describeAny, fromAny, toAny } from "./any-key.js";
import { compareDots, contextOf, type Dot, type DotContext, EMPTY_CONTEXT, joinContexts, joinDots, nextDot } from "./dots.js";
import type { Applied, CrdtOps, CrdtState, Replica } from "./state.js";

/**
 * One ORMap entry. Each local change of the entry (its add, or an update of its value)
 * is an event with a fresh dot that carries the entry's whole value after the change,
 * and supersedes the versions it observed. Concurrent changes on different nodes leave
 * several versions; the entry's value is their join ({@link entryValue}).
 */
export interface ORMapEntry {
  readonly key: AnyValue;
  /** Never empty. A dot names one event, so its value never changes. */
  readonly versions: ReadonlyMap<Dot, CrdtState>;
}

/**
 * Observed-remove map from `Any` keys to nested CRDTs of any type (ORMaps included).
 * The keys behave as an add-wins ORSet (dots plus a causal context); the values ride on
 * the key's dots. Because a dot's value is immutable, the join is the ORSet join over
 * (dot, value) pairs and stays a lattice whatever the nested types are; a remove that
 * races an update keeps the updated value, as in the reference proxy (Akka's ORMap).
 */
export interface ORMapState {
  readonly kind: "ormap";
  readonly entries: ReadonlyMap<string, ORMapEntry>;
  readonly context: DotContext;
}

/** The empty ORMap. */
export const EMPTY_ORMAP: ORMapState = Object.freeze({ kind: "ormap", entries: new Map<string, ORMapEntry>(), context: EMPTY_CONTEXT });

/**
 * The value of an entry: the join of its versions. Versions of different CRDT types
 * (two nodes adding the key concurrently with different types) cannot be joined, so the
 * type of the newest version by dot order wins, deterministically on every node.
 */
export function entryValue(entry: ORMapEntry, ops: CrdtOps): CrdtState {
  const dots = [...entry.versions.keys()].sort((a, b) => compareDots(b, a));
  const first = entry.versions.get(dots[0] as Dot) as CrdtState;
  let value = first;
  for (const dot of dots.slice(1)) {
    const other = entry.versions.get(dot) as CrdtState;
    if (other.kind === first.kind) value = ops.merge(value, other);
  }
  return value;
}

/**
 * Applies an `ORMapDelta` in the protocol's order (clear, remove, update, add) as this
 * replica's own changes. The user function's view is the proxy's, so a remove or update
 * of a key the map does not hold is a protocol error, as is an entry delta of the wrong
 * type for its value; an add of a present key replaces its value (the reference's `put`).
 */
export function applyORMap(state: ORMapState, delta: ORMapDelta, replica: Replica, ops: CrdtOps): Applied<ORMapState> {
  const entries = new Map(state.entries);
  let context = state.context;
  const observed: Dot[] = [];
  const fresh: Dot[] = [];
  const changed = new Map<string, ORMapEntry>();
  const drop = (key: string): boolean => {
    const entry = entries.get(key);
    if (entry === undefined) return false;
    observed.push(...entry.versions.keys());
    entries.delete(key);
    changed.delete(key);
    return true;
  };
  const put = (key: string, value: AnyValue, nested: CrdtState) => {
    const next = nextDot(context, replica.nodeId);
    context = next.context;
    fresh.push(next.dot);
    const entry: ORMapEntry = { key: value, versions: new Map([[next.dot, nested]]) };
    entries.set(key, entry);
    changed.set(key, entry);
  };

  if (delta.cleared) for (const key of [...entries.keys()]) drop(key);
  for (const any of delta.removed) {
    // After `cleared` the key is gone anyway; otherwise the user function removed a key it never had.
    if (!drop(anyKey(fromAny(any))) && !delta.cleared)
      return { kind: "rejected", reason: `ORMap delta removes key ${describeAny(any)}, which is not in the map` };
  }
  for (const update of delta.updated) {
    if (update.key === undefined || update.delta === undefined)
      return { kind: "rejected", reason: "ORMap delta has an updated entry without a key or a delta" };
    const key = anyKey(fromAny(update.key));
    const entry = entries.get(key);
    if (entry === undefined) return { kind: "rejected", reason: `ORMap delta updates key ${describeAny(update.key)}, which is not in the map` };
    const applied = ops.apply(entryValue(entry, ops), update.delta, replica);
    if (applied.kind === "rejected") return { kind: "rejected", reason: `ORMap entry ${describeAny(update.key)}: ${applied.reason}` };
    observed.push(...entry.versions.keys());
    put(key, entry.key, applied.state);
  }
  for (const add of delta.added) {
    if (add.key === undefined || add.delta === undefined) return { kind: "rejected", reason: "ORMap delta has an added entry without a key or a delta" };
    const value = fromAny(add.key);
    const key = anyKey(value);
    const applied = ops.apply(undefined, add.delta, replica);
    if (applied.kind === "rejected") return { kind: "rejected", reason: `ORMap entry ${describeAny(add.key)}: ${applied.reason}` };
    drop(key);
    put(key, value, applied.state);
  }
  return {
    kind: "applied",
    state: { kind: "ormap", entries, context },
    delta: { kind: "ormap", entries: changed, context: contextOf([...observed, ...fresh]) },
  };
}

/** Join of two ORMaps (also how a delta state is applied). */
export function mergeORMap(a: ORMapState, b: ORMapState, ops: CrdtOps): ORMapState {
  const entries = new Map<string, ORMapEntry>();
  const none = new Map<Dot, CrdtState>();
  for (const key of new Set([...a.entries.keys(), ...b.entries.keys()])) {
    const x = a.entries.get(key);
    const y = b.entries.get(key);
    const xs = x?.versions ?? none;
    const ys = y?.versions ?? none;
    const kept = joinDots(new Set(xs.keys()), a.context, new Set(ys.keys()), b.context);
    if (kept.size === 0) continue;
    const versions = new Map<Dot, CrdtState>();
    for (const dot of kept) {
      const u = xs.get(dot);
      const v = ys.get(dot);
      // Both sides hold the same event, hence the same value; the join keeps that idempotent.
      versions.set(dot, u !== undefined && v !== undefined ? ops.merge(u, v) : ((u ?? v) as CrdtState));
    }
    entries.set(key, { key: (x ?? y)?.key as AnyValue, versions });
  }
  return { kind: "ormap", entries, context: joinContexts(a.context, b.context) };
}

/** The ORMap as a delta from empty: every entry added with its value as a delta from empty. */
export function ormapInit(state: ORMapState, replica: Replica, ops: CrdtOps): CrdtDelta {
  const added = [...state.entries.values()].map((entry) => ({ key: toAny(entry.key), delta: ops.init(entryValue(entry, ops), replica) }));
  return create(CrdtDeltaSchema, { delta: { case: "ormap", value: { added } } });
}
