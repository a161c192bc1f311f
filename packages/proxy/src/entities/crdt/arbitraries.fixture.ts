/**
 * Test support for the CRDT property tests: fast-check arbitraries of user-function
 * intents per CRDT type, their translation into valid `CrdtDelta`s for a given state,
 * multi-replica schedules, and a reference model of what the user function sees.
 */
import { create } from "@bufbuild/protobuf";
import { CrdtClock, type CrdtDelta, CrdtDeltaSchema, type ORMapEntryDelta } from "@switchboard/protocol";
import fc from "fast-check";
import type { AnyValue } from "../../store/types.js";
import { anyKey, compareStrings, toAny } from "./any-key.js";
import { entryValue } from "./ormap.js";
import { applyDelta, type CrdtKind, type CrdtOps, type CrdtState, mergeStates, type Replica } from "./state.js";
import { encodeCrdtState } from "./storage-format.js";
import { voteView } from "./vote.js";

/** Every CRDT type. */
export const KINDS: readonly CrdtKind[] = ["gcounter", "pncounter", "gset", "orset", "lwwregister", "flag", "ormap", "vote"];

const te = new TextEncoder();
/** Set elements and map keys; two share their bytes but not their type URL, one is the empty Any. */
export const ELEMENTS: readonly AnyValue[] = [
  { typeUrl: "p.cloudstate.io/string", value: te.encode("\nred") },
  { typeUrl: "p.cloudstate.io/string", value: te.encode("\ngreen") },
  { typeUrl: "p.cloudstate.io/bytes", value: te.encode("\ngreen") },
  { typeUrl: "type.googleapis.com/x.Y", value: new Uint8Array([8, 1]) },
  { typeUrl: "", value: new Uint8Array() },
];

/** ORMap keys and the CRDT type of their values (keys pick the type, as in the TCK model). */
export const MAP_KEYS: readonly { readonly key: AnyValue; readonly kind: CrdtKind }[] = KINDS.map((kind) => ({
  key: { typeUrl: "p.cloudstate.io/string", value: te.encode(`\n${kind}`) },
  kind,
}));

/** What a user function wants to do to its CRDT, before it is shaped into a delta for the current state. */
export type Intent =
  | { readonly kind: "gcounter"; readonly increment: bigint }
  | { readonly kind: "pncounter"; readonly change: bigint }
  | { readonly kind: "gset"; readonly add: readonly number[] }
  | { readonly kind: "orset"; readonly clear: boolean; readonly remove: readonly number[]; readonly add: readonly number[] }
  | { readonly kind: "lwwregister"; readonly value: number; readonly clock: CrdtClock; readonly custom: bigint }
  | { readonly kind: "flag" }
  | { readonly kind: "vote"; readonly selfVote: boolean }
  | {
      readonly kind: "ormap";
      readonly clear: boolean;
      readonly remove: readonly number[];
      readonly update: readonly { readonly key: number; readonly intent: Intent }[];
      readonly add: readonly { readonly key: number; readonly intent: Intent }[];
    };

/** Options of {@link intentArb}. */
export interface IntentOptions {
  /** Only LWWRegister clocks whose writes are inflations (DEFAULT, CUSTOM_AUTO_INCREMENT) at the top level. */
  readonly inflationary?: boolean;
}

const indexes = (n: number) => fc.array(fc.nat(n - 1), { maxLength: 3 });

