/**
 * GSet: a grow-only set.
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

/**
 * A grow-only set (Cloudstate `GSet`): elements can be added, never removed. Elements are
 * compared by their encoding with the set's codec.
 *
 * @example
 * ```ts
 * const tags = crdtEntity({
 *   service: Tags,
 *   crdt: () => createGSet(codecs.string),
 *   handlers: {
 *     tag(req, ctx) {
 *       ctx.state.add(req.tag);
 *       return { tags: ctx.state.values() };
 *     },
 *   },
 * });
 * ```
 */
export interface GSet<T> {
  readonly kind: "GSet";
  /** The number of elements. */
  readonly size: number;
  /** Whether `value` is in the set. */
  has(value: T): boolean;
  /**
   * Adds `value` (no change if it is there already).
   *
   * @example
   * ```ts
   * ctx.state.add("blue").add("green");
   * ```
   */
  add(value: T): this;
  /** The elements, in the order they arrived. */
  values(): T[];
  [Symbol.iterator](): IterableIterator<T>;
}

/** An element: its value and its encoding. */
export interface Element<T> {
  readonly value: T;
  readonly any: Any;
}

class GSetImpl<T> implements GSet<T>, CrdtImpl {
  readonly kind = "GSet";
  readonly #codec: ValueCodec<T>;
  #elements = new Map<string, Element<T>>();
  #added = new Map<string, Any>();

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
    if (!this.#elements.has(key)) {
      this.#elements.set(key, { value, any });
      this.#added.set(key, any);
    }
    return this;
  }

  values(): T[] {
    return [...this.#elements.values()].map((e) => e.value);
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.values()[Symbol.iterator]();
  }

  delta(): CrdtDelta | undefined {
    return this.#added.size === 0 ? undefined : this.deltaAsNew();
  }

  deltaAsNew(): CrdtDelta {
    return create(CrdtDeltaSchema, { delta: { case: "gset", value: { added: [...this.#added.values()] } } });
  }

  resetDelta(): void {
    this.#added = new Map();
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "gset") throw deltaMismatch(this.kind, delta);
    // Decode first, so a delta the codec cannot read changes nothing.
    const decoded = delta.delta.value.added.map((any) => [anyKey(any), { value: this.#codec.decode(any), any }] as const);
    for (const [key, element] of decoded) {
      if (!this.#elements.has(key)) this.#elements.set(key, element);
    }
  }

  snapshot(): () => void {
    const elements = new Map(this.#elements);
    const added = new Map(this.#added);
    return () => {
      this.#elements = elements;
      this.#added = added;
    };
  }
}

/**
 * A new, empty GSet whose elements travel with `codec` (default: `codecs.any`, raw `Any`s).
 *
 * @example
 * ```ts
 * crdtEntity({ service: Tags, crdt: () => createGSet(codecs.string), handlers });
 * ```
 */
export function createGSet<T = Any>(codec?: ValueCodec<T>): GSet<T> {
  return brand(new GSetImpl<T>(codec ?? (codecs.any as unknown as ValueCodec<T>)));
}
