/**
 * The proxy's authoritative CRDTs (Cloudstate crdt.proto): the eight types as immutable,
 * state-based values with one entry per replica (node id) where the type needs it, a
 * join (`mergeStates`) for replication, and the user function's deltas applied as local
 * operations of one replica that also yield a delta state, i.e. a small state whose join
 * with any replica has the same effect (delta-state CRDTs). On one node only `applyDelta`
 * and `initDelta` are used; the cluster work ships delta states and joins them.
 */
import type { CrdtDelta } from "@switchboard/protocol";
import {
  applyGCounter,
  applyPNCounter,
  EMPTY_GCOUNTER,
  EMPTY_PNCOUNTER,
  type GCounterState,
  gcounterInit,
  mergeGCounter,
  mergePNCounter,
  type PNCounterState,
  pncounterInit,
} from "./counters.js";
import { applyFlag, FLAG_OFF, type FlagState, flagInit, mergeFlag } from "./flag.js";
import { applyGSet, EMPTY_GSET, type GSetState, gsetInit, mergeGSet } from "./gset.js";
import { applyLWWRegister, type LWWRegisterState, lwwRegisterInit, mergeLWWRegister } from "./lww-register.js";
import { applyORMap, EMPTY_ORMAP, mergeORMap, type ORMapState, ormapInit } from "./ormap.js";
import { applyORSet, EMPTY_ORSET, mergeORSet, type ORSetState, orsetInit } from "./orset.js";
import { applyVote, EMPTY_VOTE, mergeVote, type VoteState, voteInit } from "./vote.js";

export type { GCounterState, PNCounterState } from "./counters.js";
export type { FlagState } from "./flag.js";
export type { GSetState } from "./gset.js";
export type { LWWRegisterState } from "./lww-register.js";
export type { ORMapEntry, ORMapState } from "./ormap.js";
export type { ORSetEntry, ORSetState } from "./orset.js";
export type { VoteState, VoteView } from "./vote.js";

/** Any CRDT the proxy holds, discriminated by `kind` (the `CrdtDelta` case it accepts). */
export type CrdtState = GCounterState | PNCounterState | GSetState | ORSetState | LWWRegisterState | FlagState | ORMapState | VoteState;

/** The CRDT type names, as the `CrdtDelta` oneof cases. */
export type CrdtKind = CrdtState["kind"];

/** Human names of the types, for error messages. */
export const CRDT_NAMES: Readonly<Record<CrdtKind, string>> = {
  gcounter: "GCounter",
  pncounter: "PNCounter",
  gset: "GSet",
  orset: "ORSet",
  lwwregister: "LWWRegister",
  flag: "Flag",
  ormap: "ORMap",
  vote: "Vote",
};

/** The replica that applies local changes: who it is, its clock and the cluster it counts votes in. */
export interface Replica {
  /** This node's id; stable across restarts so its entries stay its own. */
  readonly nodeId: string;
  /** Wall clock in ms since the epoch (LWWRegister DEFAULT and REVERSE clocks). */
  now(): bigint;
  /** The current cluster members, this node included (Vote's `total_voters`). */
  members(): readonly string[];
}

/**
 * The outcome of applying a user-function delta: the new state plus its delta state, or
 * a rejection when the delta does not fit the CRDT (a user-function protocol error).
 */
export type Applied<S extends CrdtState = CrdtState> =
  | { readonly kind: "applied"; readonly state: S; readonly delta: S }
  | { readonly kind: "rejected"; readonly reason: string };

/** The generic operations, handed to ORMap for its nested values. */
export interface CrdtOps {
  apply(state: CrdtState | undefined, delta: CrdtDelta, replica: Replica): Applied;
  merge(a: CrdtState, b: CrdtState): CrdtState;
  init(state: CrdtState, replica: Replica): CrdtDelta;
}

/** A single-node replica with the wall clock: the only member is itself. */
export function singleNodeReplica(nodeId: string): Replica {
  const members = Object.freeze([nodeId]);
  return { nodeId, now: () => BigInt(Date.now()), members: () => members };
}