/** Arbitrary intents for a CRDT of type `kind`; ORMaps nest up to `depth` levels. */
export function intentArb(kind: CrdtKind, depth = 2, options: IntentOptions = {}): fc.Arbitrary<Intent> {
  switch (kind) {
    case "gcounter":
      return fc.bigInt(0n, 50n).map((increment) => ({ kind, increment }));
    case "pncounter":
      return fc.bigInt(-50n, 50n).map((change) => ({ kind, change }));
    case "gset":
      return indexes(ELEMENTS.length).map((add) => ({ kind, add }));
    case "orset":
      return fc.record({ clear: fc.nat(5).map((n) => n === 0), remove: indexes(ELEMENTS.length), add: indexes(ELEMENTS.length) }).map((r) => ({ kind, ...r }));
    case "lwwregister": {
      const clocks = options.inflationary
        ? [CrdtClock.DEFAULT, CrdtClock.CUSTOM_AUTO_INCREMENT]
        : [CrdtClock.DEFAULT, CrdtClock.REVERSE, CrdtClock.CUSTOM, CrdtClock.CUSTOM_AUTO_INCREMENT];
      return fc.record({ value: fc.nat(ELEMENTS.length - 1), clock: fc.constantFrom(...clocks), custom: fc.bigInt(-5n, 30n) }).map((r) => ({ kind, ...r }));
    }
    case "flag":
      return fc.constant({ kind });
    case "vote":
      return fc.boolean().map((selfVote) => ({ kind, selfVote }));
    case "ormap": {
      const keys = depth > 1 ? MAP_KEYS : MAP_KEYS.filter((k) => k.kind !== "ormap");
      const entry = fc.nat(keys.length - 1).chain((i) => {
        const target = keys[i] as (typeof keys)[number];
        const key = MAP_KEYS.indexOf(target);
        return intentArb(target.kind, depth - 1).map((intent) => ({ key, intent }));
      });
      return fc
        .record({
          clear: fc.nat(9).map((n) => n === 0),
          remove: fc.array(fc.nat(MAP_KEYS.length - 1), { maxLength: 2 }),
          update: fc.array(entry, { maxLength: 2 }),
          add: fc.array(entry, { maxLength: 2 }),
        })
        .map((r) => ({ kind, ...r }));
    }
  }
}

/**
 * Shapes an intent into a delta a correct user function would send for `state`: ORMap
 * removes and updates only name keys the map holds, a key added or updated twice is
 * changed once, and an update of an absent key becomes an add.
 */
export function deltaFor(state: CrdtState | undefined, intent: Intent, ops: CrdtOps): CrdtDelta {
  switch (intent.kind) {
    case "gcounter":
      return create(CrdtDeltaSchema, { delta: { case: "gcounter", value: { increment: intent.increment } } });
    case "pncounter":
      return create(CrdtDeltaSchema, { delta: { case: "pncounter", value: { change: intent.change } } });
    case "gset":
      return create(CrdtDeltaSchema, { delta: { case: "gset", value: { added: intent.add.map((i) => toAny(ELEMENTS[i] as AnyValue)) } } });
    case "orset":
      return create(CrdtDeltaSchema, {
        delta: {
          case: "orset",
          value: {
            cleared: intent.clear,
            removed: intent.remove.map((i) => toAny(ELEMENTS[i] as AnyValue)),
            added: intent.add.map((i) => toAny(ELEMENTS[i] as AnyValue)),
          },
        },
      });
    case "lwwregister":
      return create(CrdtDeltaSchema, {
        delta: { case: "lwwregister", value: { value: toAny(ELEMENTS[intent.value] as AnyValue), clock: intent.clock, customClockValue: intent.custom } },
      });
    case "flag":
      return create(CrdtDeltaSchema, { delta: { case: "flag", value: { value: true } } });
    case "vote":
      return create(CrdtDeltaSchema, { delta: { case: "vote", value: { selfVote: intent.selfVote, votesFor: 99, totalVoters: 99 } } });
    case "ormap": {
      const map = state?.kind === "ormap" ? state : undefined;
      const present = new Set(intent.clear ? [] : [...(map?.entries.keys() ?? [])]);
      const removed: AnyValue[] = [];
      for (const i of new Set(intent.remove)) {
        const key = (MAP_KEYS[i] as (typeof MAP_KEYS)[number]).key;
        if (present.delete(anyKey(key))) removed.push(key);
      }
      const updated: ORMapEntryDelta[] = [];
      const added: ORMapEntryDelta[] = [];
      const touched = new Set<number>();
      for (const { key: i, intent: nested } of [...intent.update, ...intent.add]) {
        if (touched.has(i)) continue;
        touched.add(i);
        const key = (MAP_KEYS[i] as (typeof MAP_KEYS)[number]).key;
        const entry = present.has(anyKey(key)) ? map?.entries.get(anyKey(key)) : undefined;
        const current = entry === undefined ? undefined : entryValue(entry, ops);
        const entryDelta = { key: toAny(key), delta: deltaFor(current, nested, ops) } as ORMapEntryDelta;
        if (current === undefined) added.push(entryDelta);
        else updated.push(entryDelta);
      }
      return create(CrdtDeltaSchema, { delta: { case: "ormap", value: { cleared: intent.clear, removed: removed.map(toAny), updated, added } } });
    }
  }
}

