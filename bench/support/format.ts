/** Number and table formatting for bench/RESULTS.md. */
import { availableParallelism } from "node:os";
import type { PointResult } from "../load/driver.js";
import type { ProfileSummary } from "./profile.js";

/**
 * The throughput a point's CPU per call allows if nothing else ran on the machine:
 * each single-threaded process (every Node process: its JavaScript runs on one thread)
 * is bound to one core, and all of them together to the machine's cores.
 * Generator included: it shares the machine in every scenario. Undefined for open-loop
 * points and without CPU figures of other processes (e.g. the in-process ceilings).
 */
export function cpuBoundCapacity(p: PointResult, cores = availableParallelism()): number | undefined {
  // Only a saturating (closed-loop) point says what a call costs at full load.
  if (p.mode !== "closed" || !(p.throughput > 0) || Object.keys(p.cpu.processes).length === 0) return undefined;
  const multi = new Set(p.cpu.multiCore ?? []);
  const usPerCall = (pct: number) => ((pct / 100) * 1e6) / p.throughput;
  const all: [string, number][] = [["generator", p.cpu.generatorPct], ...Object.entries(p.cpu.processes)];
  const costs = all.filter(([, c]) => Number.isFinite(c)).map(([label, c]) => ({ label, us: usPerCall(c) }));
  const total = costs.reduce((a, c) => a + c.us, 0);
  const singleThreaded = costs.filter((c) => !multi.has(c.label) && c.us > 5).map((c) => c.us);
  if (total <= 0) return undefined;
  return Math.min(singleThreaded.length ? 1e6 / Math.max(...singleThreaded) : Number.POSITIVE_INFINITY, (cores * 1e6) / total);
}

/** "0.32× (CPU-bound 0.31×)": a measured ratio and the ratio of CPU-bound capacities. */
export function ratioWithCpu(a: PointResult, b: PointResult): string {
  const ca = cpuBoundCapacity(a);
  const cb = cpuBoundCapacity(b);
  const measured = ratio(a.throughput / b.throughput);
  return ca !== undefined && cb !== undefined ? `${measured} (CPU-bound ${ratio(ca / cb)})` : measured;
}

/** A one-line "measured bottleneck" for a missed target: CPU per call of each process and the proxy's hottest components. */
export function bottleneck(p: PointResult, profile: ProfileSummary | undefined): string {
  const perCall = Object.entries(p.cpu.processes)
    .filter(([, c]) => Number.isFinite(c) && c > 0.5)
    .map(([label, c]) => `${label} ${Math.round(((c / 100) * 1e6) / p.throughput)} µs`);
  perCall.push(`generator ${Math.round(((p.cpu.generatorPct / 100) * 1e6) / p.throughput)} µs`);
  const hot = profile?.components
    .slice(0, 4)
    .map((h) => `${h.name} ${h.pct.toFixed(0)}%`)
    .join(", ");
  return `CPU per call: ${perCall.join(", ")}${hot ? `; proxy profile: ${hot}` : ""}`;
}

export function rate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return "–";
  return `${Math.round(perSecond).toLocaleString("en-US")}/s`;
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value < 1) return `${value.toFixed(3)} ms`;
  if (value < 10) return `${value.toFixed(2)} ms`;
  return `${value.toFixed(1)} ms`;
}

export function pct(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "–" : `${Math.round(value)}%`;
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : "–";
}

function errorsOf(p: PointResult): string {
  if (p.errors === 0) return "0";
  const kinds = Object.entries(p.errorKinds)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([k, n]) => `${n}× ${k.slice(0, 80)}`)
    .join("; ");
  return `${p.errors} (${kinds})`;
}

/** CPU as "% of a core (µs of CPU per call)". */
function cpuCell(percent: number | undefined, throughput: number): string {
  if (percent === undefined || !Number.isFinite(percent)) return "–";
  if (!(throughput > 0)) return pct(percent);
  return `${Math.round(percent)}% (${Math.round(((percent / 100) * 1e6) / throughput)} µs)`;
}

/**
 * A table of load points: throughput, latency percentiles, errors and CPU (generator
 * and each watched process) as % of one core and CPU time per call — the per-call
 * figure moves much less than throughput when other work shares the machine.
 */
export function pointsTable(points: readonly PointResult[]): string {
  const labels = [...new Set(points.flatMap((p) => Object.keys(p.cpu.processes)))];
  const head = [
    "point",
    "load",
    "calls/s",
    "p50",
    "p99",
    "p99.9",
    "max",
    "errors",
    "CPU generator (per call)",
    ...labels.map((l) => `CPU ${l} (per call)`),
    "CPU-bound capacity",
  ];
  const rows = points.map((p) => [
    p.label,
    p.mode === "closed" ? `${p.concurrency} concurrent` : `${p.rate}/s open loop`,
    rate(p.throughput),
    ms(p.latency.p50Ms),
    ms(p.latency.p99Ms),
    ms(p.latency.p999Ms),
    ms(p.latency.maxMs),
    errorsOf(p),
    cpuCell(p.cpu.generatorPct, p.throughput),
    ...labels.map((l) => cpuCell(p.cpu.processes[l], p.throughput)),
    rate(cpuBoundCapacity(p) ?? Number.NaN),
  ]);
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}