function empty(kind: CrdtKind): CrdtState | undefined {
  switch (kind) {
    case "gcounter":
      return EMPTY_GCOUNTER;
    case "pncounter":
      return EMPTY_PNCOUNTER;
    case "gset":
      return EMPTY_GSET;
    case "orset":
      return EMPTY_ORSET;
    case "flag":
      return FLAG_OFF;
    case "ormap":
      return EMPTY_ORMAP;
    case "vote":
      return EMPTY_VOTE;
    case "lwwregister":
      // A register has no empty value: its first write creates it.
      return undefined;
  }
}

/**
 * Applies a user function's `CrdtDelta` to the entity's CRDT (undefined: none yet, and
 * the delta's type creates it). A delta of another type than the CRDT's is rejected.
 */
export function applyDelta(state: CrdtState | undefined, delta: CrdtDelta, replica: Replica): Applied {
  const d = delta.delta;
  if (d.case === undefined) return { kind: "rejected", reason: "the CRDT delta is empty" };
  const current = state ?? empty(d.case);
  if (current !== undefined && current.kind !== d.case) {
    return { kind: "rejected", reason: `a ${CRDT_NAMES[d.case]} delta cannot be applied to a ${CRDT_NAMES[current.kind]}` };
  }
  switch (d.case) {
    case "gcounter":
      return applyGCounter(current as GCounterState, d.value, replica);
    case "pncounter":
      return applyPNCounter(current as PNCounterState, d.value, replica);
    case "gset":
      return applyGSet(current as GSetState, d.value);
    case "orset":
      return applyORSet(current as ORSetState, d.value, replica);
    case "lwwregister":
      return applyLWWRegister(current as LWWRegisterState | undefined, d.value, replica);
    case "flag":
      return applyFlag(current as FlagState, d.value);
    case "ormap":
      return applyORMap(current as ORMapState, d.value, replica, OPS);
    case "vote":
      return applyVote(current as VoteState, d.value, replica);
  }
}

/**
 * The join of two replicas of one CRDT: commutative, associative and idempotent. Both
 * must be of the same type; anything else is a broken invariant (one entity, one type).
 */
export function mergeStates(a: CrdtState, b: CrdtState): CrdtState {
  if (a.kind !== b.kind) throw new Error(`cannot merge a ${CRDT_NAMES[a.kind]} with a ${CRDT_NAMES[b.kind]}`);
  switch (a.kind) {
    case "gcounter":
      return mergeGCounter(a, b as GCounterState);
    case "pncounter":
      return mergePNCounter(a, b as PNCounterState);
    case "gset":
      return mergeGSet(a, b as GSetState);
    case "orset":
      return mergeORSet(a, b as ORSetState);
    case "lwwregister":
      return mergeLWWRegister(a, b as LWWRegisterState);
    case "flag":
      return mergeFlag(a, b as FlagState);
    case "ormap":
      return mergeORMap(a, b as ORMapState, OPS);
    case "vote":
      return mergeVote(a, b as VoteState);
  }
}

/** The state as the user function sees it, expressed as a delta from empty (`CrdtInit.delta`). */
export function initDelta(state: CrdtState, replica: Replica): CrdtDelta {
  switch (state.kind) {
    case "gcounter":
      return gcounterInit(state);
    case "pncounter":
      return pncounterInit(state);
    case "gset":
      return gsetInit(state);
    case "orset":
      return orsetInit(state);
    case "lwwregister":
      return lwwRegisterInit(state);
    case "flag":
      return flagInit(state);
    case "ormap":
      return ormapInit(state, replica, OPS);
    case "vote":
      return voteInit(state, replica);
  }
}

/** The generic operations as one object (ORMap's nested values, tests). */
export const CRDT_OPS: CrdtOps = { apply: applyDelta, merge: mergeStates, init: initDelta };
const OPS = CRDT_OPS;