/** A replica with a deterministic clock: every reading is one tick later. */
export function testReplica(nodeId: string, members: readonly string[], clock: { t: bigint }): Replica {
  return {
    nodeId,
    now: () => {
      clock.t += 1n;
      return clock.t;
    },
    members: () => members,
  };
}

/** The canonical bytes of a state ("-" for none), for equality checks. */
export function bytesOf(state: CrdtState | undefined): string {
  return state === undefined ? "-" : Buffer.from(encodeCrdtState(state)).toString("hex");
}

/** Join where either side may not exist yet. */
export function join(a: CrdtState | undefined, b: CrdtState | undefined): CrdtState | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return mergeStates(a, b);
}

/** One step of a multi-replica run: a local change, or one replica merging another's full state. */
export type Step =
  | { readonly kind: "change"; readonly replica: number; readonly intent: Intent }
  | { readonly kind: "merge"; readonly from: number; readonly to: number };

/** Arbitrary schedules over `replicas` replicas of one CRDT type. */
export function scheduleArb(kind: CrdtKind, replicas: number, options: IntentOptions = {}): fc.Arbitrary<Step[]> {
  const change = fc.record({ replica: fc.nat(replicas - 1), intent: intentArb(kind, 2, options) }).map((s): Step => ({ kind: "change", ...s }));
  const merge = fc.record({ from: fc.nat(replicas - 1), to: fc.nat(replicas - 1) }).map((s): Step => ({ kind: "merge", ...s }));
  return fc.array(fc.oneof({ arbitrary: change, weight: 3 }, { arbitrary: merge, weight: 1 }), { maxLength: 25 });
}

/** The outcome of a run: every replica's final state and every delta state produced. */
export interface Run {
  readonly finals: (CrdtState | undefined)[];
  readonly deltas: CrdtState[];
  readonly replicas: readonly Replica[];
}

/** The replicas of a multi-replica run. */
export const NODES = ["node-a", "node-b", "node-c"] as const;

/** Runs a schedule. Every change is shaped as a correct user function would send it, so a rejection is a bug. */
export function runSchedule(steps: readonly Step[], ops: CrdtOps): Run {
  const clock = { t: 1000n };
  const replicas = NODES.map((node) => testReplica(node, NODES, clock));
  const finals: (CrdtState | undefined)[] = NODES.map(() => undefined);
  const deltas: CrdtState[] = [];
  for (const step of steps) {
    if (step.kind === "merge") {
      finals[step.to] = join(finals[step.to], finals[step.from]);
      continue;
    }
    const state = finals[step.replica];
    const applied = applyDelta(state, deltaFor(state, step.intent, ops), replicas[step.replica] as Replica);
    if (applied.kind === "rejected") throw new Error(`valid delta rejected: ${applied.reason}`);
    finals[step.replica] = applied.state;
    deltas.push(applied.delta);
  }
  return { finals, deltas, replicas };
}

/** What the user function would hold: a plain, canonical value (sorted sets and keys). */
export type View = string | boolean | { readonly [key: string]: View } | readonly View[];

const hexOf = (v: AnyValue) => `${v.typeUrl}|${Buffer.from(v.value).toString("hex")}`;

