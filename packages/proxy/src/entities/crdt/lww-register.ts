import { create } from "@bufbuild/protobuf";
import { CrdtClock, type CrdtDelta, CrdtDeltaSchema, type LWWRegisterDelta } from "@switchboard/protocol";
import type { AnyValue } from "../../store/types.js";
import { compareAny, compareStrings, fromAny, toAny } from "./any-key.js";
import type { Applied, Replica } from "./state.js";

/**
 * Last-writer-wins register: the value with the timestamp its clock gave it and the node
 * that wrote it. The merge keeps the greater (timestamp, node, value) triple, so ties
 * between nodes resolve the same way everywhere.
 */
export interface LWWRegisterState {
  readonly kind: "lwwregister";
  readonly value: AnyValue;
  readonly timestamp: bigint;
  readonly node: string;
}

function compareRegisters(a: LWWRegisterState, b: LWWRegisterState): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return compareStrings(a.node, b.node) || compareAny(a.value, b.value);
}

/**
 * The timestamp a write gets, as the reference proxy's clocks give it (Akka's
 * `LWWRegister.defaultClock` / `reverseClock` and Cloudstate's `CustomClock`):
 * DEFAULT is the wall clock, but always past the current timestamp; REVERSE is the
 * negated wall clock, always before it (the first write wins a merge); CUSTOM is the
 * given value; CUSTOM_AUTO_INCREMENT is the given value, or current + 1 if that is not
 * greater. `current` is undefined for a new register. Unknown clocks count as DEFAULT.
 */
export function clockTimestamp(clock: CrdtClock, custom: bigint, current: bigint | undefined, now: bigint): bigint {
  switch (clock) {
    case CrdtClock.REVERSE:
      return current !== undefined && current <= -now ? current - 1n : -now;
    case CrdtClock.CUSTOM:
      return custom;
    case CrdtClock.CUSTOM_AUTO_INCREMENT:
      return current !== undefined && custom <= current ? current + 1n : custom;
    default:
      return current !== undefined && current >= now ? current + 1n : now;
  }
}

/**
 * Writes `LWWRegisterDelta.value` (absent: the empty Any, as the reference proxy does).
 * Like the reference, the write always takes effect on this replica, so the proxy's
 * value stays the user function's. With DEFAULT and CUSTOM_AUTO_INCREMENT clocks the
 * write is an inflation; a REVERSE write, or a CUSTOM one below the current timestamp,
 * is not, and a merge with an older copy brings the greater timestamp back: that is
 * what those clocks mean across nodes (first write wins, highest version wins).
 */
export function applyLWWRegister(state: LWWRegisterState | undefined, delta: LWWRegisterDelta, replica: Replica): Applied<LWWRegisterState> {
  const timestamp = clockTimestamp(delta.clock, delta.customClockValue, state?.timestamp, replica.now());
  const next: LWWRegisterState = { kind: "lwwregister", value: fromAny(delta.value), timestamp, node: replica.nodeId };
  return { kind: "applied", state: next, delta: next };
}

/** Join of two registers: the greater write. */
export function mergeLWWRegister(a: LWWRegisterState, b: LWWRegisterState): LWWRegisterState {
  return compareRegisters(a, b) >= 0 ? a : b;
}

/** The register as a delta from empty (the clock is the proxy's business, so DEFAULT). */
export function lwwRegisterInit(state: LWWRegisterState): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "lwwregister", value: { value: toAny(state.value) } } });
}
