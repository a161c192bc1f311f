/**
 * ORSet: an observed-remove set.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { ValueCodec } from "../serde/codecs.js";
import { anyKey, codecs } from "../serde/codecs.js";
import type { CrdtImpl } from "./crdt.js";
import { brand, deltaMismatch } from "./crdt.js";
import type { Element } from "./gset.js";

/**
 * An observed-remove set (Cloudstate `ORSet`): elements can be added and removed; a concurrent
 * add wins over a remove. Elements are compared by their encoding with the set's codec.
 *
 * @example
 * ```ts
 * const room = crdtEntity({
 *   service: ChatRoom,
 *   crdt: () => createORSet(codecs.string),
 *   handlers: {
 *     join(req, ctx) {
 *       ctx.state.add(req.user);
 *       return {};
 *     },
 *     leave(req, ctx) {
 *       ctx.state.remove(req.user);
 *       return {};
 *     },
 *   },
 * });
 * ```
 */
export interface ORSet<T> {
  readonly kind: "ORSet";
  /** The number of elements. */
  readonly size: number;
  /** Whether `value` is in the set. */
  has(value: T): boolean;
  /**
   * Adds `value` (no change if it is there already).
   *
   * @example
   * ```ts
   * ctx.state.add("alice");
   * ```
   */
  add(value: T): this;
  /**
   * Removes `value` (no change if it is not there).
   *
   * @example
   * ```ts
   * ctx.state.remove("alice");
   * ```
   */
  remove(value: T): this;
  /**
   * Removes every element.
   *
   * @example
   * ```ts
   * ctx.state.clear();
   * ```
   */
  clear(): void;
  /** The elements, in the order they arrived. */
  values(): T[];
  [Symbol.iterator](): IterableIterator<T>;
}

class ORSetImpl<T> implements ORSet<T>, CrdtImpl {
  readonly kind = "ORSet";
  readonly #codec: ValueCodec<T>;
  #elements = new Map<string, Element<T>>();
  // The net change since the last reply, relative to the value then (or to the empty set once cleared).
  #cleared = false;
  #added = new Map<string, Any>();
  #removed = new Map<string, Any>();

  constructor(codec: ValueCodec<T>) {
    this.#codec = codec;
  }

  get size(): number {
    return this.#elements.size;
  }

  has(value: T): boolean {
    return this.#elements.has(anyKey(this.#codec.encode(value)));
  }

  add(value: T): this {
    const any = this.#codec.encode(value);
    const key = anyKey(any);
    if (this.#elements.has(key)) return this;
    this.#elements.set(key, { value, any });
    // Removed then added back in the same delta: it was there before, so nothing changed.
    if (!this.#removed.delete(key)) this.#added.set(key, any);
    return this;
  }

  remove(value: T): this {
    const any = this.#codec.encode(value);
    const key = anyKey(any);
    if (!this.#elements.delete(key)) return this;
    // Added then removed in the same delta: it was not there before, so nothing changed.
    if (!this.#added.delete(key)) this.#removed.set(key, any);
    return this;
  }

  clear(): void {
    this.#elements = new Map();
    this.#added = new Map();
    this.#removed = new Map();
    this.#cleared = true;
  }

  values(): T[] {
    return [...this.#elements.values()].map((e) => e.value);
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.values()[Symbol.iterator]();
  }

  delta(): CrdtDelta | undefined {
    return this.#cleared || this.#added.size > 0 || this.#removed.size > 0 ? this.deltaAsNew() : undefined;
  }

  deltaAsNew(): CrdtDelta {
    return create(CrdtDeltaSchema, {
      delta: { case: "orset", value: { cleared: this.#cleared, removed: [...this.#removed.values()], added: [...this.#added.values()] } },
    });
  }

  resetDelta(): void {
    this.#cleared = false;
    this.#added = new Map();
    this.#removed = new Map();
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "orset") throw deltaMismatch(this.kind, delta);
    const { cleared, removed, added } = delta.delta.value;
    // Decode first, so a delta the codec cannot read changes nothing.
    const decoded = added.map((any) => [anyKey(any), { value: this.#codec.decode(any), any }] as const);
    if (cleared) this.#elements.clear();
    for (const any of removed) this.#elements.delete(anyKey(any));
    for (const [key, element] of decoded) {
      if (!this.#elements.has(key)) this.#elements.set(key, element);
    }
  }

  snapshot(): () => void {
    const elements = new Map(this.#elements);
    const cleared = this.#cleared;
    const added = new Map(this.#added);
    const removed = new Map(this.#removed);
    return () => {
      this.#elements = elements;
      this.#cleared = cleared;
      this.#added = added;
      this.#removed = removed;
    };
  }
}

/**
 * A new, empty ORSet whose elements travel with `codec` (default: `codecs.any`, raw `Any`s).
 *
 * @example
 * ```ts
 * crdtEntity({ service: ChatRoom, crdt: () => createORSet(codecs.string), handlers });
 * ```
 */
export function createORSet<T = Any>(codec?: ValueCodec<T>): ORSet<T> {
  return brand(new ORSetImpl<T>(codec ?? (codecs.any as unknown as ValueCodec<T>)));
}
