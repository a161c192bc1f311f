/** A pending timer of a {@link Clock}. */
export interface ClockTimer {
  /** Whether the timer is still pending (neither fired nor cleared). */
  readonly pending: boolean;
}

/**
 * Time as the core sees it: a monotonic `now()` and timers. Entity sessions, passivation
 * and relay timeouts take one, so unit tests can drive time with {@link createFakeClock}
 * instead of sleeping. Real timers never keep the process alive on their own.
 */
export interface Clock {
  /** Monotonic milliseconds (not the epoch): only differences mean something. */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): ClockTimer;
  /** Cancels a timer; a fired, cleared or absent timer is ignored. */
  clearTimeout(timer: ClockTimer | undefined): void;
}

class RealTimer implements ClockTimer {
  pending = true;
  handle: NodeJS.Timeout | undefined;
}

/** The process's clock: `performance.now()` and Node timers (unref'd). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, ms) {
    const timer = new RealTimer();
    timer.handle = setTimeout(() => {
      timer.pending = false;
      callback();
    }, ms);
    timer.handle.unref();
    return timer;
  },
  clearTimeout(timer) {
    if (!(timer instanceof RealTimer) || !timer.pending) return;
    timer.pending = false;
    clearTimeout(timer.handle);
  },
};

/** A clock whose time moves only when a test says so. */
export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that falls due, in due order. */
  advance(ms: number): void;
  /** Number of pending timers. */
  readonly pendingTimers: number;
}

interface FakeTimer extends ClockTimer {
  pending: boolean;
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
}

/** A {@link FakeClock} starting at `start` ms. */
export function createFakeClock(start = 0): FakeClock {
  let now = start;
  let seq = 0;
  const timers = new Set<FakeTimer>();
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const timer: FakeTimer = { pending: true, due: now + Math.max(0, ms), seq: seq++, callback };
      timers.add(timer);
      return timer;
    },
    clearTimeout(timer) {
      if (timer === undefined || !timers.has(timer as FakeTimer)) return;
      (timer as FakeTimer).pending = false;
      timers.delete(timer as FakeTimer);
    },
    advance(ms) {
      const target = now + ms;
      for (;;) {
        let next: FakeTimer | undefined;
        for (const timer of timers) {
          if (timer.due <= target && (next === undefined || timer.due < next.due || (timer.due === next.due && timer.seq < next.seq))) next = timer;
        }
        if (next === undefined) break;
        timers.delete(next);
        now = next.due;
        next.pending = false;
        next.callback();
      }
      now = target;
    },
    get pendingTimers() {
      return timers.size;
    },
  };
}
