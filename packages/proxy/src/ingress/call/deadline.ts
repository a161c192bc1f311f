import { parseGrpcTimeout } from "../../internal/grpc-framing.js";

/** The longest delay `setTimeout` honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A client deadline taken from a `grpc-timeout` header. */
export interface Deadline {
  /** Absolute deadline in ms since the epoch (what the router is given). */
  readonly at: number;
  /** Whether the deadline has passed (judged on the monotonic clock). */
  expired(): boolean;
  /** Stops the timer. */
  cancel(): void;
}

/**
 * Starts the deadline a `grpc-timeout` header asks for, or returns undefined when the
 * call has none. `onExpire` runs once when it passes. Timeouts of any length work:
 * `setTimeout` clamps delays past 2^31-1 ms (about 24.8 days) to 1 ms, so long ones
 * are armed in steps; a timeout below one millisecond (`1n`) has passed already.
 */
export function startDeadline(header: string | string[] | undefined, onExpire: () => void): Deadline | undefined {
  const timeoutMs = parseGrpcTimeout(typeof header === "string" ? header : undefined);
  if (timeoutMs === undefined) return undefined;
  const start = performance.now();
  const end = start + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const expired = () => done || timeoutMs < 1 || performance.now() >= end;
  const arm = () => {
    const left = end - performance.now();
    if (left <= 0) {
      done = true;
      onExpire();
      return;
    }
    timer = setTimeout(arm, Math.min(Math.ceil(left), MAX_TIMER_MS));
  };
  if (timeoutMs >= 1) arm();
  else done = true;
  return {
    at: Date.now() + timeoutMs,
    expired,
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
