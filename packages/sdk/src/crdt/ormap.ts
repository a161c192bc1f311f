/**
 * ORMap: an observed-remove map whose values are CRDTs.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { ValueCodec } from "../serde/codecs.js";
import { anyKey, codecs } from "../serde/codecs.js";
import { createCrdtForDelta } from "./create-crdt.js";
import type { Crdt, CrdtImpl } from "./crdt.js";
import { brand, deltaMismatch, implOf, kindOfDelta } from "./crdt.js";

/**
 * An observed-remove map (Cloudstate `ORMap`): keys (compared by their encoding with the map's
 * codec) map to CRDT values, of any type and nested to any depth. Changing a value in place
 * (`map.get(k).increment(1)`) is a change of the map.
 *
 * Values the proxy adds hold raw `Any`s (`codecs.any`), since their element types are not known
 * here; narrow them with `kind`.
 *
 * @example
 * ```ts
 * const scores = crdtEntity({
 *   service: Scores,
 *   crdt: () => createORMap(codecs.string),
 *   handlers: {
 *     score(req, ctx) {
 *       const counter = ctx.state.getOrCreate(req.player, () => createPNCounter());
 *       if (counter.kind === "PNCounter") counter.increment(req.points);
 *       return {};
 *     },
 *   },
 * });
 * ```
 */
export interface ORMap<K, V extends Crdt = Crdt> {
  readonly kind: "ORMap";
  /** The number of entries. */
  readonly size: number;
  /** Whether `key` has a value. */
  has(key: K): boolean;
  /** The value of `key`, or `undefined`. */
  get(key: K): V | undefined;
  /**
   * The value of `key`, first setting it to `create()` if there is none.
   *
   * @example
   * ```ts
   * const votes = ctx.state.getOrCreate("option-a", () => createGCounter());
   * ```
   */
  getOrCreate(key: K, create: () => V): V;
  /**
   * Sets the value of `key` to `value`, a new CRDT (made with a `create…` function); a value it
   * replaces is removed.
   *
   * @example
   * ```ts
   * ctx.state.set("title", createLWWRegister(codecs.string, "untitled"));
   * ```
   */
  set(key: K, value: V): this;
  /**
   * Removes `key` and its value (no change if there is none).
   *
   * @example
   * ```ts
   * ctx.state.remove("option-a");
   * ```
   */
  remove(key: K): this;
  /**
   * Removes every entry.
   *
   * @example
   * ```ts
   * ctx.state.clear();
   * ```
   */
  clear(): void;
  /** The keys, in the order they arrived. */
  keys(): K[];
  /** The values, in key order. */
  values(): V[];
  /** The entries, in key order. */
  entries(): [K, V][];
  [Symbol.iterator](): IterableIterator<[K, V]>;
}

interface Entry<K, V> {
  readonly key: K;
  readonly keyAny: Any;
  readonly value: V;
}

class ORMapImpl<K, V extends Crdt> implements ORMap<K, V>, CrdtImpl {
  readonly kind = "ORMap";
  readonly #codec: ValueCodec<K>;
  #entries = new Map<string, Entry<K, V>>();
  // The net change since the last reply; values changed in place are found at delta() time.
  #cleared = false;
  #removed = new Map<string, Any>();
  #added = new Set<string>();

  constructor(codec: ValueCodec<K>) {
    this.#codec = codec;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(key: K): boolean {
    return this.#entries.has(anyKey(this.#codec.encode(key)));
  }

  get(key: K): V | undefined {
    return this.#entries.get(anyKey(this.#codec.encode(key)))?.value;
  }

  getOrCreate(key: K, make: () => V): V {
    const existing = this.get(key);
    if (existing !== undefined) return existing;
    const value = make();
    this.set(key, value);
    return value;
  }

  set(key: K, value: V): this {
    implOf(value);
    const keyAny = this.#codec.encode(key);
    const k = anyKey(keyAny);
    const existing = this.#entries.get(k);
    if (existing?.value === value) return this;
    if (existing !== undefined && !this.#added.has(k)) {
      // A replaced value is a removal of the old one, then an addition of the new one.
      this.#removed.set(k, existing.keyAny);
    }
    this.#entries.set(k, { key, keyAny, value });
    this.#added.add(k);
    return this;
  }

