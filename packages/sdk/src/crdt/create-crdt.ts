/**
 * Making CRDTs by type name, or from a delta.
 *
 * @module
 */
import type { CrdtDelta } from "@switchboard/protocol";
import type { Crdt, CrdtImpl, CrdtKind } from "./crdt.js";
import { implOf, kindOfDelta } from "./crdt.js";
import { createFlag } from "./flag.js";
import { createGCounter } from "./gcounter.js";
import { createGSet } from "./gset.js";
import { createLWWRegister } from "./lww-register.js";
import { createORMap } from "./ormap.js";
import { createORSet } from "./orset.js";
import { createPNCounter } from "./pncounter.js";
import { createVote } from "./vote.js";

/** The CRDT type of each name, with raw `Any` elements, keys and values. */
export interface CrdtOfKind {
  GCounter: ReturnType<typeof createGCounter>;
  PNCounter: ReturnType<typeof createPNCounter>;
  GSet: ReturnType<typeof createGSet>;
  ORSet: ReturnType<typeof createORSet>;
  LWWRegister: ReturnType<typeof createLWWRegister>;
  Flag: ReturnType<typeof createFlag>;
  ORMap: ReturnType<typeof createORMap>;
  Vote: ReturnType<typeof createVote>;
}

/**
 * A new, empty CRDT of type `kind`; sets, registers and maps hold raw `Any`s (`codecs.any`).
 *
 * @example
 * ```ts
 * const counter = createCrdt("PNCounter");
 * counter.increment(2);
 * ```
 */
export function createCrdt<K extends CrdtKind>(kind: K): CrdtOfKind[K] {
  const make: { [P in CrdtKind]: () => CrdtOfKind[P] } = {
    GCounter: createGCounter,
    PNCounter: createPNCounter,
    GSet: () => createGSet(),
    ORSet: () => createORSet(),
    LWWRegister: () => createLWWRegister(),
    Flag: createFlag,
    ORMap: () => createORMap(),
    Vote: createVote,
  };
  const factory = make[kind];
  if (factory === undefined) throw new TypeError(`unknown CRDT type "${String(kind)}"`);
  return factory();
}

/** A CRDT of the delta's type holding what the delta says, with no pending change. */
export function createCrdtForDelta(delta: CrdtDelta): Crdt {
  const kind = kindOfDelta(delta);
  if (kind === undefined) throw new TypeError("an empty CRDT delta has no CRDT type");
  const crdt = createCrdt(kind);
  const impl: CrdtImpl = implOf(crdt);
  impl.applyDelta(delta);
  return crdt;
}
