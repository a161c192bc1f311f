/**
 * GCounter: a grow-only counter.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { CrdtImpl } from "./crdt.js";
import { brand, checkUint64, deltaMismatch, toBigInt } from "./crdt.js";

/**
 * A grow-only counter (Cloudstate `GCounter`, an uint64). Replicas only add; the value is the sum
 * of every replica's increments.
 *
 * @example
 * ```ts
 * const visits = crdtEntity({
 *   service: VisitCounter,
 *   crdt: "GCounter",
 *   handlers: {
 *     visit(_req, ctx) {
 *       ctx.state.increment(1);
 *       return { total: ctx.state.value };
 *     },
 *   },
 * });
 * ```
 */
export interface GCounter {
  readonly kind: "GCounter";
  /** The current value. */
  readonly value: bigint;
  /**
   * Adds `by` (zero or more) to the counter.
   *
   * @example
   * ```ts
   * ctx.state.increment(req.amount);
   * ```
   */
  increment(by: bigint | number): void;
}

class GCounterImpl implements GCounter, CrdtImpl {
  readonly kind = "GCounter";
  #value = 0n;
  #increment = 0n;

  get value(): bigint {
    return this.#value;
  }

  increment(by: bigint | number): void {
    const n = toBigInt(by, "GCounter.increment()");
    if (n < 0n) throw new RangeError(`GCounter.increment(): a GCounter only grows, got ${n}`);
    this.#value = checkUint64(this.#value + n, "the GCounter value");
    this.#increment += n;
  }

  delta(): CrdtDelta | undefined {
    return this.#increment === 0n ? undefined : this.deltaAsNew();
  }

  deltaAsNew(): CrdtDelta {
    return create(CrdtDeltaSchema, { delta: { case: "gcounter", value: { increment: this.#increment } } });
  }

  resetDelta(): void {
    this.#increment = 0n;
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "gcounter") throw deltaMismatch(this.kind, delta);
    this.#value = checkUint64(this.#value + delta.delta.value.increment, "the GCounter value");
  }

  snapshot(): () => void {
    const value = this.#value;
    const increment = this.#increment;
    return () => {
      this.#value = value;
      this.#increment = increment;
    };
  }
}

/**
 * A new GCounter at zero.
 *
 * @example
 * ```ts
 * crdtEntity({ service: Visits, crdt: () => createGCounter(), handlers });
 * ```
 */
export function createGCounter(): GCounter {
  return brand(new GCounterImpl());
}