  remove(key: K): this {
    const keyAny = this.#codec.encode(key);
    const k = anyKey(keyAny);
    if (!this.#entries.delete(k)) return this;
    // Added then removed in the same delta: it was not there before, so nothing changed.
    if (!this.#added.delete(k)) this.#removed.set(k, keyAny);
    return this;
  }

  clear(): void {
    this.#entries = new Map();
    this.#removed = new Map();
    this.#added = new Set();
    this.#cleared = true;
  }

  keys(): K[] {
    return [...this.#entries.values()].map((e) => e.key);
  }

  values(): V[] {
    return [...this.#entries.values()].map((e) => e.value);
  }

  entries(): [K, V][] {
    return [...this.#entries.values()].map((e) => [e.key, e.value]);
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries()[Symbol.iterator]();
  }

  #deltaParts(): { updated: { key: Any; delta: CrdtDelta }[]; added: { key: Any; delta: CrdtDelta }[] } {
    const updated: { key: Any; delta: CrdtDelta }[] = [];
    const added: { key: Any; delta: CrdtDelta }[] = [];
    for (const [k, entry] of this.#entries) {
      const impl = implOf(entry.value);
      if (this.#added.has(k)) {
        added.push({ key: entry.keyAny, delta: impl.deltaAsNew() });
      } else {
        const delta = impl.delta();
        if (delta !== undefined) updated.push({ key: entry.keyAny, delta });
      }
    }
    return { updated, added };
  }

  delta(): CrdtDelta | undefined {
    const { updated, added } = this.#deltaParts();
    if (!this.#cleared && this.#removed.size === 0 && updated.length === 0 && added.length === 0) return undefined;
    return create(CrdtDeltaSchema, { delta: { case: "ormap", value: { cleared: this.#cleared, removed: [...this.#removed.values()], updated, added } } });
  }

  deltaAsNew(): CrdtDelta {
    return this.delta() ?? create(CrdtDeltaSchema, { delta: { case: "ormap", value: {} } });
  }

  resetDelta(): void {
    this.#cleared = false;
    this.#removed = new Map();
    this.#added = new Set();
    for (const entry of this.#entries.values()) implOf(entry.value).resetDelta();
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "ormap") throw deltaMismatch(this.kind, delta);
    const { cleared, removed, updated, added } = delta.delta.value;
    if (cleared) this.#entries.clear();
    for (const keyAny of removed) this.#entries.delete(anyKey(keyAny));
    for (const entry of [...updated, ...added]) {
      if (entry.key === undefined || entry.delta === undefined) throw new TypeError("an ORMap delta entry has no key or no delta");
      const k = anyKey(entry.key);
      const existing = this.#entries.get(k);
      if (existing !== undefined && existing.value.kind === kindOfDelta(entry.delta)) {
        implOf(existing.value).applyDelta(entry.delta);
      } else {
        const value = createCrdtForDelta(entry.delta) as V;
        this.#entries.set(k, { key: this.#codec.decode(entry.key), keyAny: entry.key, value });
      }
    }
  }

  snapshot(): () => void {
    const entries = new Map(this.#entries);
    const restoreValues = [...entries.values()].map((e) => implOf(e.value).snapshot());
    const cleared = this.#cleared;
    const removed = new Map(this.#removed);
    const added = new Set(this.#added);
    return () => {
      this.#entries = entries;
      for (const restore of restoreValues) restore();
      this.#cleared = cleared;
      this.#removed = removed;
      this.#added = added;
    };
  }
}

/**
 * A new, empty ORMap whose keys travel with `codec` (default: `codecs.any`, raw `Any`s).
 *
 * @example
 * ```ts
 * crdtEntity({ service: Scores, crdt: () => createORMap(codecs.string), handlers });
 * ```
 */
export function createORMap<K = Any, V extends Crdt = Crdt>(codec?: ValueCodec<K>): ORMap<K, V> {
  return brand(new ORMapImpl<K, V>(codec ?? (codecs.any as unknown as ValueCodec<K>)));
}
