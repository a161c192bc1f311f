/**
 * Latency recording for the load generator. Every sample is kept (a few hundred
 * thousand doubles per point at most), so percentiles are exact rather than bucketed.
 */

/** Summary of one set of samples, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** A growable list of latency samples in milliseconds. */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  private size = 0;

  /** Records one latency, given in milliseconds. */
  record(ms: number): void {
    if (this.size === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.size++] = ms;
  }

  /** Adds every sample of `other`. */
  merge(other: LatencyRecorder): void {
    for (let i = 0; i < other.size; i++) this.record(other.samples[i] as number);
  }

  get count(): number {
    return this.size;
  }

  summary(): LatencySummary {
    const sorted = this.samples.slice(0, this.size).sort();
    const at = (q: number) =>
      sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number);
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: sorted.length,
      minMs: at(0),
      p50Ms: at(0.5),
      p90Ms: at(0.9),
      p99Ms: at(0.99),
      p999Ms: at(0.999),
      maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
      meanMs: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    };
  }
}

/** Milliseconds since the process started (monotonic, microsecond resolution). */
export const nowMs: () => number = performance.now.bind(performance);
