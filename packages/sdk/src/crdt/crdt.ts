/**
 * What all CRDTs share: the public {@link Crdt} union, and the internal side the entity runtime
 * drives (deltas, snapshots for rollback).
 *
 * In the Cloudstate CRDT protocol the proxy owns the real, replicated CRDT; the user function
 * holds its current value and exchanges deltas with the proxy (docs/protocol.md#crdt-entities). So each CRDT here
 * records the local changes made since the last reply as one coalesced delta, and applies the
 * deltas the proxy sends without recording them.
 *
 * @module
 */
import type { CrdtDelta } from "@switchboard/protocol";
import type { Flag } from "./flag.js";
import type { GCounter } from "./gcounter.js";
import type { GSet } from "./gset.js";
import type { LWWRegister } from "./lww-register.js";
import type { ORMap } from "./ormap.js";
import type { ORSet } from "./orset.js";
import type { PNCounter } from "./pncounter.js";
import type { Vote } from "./vote.js";

/**
 * The eight Cloudstate CRDT types, by name: what the `crdt` option of `crdtEntity` takes.
 *
 * @example
 * ```ts
 * const kinds = CRDT_KINDS.join(", "); // "GCounter, PNCounter, GSet, ORSet, LWWRegister, Flag, ORMap, Vote"
 * ```
 */
export const CRDT_KINDS = ["GCounter", "PNCounter", "GSet", "ORSet", "LWWRegister", "Flag", "ORMap", "Vote"] as const;

/** The name of a CRDT type: the `kind` of its objects. */
export type CrdtKind = (typeof CRDT_KINDS)[number];

/**
 * Any CRDT. Switch on `kind` to narrow it.
 *
 * @example
 * ```ts
 * function describe(crdt: Crdt): string {
 *   switch (crdt.kind) {
 *     case "GCounter":
 *     case "PNCounter":
 *       return String(crdt.value);
 *     case "Flag":
 *       return crdt.value ? "on" : "off";
 *     default:
 *       return crdt.kind;
 *   }
 * }
 * ```
 */
export type Crdt = GCounter | PNCounter | GSet<unknown> | ORSet<unknown> | LWWRegister<unknown> | Flag | ORMap<unknown> | Vote;

/** The `CrdtDelta.delta` oneof case of each kind. */
export const DELTA_CASE = {
  GCounter: "gcounter",
  PNCounter: "pncounter",
  GSet: "gset",
  ORSet: "orset",
  LWWRegister: "lwwregister",
  Flag: "flag",
  ORMap: "ormap",
  Vote: "vote",
} as const satisfies Record<CrdtKind, NonNullable<CrdtDelta["delta"]["case"]>>;

/** The kind whose delta case is `deltaCase`. */
export function kindOfDelta(delta: CrdtDelta): CrdtKind | undefined {
  return CRDT_KINDS.find((kind) => DELTA_CASE[kind] === delta.delta.case);
}

/**
 * The side of a CRDT the SDK drives. Every CRDT made by the `create…` functions implements it;
 * handlers never see it.
 *
 * @internal
 */
export interface CrdtImpl {
  readonly kind: CrdtKind;
  /** The local changes since the last {@link resetDelta}, as one delta; `undefined` when nothing changed. */
  delta(): CrdtDelta | undefined;
  /**
   * The delta announcing this CRDT as a new ORMap value: its changes, or the empty delta of its
   * type when it has none (e.g. `increment: 0`), so the proxy learns the value's type.
   */
  deltaAsNew(): CrdtDelta;
  /** Forgets the local changes (they were sent). */
  resetDelta(): void;
  /**
   * Merges a delta from the proxy, without recording it as a local change. Throws a TypeError
   * when the delta is of another CRDT type or holds values the CRDT's codec cannot read.
   */
  applyDelta(delta: CrdtDelta): void;
  /** Captures the value and the pending changes; the function returned puts them back. */
  snapshot(): () => void;
}

/** Registered symbol marking the SDK's CRDT objects, also across two copies of the SDK. */
export const CRDT_IMPL = Symbol.for("@switchboard/sdk/Crdt");

/** Marks `impl` as a CRDT object of the SDK. */
export function brand<T extends CrdtImpl>(impl: T): T {
  Object.defineProperty(impl, CRDT_IMPL, { value: true });
  return impl;
}

/**
 * Whether `value` is a CRDT made by this SDK's `create…` functions.
 *
 * @example
 * ```ts
 * isCrdt(createGCounter()); // true
 * isCrdt({ kind: "GCounter" }); // false
 * ```
 */
export function isCrdt(value: unknown): value is Crdt {
  return typeof value === "object" && value !== null && (value as Partial<Record<symbol, unknown>>)[CRDT_IMPL] === true;
}

/** The driven side of `crdt`. Throws a TypeError for an object the SDK did not make. */
export function implOf(crdt: unknown): CrdtImpl {
  if (!isCrdt(crdt)) {
    throw new TypeError(`${describeValue(crdt)} is not a CRDT; make one with createGCounter(), createORSet(codec), ...`);
  }
  return crdt as unknown as CrdtImpl;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return `an object (${Object.prototype.toString.call(value)})`;
  return `a ${typeof value}`;
}

/** A TypeError for a delta of the wrong type. */
export function deltaMismatch(kind: CrdtKind, delta: CrdtDelta): TypeError {
  return new TypeError(`a ${kind} cannot apply a ${delta.delta.case ?? "empty"} delta`);
}

const MAX_UINT64 = (1n << 64n) - 1n;
const MIN_INT64 = -(1n << 63n);
const MAX_INT64 = (1n << 63n) - 1n;

/** `value` as a bigint, checking it is an integer. */
export function toBigInt(value: bigint | number, what: string): bigint {
  if (typeof value === "bigint") return value;
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be an integer (a bigint, or a safe integer number), got ${value}`);
  return BigInt(value);
}

/** Checks `value` fits an uint64. */
export function checkUint64(value: bigint, what: string): bigint {
  if (value < 0n || value > MAX_UINT64) throw new RangeError(`${what} is out of the uint64 range: ${value}`);
  return value;
}

/** Checks `value` fits an int64. */
export function checkInt64(value: bigint, what: string): bigint {
  if (value < MIN_INT64 || value > MAX_INT64) throw new RangeError(`${what} is out of the int64 range: ${value}`);
  return value;
}
