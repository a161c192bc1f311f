import { create } from "@bufbuild/protobuf";
import { type CrdtDelta, CrdtDeltaSchema, type FlagDelta } from "@switchboard/protocol";
import type { Applied } from "./state.js";

/** A flag that can only be switched on; the merge is the logical or. */
export interface FlagState {
  readonly kind: "flag";
  readonly enabled: boolean;
}

/** The flag, off. */
export const FLAG_OFF: FlagState = Object.freeze({ kind: "flag", enabled: false });
/** The flag, on. */
export const FLAG_ON: FlagState = Object.freeze({ kind: "flag", enabled: true });

/** Applies `FlagDelta.value`: true switches on; false is only valid while still off. */
export function applyFlag(state: FlagState, delta: FlagDelta): Applied<FlagState> {
  if (delta.value) return { kind: "applied", state: FLAG_ON, delta: FLAG_ON };
  if (state.enabled) return { kind: "rejected", reason: "a Flag that is on cannot be switched off" };
  return { kind: "applied", state, delta: FLAG_OFF };
}

/** Join of two flags. */
export function mergeFlag(a: FlagState, b: FlagState): FlagState {
  return a.enabled || b.enabled ? FLAG_ON : FLAG_OFF;
}

/** The flag as a delta from off. */
export function flagInit(state: FlagState): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "flag", value: { value: state.enabled } } });
}
