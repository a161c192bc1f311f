/**
 * Flag: a boolean that can only be switched on.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { CrdtImpl } from "./crdt.js";
import { brand, deltaMismatch } from "./crdt.js";

/**
 * A flag that starts off and, once enabled anywhere, stays on (Cloudstate `Flag`).
 *
 * @example
 * ```ts
 * handlers: {
 *   close(_req, ctx) {
 *     ctx.state.enable();
 *     return { closed: ctx.state.value };
 *   },
 * }
 * ```
 */
export interface Flag {
  readonly kind: "Flag";
  /** Whether the flag is on. */
  readonly value: boolean;
  /**
   * Switches the flag on (no change if it already is).
   *
   * @example
   * ```ts
   * ctx.state.enable();
   * ```
   */
  enable(): void;
}

class FlagImpl implements Flag, CrdtImpl {
  readonly kind = "Flag";
  #value = false;
  #enabled = false;

  get value(): boolean {
    return this.#value;
  }

  enable(): void {
    if (this.#value) return;
    this.#value = true;
    this.#enabled = true;
  }

  delta(): CrdtDelta | undefined {
    return this.#enabled ? this.deltaAsNew() : undefined;
  }

  deltaAsNew(): CrdtDelta {
    return create(CrdtDeltaSchema, { delta: { case: "flag", value: { value: this.#value } } });
  }

  resetDelta(): void {
    this.#enabled = false;
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "flag") throw deltaMismatch(this.kind, delta);
    this.#value ||= delta.delta.value.value;
  }

  snapshot(): () => void {
    const value = this.#value;
    const enabled = this.#enabled;
    return () => {
      this.#value = value;
      this.#enabled = enabled;
    };
  }
}

/**
 * A new Flag, off.
 *
 * @example
 * ```ts
 * crdtEntity({ service: Feature, crdt: () => createFlag(), handlers });
 * ```
 */
export function createFlag(): Flag {
  return brand(new FlagImpl());
}
