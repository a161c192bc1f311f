/**
 * LWWRegister: a last-write-wins register.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtClock, CrdtDeltaSchema } from "@switchboard/protocol";
import type { ValueCodec } from "../serde/codecs.js";
import { codecs } from "../serde/codecs.js";
import type { CrdtImpl } from "./crdt.js";
import { brand, checkInt64, deltaMismatch, toBigInt } from "./crdt.js";

/** Options of {@link LWWRegister.set}: which clock orders the write. */
export interface LWWRegisterSetOptions {
  /**
   * `CrdtClock.DEFAULT` (the proxy's wall clock, the default), `REVERSE` (first write wins),
   * `CUSTOM` (`customClockValue` orders writes) or `CUSTOM_AUTO_INCREMENT` (as `CUSTOM`, bumped
   * when it would not advance).
   */
  clock?: CrdtClock;
  /** The clock value for `CUSTOM` and `CUSTOM_AUTO_INCREMENT`. */
  customClockValue?: bigint | number;
}

/**
 * A last-write-wins register (Cloudstate `LWWRegister`): one value; of concurrent writes, the one
 * with the latest clock wins. The value travels with the register's codec.
 *
 * @example
 * ```ts
 * const topic = crdtEntity({
 *   service: Topic,
 *   crdt: () => createLWWRegister(codecs.string, ""),
 *   handlers: {
 *     setTopic(req, ctx) {
 *       ctx.state.set(req.topic);
 *       return { topic: ctx.state.value ?? "" };
 *     },
 *   },
 * });
 * ```
 */
export interface LWWRegister<T> {
  readonly kind: "LWWRegister";
  /** The current value; `undefined` while nothing was written. */
  readonly value: T | undefined;
  /**
   * Writes `value`. Every write is sent to the proxy, even of an equal value, since its clock may
   * matter.
   *
   * @example
   * ```ts
   * ctx.state.set("hello");
   * ctx.state.set("v2", { clock: CrdtClock.CUSTOM, customClockValue: req.version });
   * ```
   */
  set(value: T, options?: LWWRegisterSetOptions): void;
}

interface Write {
  readonly any: Any;
  readonly clock: CrdtClock;
  readonly customClockValue: bigint;
}

class LWWRegisterImpl<T> implements LWWRegister<T>, CrdtImpl {
  readonly kind = "LWWRegister";
  readonly #codec: ValueCodec<T>;
  #value: { readonly value: T; readonly any: Any } | undefined;
  #write: Write | undefined;

  constructor(codec: ValueCodec<T>) {
    this.#codec = codec;
  }

  get value(): T | undefined {
    return this.#value?.value;
  }

  set(value: T, options: LWWRegisterSetOptions = {}): void {
    const clock = options.clock ?? CrdtClock.DEFAULT;
    if (CrdtClock[clock] === undefined) throw new RangeError(`LWWRegister.set(): unknown clock ${clock}`);
    const custom = checkInt64(toBigInt(options.customClockValue ?? 0n, "LWWRegister.set() customClockValue"), "customClockValue");
    if (custom !== 0n && clock !== CrdtClock.CUSTOM && clock !== CrdtClock.CUSTOM_AUTO_INCREMENT) {
      throw new RangeError("LWWRegister.set(): customClockValue needs clock CrdtClock.CUSTOM or CUSTOM_AUTO_INCREMENT");
    }
    const any = this.#codec.encode(value);
    this.#value = { value, any };
    this.#write = { any, clock, customClockValue: custom };
  }

  delta(): CrdtDelta | undefined {
    return this.#write === undefined ? undefined : this.deltaAsNew();
  }

  deltaAsNew(): CrdtDelta {
    const write = this.#write;
    if (write === undefined) {
      return create(CrdtDeltaSchema, { delta: { case: "lwwregister", value: this.#value === undefined ? {} : { value: this.#value.any } } });
    }
    return create(CrdtDeltaSchema, {
      delta: { case: "lwwregister", value: { value: write.any, clock: write.clock, customClockValue: write.customClockValue } },
    });
  }

  resetDelta(): void {
    this.#write = undefined;
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "lwwregister") throw deltaMismatch(this.kind, delta);
    const any = delta.delta.value.value;
    this.#value = any === undefined ? undefined : { value: this.#codec.decode(any), any };
  }

  snapshot(): () => void {
    const value = this.#value;
    const write = this.#write;
    return () => {
      this.#value = value;
      this.#write = write;
    };
  }
}

/**
 * A new LWWRegister whose value travels with `codec` (default: `codecs.any`, raw `Any`s).
 *
 * With `initial`, the register starts with that value as a write of this user function (with
 * the default clock), sent with the first reply, so the proxy holds the same value.
 *
 * @example
 * ```ts
 * crdtEntity({ service: Topic, crdt: () => createLWWRegister(codecs.string, ""), handlers });
 * ```
 */
export function createLWWRegister<T = Any>(codec?: ValueCodec<T>, ...initial: [] | [T]): LWWRegister<T> {
  const register = brand(new LWWRegisterImpl<T>(codec ?? (codecs.any as unknown as ValueCodec<T>)));
  if (initial.length === 1) register.set(initial[0]);
  return register;
}
