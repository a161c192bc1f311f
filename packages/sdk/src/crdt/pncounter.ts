/**
 * PNCounter: a counter that goes up and down.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { CrdtImpl } from "./crdt.js";
import { brand, checkInt64, deltaMismatch, toBigInt } from "./crdt.js";

/**
 * A counter that can be incremented and decremented (Cloudstate `PNCounter`, an int64).
 *
 * @example
 * ```ts
 * handlers: {
 *   change(req, ctx) {
 *     ctx.state.increment(req.delta); // negative to decrement
 *     return { value: ctx.state.value };
 *   },
 * }
 * ```
 */
export interface PNCounter {
  readonly kind: "PNCounter";
  /** The current value. */
  readonly value: bigint;
  /**
   * Adds `by` (negative to subtract).
   *
   * @example
   * ```ts
   * ctx.state.increment(5);
   * ```
   */
  increment(by: bigint | number): void;
  /**
   * Subtracts `by` (negative to add).
   *
   * @example
   * ```ts
   * ctx.state.decrement(2n);
   * ```
   */
  decrement(by: bigint | number): void;
}

class PNCounterImpl implements PNCounter, CrdtImpl {
  readonly kind = "PNCounter";
  #value = 0n;
  #change = 0n;

  get value(): bigint {
    return this.#value;
  }

  increment(by: bigint | number): void {
    this.#add(toBigInt(by, "PNCounter.increment()"));
  }

  decrement(by: bigint | number): void {
    this.#add(-toBigInt(by, "PNCounter.decrement()"));
  }

  #add(n: bigint): void {
    this.#value = checkInt64(this.#value + n, "the PNCounter value");
    this.#change += n;
  }

  delta(): CrdtDelta | undefined {
    return this.#change === 0n ? undefined : this.deltaAsNew();
  }

  deltaAsNew(): CrdtDelta {
    return create(CrdtDeltaSchema, { delta: { case: "pncounter", value: { change: this.#change } } });
  }

  resetDelta(): void {
    this.#change = 0n;
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "pncounter") throw deltaMismatch(this.kind, delta);
    this.#value = checkInt64(this.#value + delta.delta.value.change, "the PNCounter value");
  }

  snapshot(): () => void {
    const value = this.#value;
    const change = this.#change;
    return () => {
      this.#value = value;
      this.#change = change;
    };
  }
}

/**
 * A new PNCounter at zero.
 *
 * @example
 * ```ts
 * crdtEntity({ service: Likes, crdt: () => createPNCounter(), handlers });
 * ```
 */
export function createPNCounter(): PNCounter {
  return brand(new PNCounterImpl());
}
