import * as v8 from "node:v8";
import * as vm from "node:vm";
import type { ActiveEntities } from "../entities/session/active-entities.js";
import type { Clock, ClockTimer } from "../internal/clock.js";
import type { Dispatcher } from "../router/types.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";

/**
 * Passivations since the last release that make the next quiet period release the heap.
 * A passivated value entity leaves about 1.3 kB of V8 heap garbage (bench/RESULTS.md,
 * "Proxy memory per entity"), so 10,000 of them are about 13 MB: below that, what an
 * idle proxy keeps is small beside its own idle footprint, and a wave that size is
 * rare enough that one full GC per wave costs nothing measurable.
 */
export const HEAP_RELEASE_AFTER_PASSIVATIONS = 10_000;

/**
 * How long no command may have started and no entity passivated before the release runs.
 * Five seconds is far longer than the gaps inside a flow of calls (the GC pause must not
 * land in one) and short beside the 30 s default passivation timeout, so an idle proxy
 * gives its heap back soon after the last entity of a wave has passivated.
 */
export const HEAP_RELEASE_QUIET_MS = 5_000;

/** Options of {@link createHeapRelease}. */
export interface HeapReleaseOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Passivations that arm a release (default {@link HEAP_RELEASE_AFTER_PASSIVATIONS}). */
  readonly passivations?: number;
  /** Quiet time before an armed release runs (default {@link HEAP_RELEASE_QUIET_MS}). */
  readonly quietMs?: number;
  /** Runs one full, memory-reducing GC (default {@link collectAllGarbage}). */
  readonly collect?: () => Promise<void>;
  /** Bytes of V8 heap in use (default: `process.memoryUsage().heapUsed`). */
  readonly heapUsed?: () => number;
}

/**
 * Gives the V8 heap back after a passivation wave. An idle Node process never collects
 * again on its own: V8 collects when allocation reaches a limit, and Node sends it no
 * idle notifications, so the garbage of thousands of passivated entities stays in the
 * heap (and in the resident set) for as long as no traffic comes. This counts
 * passivations and, once {@link HEAP_RELEASE_AFTER_PASSIVATIONS} have happened since
 * the last release, waits until no command has started and no entity passivated for
 * {@link HEAP_RELEASE_QUIET_MS}, then runs one full GC and waits for the next wave.
 * So it never runs while calls flow, at most once per wave, and never twice in a row.
 */
export interface HeapRelease {
  /** A command started (cheap: a flag test unless a release is armed). */
  activity(): void;
  /** An entity was passivated or stopped. */
  passivated(): void;
  /** Releases run so far. */
  readonly releases: number;
  /** Cancels an armed release (a running GC still finishes). */
  close(): void;
}

/** Creates a {@link HeapRelease}; it does nothing until a wave of passivations arms it. */
export function createHeapRelease(options: HeapReleaseOptions): HeapRelease {
  const { clock, logger, metrics } = options;
  const threshold = options.passivations ?? HEAP_RELEASE_AFTER_PASSIVATIONS;
  const quietMs = options.quietMs ?? HEAP_RELEASE_QUIET_MS;
  const collect = options.collect ?? collectAllGarbage;
  const heapUsed = options.heapUsed ?? (() => process.memoryUsage().heapUsed);
  let count = 0;
  let armed = false;
  let last = 0;
  let timer: ClockTimer | undefined;
  let releases = 0;
  let closed = false;

  const release = () => {
    // Passivations from here on count towards the next wave.
    count = 0;
    armed = false;
    const before = heapUsed();
    const started = clock.now();
    collect().then(
      () => {
        releases++;
        metrics.heapReleased();
        const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
        logger.debug("released the heap after a passivation wave", {
          heapUsedBeforeMb: mb(before),
          heapUsedAfterMb: mb(heapUsed()),
          gcMs: Math.round(clock.now() - started),
        });
      },
      (error: unknown) => logger.warn("could not release the heap", { error: (error as Error)?.message ?? String(error) }),
    );
  };
  // The timer is not moved on every command: when it fires it looks at the time of the last one and waits for the rest.
  const check = () => {
    timer = undefined;
    if (closed || !armed) return;
    const quietFor = clock.now() - last;
    if (quietFor >= quietMs) release();
    else timer = clock.setTimeout(check, quietMs - quietFor);
  };

  return {
    activity() {
      if (armed) last = clock.now();
    },
    passivated() {
      count++;
      if (armed) {
        last = clock.now();
      } else if (count >= threshold && !closed) {
        armed = true;
        last = clock.now();
        timer = clock.setTimeout(check, quietMs);
      }
    },
    get releases() {
      return releases;
    },
    close() {
      closed = true;
      clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** The active entities, with every command (add, touch) and passivation (remove) told to `release`. */
export function watchActiveEntities(entities: ActiveEntities, release: HeapRelease): ActiveEntities {
  return {
    add(entity) {
      release.activity();
      entities.add(entity);
    },
    touch(entity) {
      release.activity();
      entities.touch(entity);
    },
    remove(entity) {
      release.passivated();
      entities.remove(entity);
    },
    get count() {
      return entities.count;
    },
    get max() {
      return entities.max;
    },
  };
}

/** The dispatcher, with every call it starts told to `release` (Actions have no entity to touch). */
export function watchDispatcher(dispatcher: Dispatcher, release: HeapRelease): Dispatcher {
  return {
    unary(invocation, request) {
      release.activity();
      return dispatcher.unary(invocation, request);
    },
    stream(invocation, requests) {
      release.activity();
      return dispatcher.stream(invocation, requests);
    },
    deliver(method, payload, metadata, signal) {
      release.activity();
      return dispatcher.deliver(method, payload, metadata, signal);
    },
  };
}

/**
 * One full GC that also shrinks the heap: the DevTools protocol's
 * `HeapProfiler.collectGarbage`, sent through an in-process `node:inspector` session
 * (no port is opened). V8 runs it as its low-memory collection: full GCs until nothing
 * more is freed, then the young generation and the pooled pages are given back. The
 * `gc()` that `--expose-gc` gives collects as much but leaves the young generation
 * committed (measured: 36 MB committed after it against 4.5 MB, for the same garbage).
 * Without the inspector (a Node built without it), that `gc()` is the fallback.
 */
export async function collectAllGarbage(): Promise<void> {
  let inspector: typeof import("node:inspector") | undefined;
  try {
    inspector = await import("node:inspector");
  } catch {
    inspector = undefined;
  }
  if (inspector === undefined) {
    exposedGc()();
    return;
  }
  const session = new inspector.Session();
  session.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      session.post("HeapProfiler.collectGarbage", (error) => (error === null || error === undefined ? resolve() : reject(error)));
    });
  } finally {
    // Not from inside the callback: disconnecting there blocks the thread for good (Node 20, measured).
    session.disconnect();
  }
}

let gcFunction: (() => void) | undefined;
function exposedGc(): () => void {
  if (gcFunction === undefined) {
    // `gc` exists in the contexts made after the flag is set.
    v8.setFlagsFromString("--expose-gc");
    gcFunction = vm.runInNewContext("gc") as () => void;
  }
  return gcFunction;
}
