/**
 * Prints the differences between two benchmark runs (the JSON files run.ts writes next
 * to its markdown): throughput, p50/p99 and proxy CPU per call of every load point both
 * runs have, and the status of every check.
 *
 *   node --import tsx bench/compare.ts bench/RESULTS.json bench/RESULTS.partial.json
 *
 * The committed bench/RESULTS.json is the baseline. Runs on different machines or under
 * different load are not comparable point for point; the CPU per call moves least.
 */
import { readFileSync } from "node:fs";

interface Point {
  label: string;
  mode: string;
  concurrency?: number;
  rate?: number;
  throughput: number;
  latency: { p50Ms: number; p99Ms: number };
  cpu: { generatorPct: number; processes: Record<string, number> };
}
interface Check {
  name: string;
  measured: string;
  status: string;
}
interface Run {
  machine: { date: string; commit: string; nproc: number; cpu: string };
  results: { id: string; checks: Check[]; points: Point[] }[];
}

const [baseFile, nextFile] = process.argv.slice(2);
if (!baseFile || !nextFile) {
  process.stderr.write("usage: node --import tsx bench/compare.ts <baseline.json> <new.json>\n");
  process.exit(2);
}
const load = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Run;
const base = load(baseFile);
const next = load(nextFile);

const key = (scenario: string, p: Point) => `${scenario} · ${p.label} · ${p.mode === "closed" ? `${p.concurrency} concurrent` : `${p.rate}/s`}`;
const proxyUs = (p: Point) => {
  const c = p.cpu.processes.proxy;
  return c === undefined || !(p.throughput > 0) ? Number.NaN : ((c / 100) * 1e6) / p.throughput;
};
const delta = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && a !== 0 ? `${b >= a ? "+" : ""}${(((b - a) / a) * 100).toFixed(0)}%` : "–";
const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "–");

const out: string[] = [
  `baseline: ${base.machine.date} ${base.machine.commit} (${base.machine.nproc} × ${base.machine.cpu})`,
  `new:      ${next.machine.date} ${next.machine.commit} (${next.machine.nproc} × ${next.machine.cpu})`,
  "",
  "point | calls/s | p50 ms | p99 ms | proxy µs/call",
];
const basePoints = new Map<string, Point>();
for (const r of base.results) for (const p of r.points) basePoints.set(key(r.id, p), p);
for (const r of next.results) {
  for (const p of r.points) {
    const b = basePoints.get(key(r.id, p));
    if (!b) {
      out.push(`${key(r.id, p)} | ${fmt(p.throughput)} (new) | ${fmt(p.latency.p50Ms, 2)} | ${fmt(p.latency.p99Ms, 2)} | ${fmt(proxyUs(p))}`);
      continue;
    }
    out.push(
      `${key(r.id, p)} | ${fmt(b.throughput)} → ${fmt(p.throughput)} (${delta(b.throughput, p.throughput)}) | ${fmt(b.latency.p50Ms, 2)} → ${fmt(p.latency.p50Ms, 2)} (${delta(b.latency.p50Ms, p.latency.p50Ms)}) | ${fmt(b.latency.p99Ms, 2)} → ${fmt(p.latency.p99Ms, 2)} (${delta(b.latency.p99Ms, p.latency.p99Ms)}) | ${fmt(proxyUs(b))} → ${fmt(proxyUs(p))} (${delta(proxyUs(b), proxyUs(p))})`,
    );
  }
}
out.push("", "check | baseline | new");
const baseChecks = new Map<string, Check>();
for (const r of base.results) for (const c of r.checks) baseChecks.set(c.name, c);
for (const r of next.results) {
  for (const c of r.checks) {
    const b = baseChecks.get(c.name);
    out.push(`${c.name} | ${b ? `${b.status}: ${b.measured}` : "–"} | ${c.status}: ${c.measured}`);
  }
}
process.stdout.write(`${out.join("\n")}\n`);
