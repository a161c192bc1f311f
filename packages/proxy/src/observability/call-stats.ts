/**
 * Per-method call statistics over the last minute, in one-second buckets: calls,
 * errors and a log-scale latency histogram per bucket, so the console can show
 * calls/s, p50/p99 and error rate per method without any external system. Memory is
 * bounded: 60 buckets of {@link LATENCY_BUCKETS} counters per method.
 */

/** Seconds of history kept. */
export const HISTORY_SECONDS = 60;
/** Latency histogram: bucket i holds durations below 2^(i/2) * 50 µs; the last one is open. */
const LATENCY_BUCKETS = 48;
const BASE_SECONDS = 0.00005;

/** One second of one method. */
export interface SecondStats {
  /** Start of the second (ms since epoch). */
  readonly t: number;
  readonly calls: number;
  readonly errors: number;
  /** Median latency in seconds (upper bound of its bucket), or null without calls. */
  readonly p50: number | null;
  readonly p99: number | null;
}

/** The recent history of one method. */
export interface MethodStats {
  readonly service: string;
  readonly method: string;
  /** Oldest first, one entry per second, ending with the last complete second. */
  readonly seconds: readonly SecondStats[];
}

/** Recorder and reader of {@link MethodStats}. */
export interface CallStats {
  /** Records one call of `key` (from {@link CallStats.key}). */
  record(key: MethodKey, seconds: number, error: boolean): void;
  /** The recording slot of a method; get it once per method. */
  key(service: string, method: string): MethodKey;
  /** Every method seen, with its last {@link HISTORY_SECONDS} complete seconds. */
  snapshot(): MethodStats[];
}

/** Opaque per-method slot. */
export interface MethodKey {
  readonly service: string;
  readonly method: string;
}

interface Bucket {
  second: number;
  calls: number;
  errors: number;
  latency: Uint32Array;
}

interface Slot extends MethodKey {
  readonly buckets: Bucket[];
}

function bucketIndex(seconds: number): number {
  if (!(seconds > BASE_SECONDS)) return 0;
  const index = Math.ceil(2 * Math.log2(seconds / BASE_SECONDS));
  return index >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : index;
}

function bucketUpper(index: number): number {
  return BASE_SECONDS * 2 ** (index / 2);
}

function quantile(latency: Uint32Array, total: number, q: number): number | null {
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    seen += latency[i] ?? 0;
    if (seen >= rank) return bucketUpper(i);
  }
  return bucketUpper(latency.length - 1);
}

/** Creates call statistics; `now` is injectable for tests. */
export function createCallStats(now: () => number = Date.now): CallStats {
  const slots = new Map<string, Slot>();

  function bucketFor(slot: Slot, second: number): Bucket {
    const bucket = slot.buckets[second % HISTORY_SECONDS]!;
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.calls = 0;
      bucket.errors = 0;
      bucket.latency.fill(0);
    }
    return bucket;
  }

  return {
    key(service, method) {
      const id = `${service}/${method}`;
      let slot = slots.get(id);
      if (slot === undefined) {
        const buckets = Array.from({ length: HISTORY_SECONDS }, () => ({ second: -1, calls: 0, errors: 0, latency: new Uint32Array(LATENCY_BUCKETS) }));
        slot = { service, method, buckets };
        slots.set(id, slot);
      }
      return slot;
    },
    record(key, seconds, error) {
      const bucket = bucketFor(key as Slot, Math.floor(now() / 1000));
      bucket.calls++;
      if (error) bucket.errors++;
      const index = bucketIndex(seconds);
      bucket.latency[index] = (bucket.latency[index] ?? 0) + 1;
    },
    snapshot() {
      const current = Math.floor(now() / 1000);
      return [...slots.values()].map((slot) => {
        const seconds: SecondStats[] = [];
        for (let second = current - HISTORY_SECONDS; second < current; second++) {
          const bucket = slot.buckets[second % HISTORY_SECONDS]!;
          const live = bucket.second === second;
          const calls = live ? bucket.calls : 0;
          seconds.push({
            t: second * 1000,
            calls,
            errors: live ? bucket.errors : 0,
            p50: live ? quantile(bucket.latency, calls, 0.5) : null,
            p99: live ? quantile(bucket.latency, calls, 0.99) : null,
          });
        }
        return { service: slot.service, method: slot.method, seconds };
      });
    },
  };
}