/** The user-visible value of a proxy CRDT. */
export function viewOf(state: CrdtState, replica: Replica, ops: CrdtOps): View {
  switch (state.kind) {
    case "gcounter":
      return `gcounter ${[...state.counts.values()].reduce((a, b) => a + b, 0n)}`;
    case "pncounter":
      return `pncounter ${[...state.increments.values()].reduce((a, b) => a + b, 0n) - [...state.decrements.values()].reduce((a, b) => a + b, 0n)}`;
    case "gset":
      return ["gset", ...[...state.elements.values()].map(hexOf).sort(compareStrings)];
    case "orset":
      return ["orset", ...[...state.entries.values()].map((e) => hexOf(e.value)).sort(compareStrings)];
    case "lwwregister":
      return `lwwregister ${hexOf(state.value)}`;
    case "flag":
      return `flag ${state.enabled}`;
    case "vote": {
      const v = voteView(state, replica);
      return `vote ${v.selfVote} ${v.votesFor} ${v.totalVoters}`;
    }
    case "ormap": {
      const out: Record<string, View> = {};
      for (const key of [...state.entries.keys()].sort(compareStrings)) {
        const entry = state.entries.get(key);
        if (entry) out[hexOf(entry.key)] = viewOf(entryValue(entry, ops), replica, ops);
      }
      return { ormap: out };
    }
  }
}

/**
 * The user function's side, as a reference model: applies a `CrdtDelta` to the value it
 * holds (undefined: none). Independent of the proxy's CRDTs, so it checks their meaning.
 */
export function modelApply(view: View | undefined, d: CrdtDelta, from: "user-function" | "proxy" = "user-function"): View {
  const v = d.delta;
  switch (v.case) {
    case "gcounter":
      return `gcounter ${BigInt(typeof view === "string" ? (view.split(" ")[1] ?? "0") : "0") + v.value.increment}`;
    case "pncounter":
      return `pncounter ${BigInt(typeof view === "string" ? (view.split(" ")[1] ?? "0") : "0") + v.value.change}`;
    case "gset": {
      const set = new Set(Array.isArray(view) ? (view as string[]).slice(1) : []);
      for (const a of v.value.added) set.add(hexOf(a));
      return ["gset", ...[...set].sort(compareStrings)];
    }
    case "orset": {
      let set = new Set(Array.isArray(view) ? (view as string[]).slice(1) : []);
      if (v.value.cleared) set = new Set();
      for (const r of v.value.removed) set.delete(hexOf(r));
      for (const a of v.value.added) set.add(hexOf(a));
      return ["orset", ...[...set].sort(compareStrings)];
    }
    case "lwwregister":
      return `lwwregister ${hexOf(v.value.value ?? { typeUrl: "", value: new Uint8Array() })}`;
    case "flag":
      return `flag ${v.value.value || view === "flag true"}`;
    case "vote": {
      // Like go-support: the proxy's totals are taken as they come in init, and a local vote moves votes_for by one.
      if (view === undefined && from === "proxy") return `vote ${v.value.selfVote} ${v.value.votesFor} ${v.value.totalVoters}`;
      // A new Vote in the user function, on one node: nobody for, one voter.
      const [, self, votesFor, total] = typeof view === "string" ? view.split(" ") : ["vote", "false", "0", "1"];
      const was = self === "true";
      const now = v.value.selfVote;
      return `vote ${now} ${Number(votesFor) + (now === was ? 0 : now ? 1 : -1)} ${total}`;
    }
    case "ormap": {
      const map: Record<string, View> = {
        ...(view !== undefined && typeof view === "object" && !Array.isArray(view) ? ((view as { ormap: Record<string, View> }).ormap ?? {}) : {}),
      };
      if (v.value.cleared) for (const k of Object.keys(map)) delete map[k];
      for (const r of v.value.removed) delete map[hexOf(r)];
      for (const u of v.value.updated) if (u.key && u.delta) map[hexOf(u.key)] = modelApply(map[hexOf(u.key)], u.delta, from);
      for (const a of v.value.added) if (a.key && a.delta) map[hexOf(a.key)] = modelApply(undefined, a.delta, from);
      const sorted: Record<string, View> = {};
      for (const k of Object.keys(map).sort(compareStrings)) sorted[k] = map[k] as View;
      return { ormap: sorted };
    }
    default:
      throw new Error("empty delta");
  }
}
