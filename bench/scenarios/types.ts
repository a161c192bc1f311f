/** What every scenario gets and gives back. */
import type { PointResult } from "../load/driver.js";

/** Settings and helpers shared by the scenarios of one run. */
export interface BenchContext {
  /** Measured window of each load point. */
  readonly durationMs: number;
  /**
   * Competing variants (direct vs proxy, Switchboard vs Restate, …) run in this many
   * alternating rounds, splitting the duration, so machine noise hits all of them.
   */
  readonly rounds: number;
  /** Warm-up before each measured window. */
  readonly warmupMs: number;
  /** Concurrent callers of the closed-loop points. */
  readonly concurrency: number;
  /** HTTP/2 sessions the gRPC load spreads its streams over. */
  readonly sessions: number;
  /** A fresh directory on the repository's disk for this run's database files. */
  readonly tmpDir: string;
  /** Profile the proxy (an extra, separate load point per scenario that supports it). */
  readonly profile: boolean;
  /**
   * A copy of an earlier proxy build (bin/, dist/, package.json, inside the repository so
   * bare imports resolve), run as a third variant "before" where a scenario supports it.
   */
  readonly baselineProxy?: string;
  /**
   * Another Node binary (e.g. Node 24 beside the Node 20 that runs the benchmark): the action
   * scenario runs the same proxy build on it as one more variant, on the memory store.
   */
  readonly otherNode?: { readonly path: string; readonly version: string };
  /** A short directory for Unix sockets (their paths hold at most 107 bytes). */
  readonly socketDir: string;
  /** Where CPU profiles go. */
  readonly profileDir: string;
  /** Results of scenarios that ran earlier in this run, by id. */
  readonly results: Map<string, ScenarioResult>;
  log(message: string): void;
}

/** One line of the summary: a target and whether it was met. */
export interface Check {
  readonly name: string;
  readonly measured: string;
  readonly comparison: string;
  readonly ratio: string;
  readonly target: string;
  readonly status: "met" | "not met" | "not run";
  /** Why not run, or what limits it. */
  readonly note?: string;
}

/** A scenario's outcome: summary checks, a markdown body, raw data. */
export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly checks: readonly Check[];
  /** Markdown under the section heading. */
  readonly body: string;
  readonly points: readonly PointResult[];
  /** Scenario-specific numbers other scenarios may read. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** A benchmark scenario. */
export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** The issue whose Benchmark section it answers. */
  readonly issue: number;
  run(context: BenchContext): Promise<ScenarioResult>;
}
