/**
 * Runs the Switchboard benchmarks and writes bench/RESULTS.md (see bench/README.md).
 *
 *   npm run bench                                   # every scenario, 5 s per point
 *   npm run bench -- --scenario action,value-entity --duration 10
 *   npm run bench -- --list                         # the scenarios
 *   npm run bench -- --help                         # this text
 *
 * Options:
 *   --scenario <ids>    comma-separated scenario ids or parts of them (default: all)
 *   --duration <s>      measured seconds per load point (default 5)
 *   --warmup <s>        warm-up seconds before each point (default 1)
 *   --rounds <n>        alternate compared variants in n rounds that split the
 *                       duration (default 5: A B A B … — noise hits both sides)
 *   --concurrency <n>   concurrent callers of the closed-loop points (default 64)
 *   --sessions <n>      HTTP/2 sessions the gRPC load spreads over (default 4)
 *   --generator-http2 <builtin|node>
 *                       the HTTP/2 of the generator's gRPC calls: the proxy's own framing
 *                       (builtin, the default: about a seventh of node:http2's CPU per call)
 *                       or node:http2 (the generator of results before 2026-12-04)
 *   --no-profile        skip the extra CPU-profiled run of the proxy
 *   --out <file>        where to write (default bench/RESULTS.md for a full run,
 *                       bench/RESULTS.partial.md when --scenario is given)
 *   --node <binary>     another Node binary (e.g. Node 24) that the action scenario
 *                       runs the same proxy build on, as one more alternating variant
 *   --baseline <dir>    an earlier proxy build (a copy of packages/proxy's bin/, dist/
 *                       and package.json inside the repository, e.g. under bench/.tmp/)
 *                       that the action, value-entity and event-sourced scenarios run
 *                       too, alternating with the build under test: before vs after in one run
 *
 * Every process (proxy, user function, peers, databases) runs on its own; this
 * process only drives load and writes the report. Database files live in
 * bench/.tmp/ on the repository's disk and are removed at the end.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { GENERATOR_HTTP2, type GeneratorHttp2, setGeneratorHttp2 } from "./load/grpc.js";
import { SCENARIOS } from "./scenarios/index.js";
import type { BenchContext, Check, ScenarioResult } from "./scenarios/types.js";
import { ms } from "./support/format.js";
import { fsyncBaseline, machineInfo } from "./support/machine.js";
import { ROOT, snapshotProxy } from "./support/processes.js";

function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}; try --help\n`);
    process.exit(2);
  }
}

const OPTIONS = {
  scenario: { type: "string" },
  duration: { type: "string", default: "5" },
  warmup: { type: "string", default: "1" },
  rounds: { type: "string", default: "5" },
  concurrency: { type: "string", default: "64" },
  sessions: { type: "string", default: "4" },
  "generator-http2": { type: "string", default: "builtin" },
  "no-profile": { type: "boolean", default: false },
  out: { type: "string" },
  baseline: { type: "string" },
  node: { type: "string" },
  list: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;
const { values } = parseOptions();

if (values.help) {
  // The usage is this file's opening comment.
  const source = readFileSync(new URL(import.meta.url), "utf8");
  const comment = source.slice(source.indexOf("/**") + 3, source.indexOf("*/"));
  process.stdout.write(
    `${comment
      .split("\n")
      .map((line) => line.replace(/^ \* ?/, ""))
      .join("\n")
      .trim()}\n`,
  );
  process.exit(0);
}

if (values.list) {
  for (const s of SCENARIOS) process.stdout.write(`${s.id.padEnd(16)} issue #${s.issue}  ${s.title}\n`);
  process.exit(0);
}

const engine = values["generator-http2"] as GeneratorHttp2;
if (!GENERATOR_HTTP2.includes(engine)) {
  process.stderr.write(`--generator-http2 must be one of ${GENERATOR_HTTP2.join(", ")}, not ${JSON.stringify(engine)}\n`);
  process.exit(2);
}
setGeneratorHttp2(engine);

const filters =
  values.scenario
    ?.split(",")
    .map((f) => f.trim())
    .filter((f) => f !== "") ?? [];
const selected = filters.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => filters.some((f) => s.id.includes(f)));
if (selected.length === 0) {
  process.stderr.write(`no scenario matches ${JSON.stringify(values.scenario)}; try --list\n`);
  process.exit(2);
}
const outFile = path.resolve(values.out ?? path.join(ROOT, "bench", filters.length === 0 ? "RESULTS.md" : "RESULTS.partial.md"));

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const tmpDir = path.join(ROOT, "bench", ".tmp", `run-${stamp}`);
mkdirSync(tmpDir, { recursive: true });
const profileDir = path.join(ROOT, "bench", ".tmp", "profiles");
mkdirSync(profileDir, { recursive: true });

const socketDir = mkdtempSync(path.join(tmpdir(), "sb-bench-"));
const otherNode =
  values.node === undefined
    ? undefined
    : { path: path.resolve(values.node), version: execFileSync(path.resolve(values.node), ["--version"], { encoding: "utf8" }).trim() };

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const ctx: BenchContext = {
  durationMs: Number(values.duration) * 1000,
  warmupMs: Number(values.warmup) * 1000,
  rounds: Number(values.rounds),
  concurrency: Number(values.concurrency),
  sessions: Number(values.sessions),
  tmpDir,
  profile: !values["no-profile"],
  ...(values.baseline !== undefined ? { baselineProxy: path.resolve(values.baseline) } : {}),
  ...(otherNode !== undefined ? { otherNode } : {}),
  socketDir,
  profileDir,
  results: new Map(),
  log,
};

// `npm run bench` builds everything first; when run.ts is started on its own, build the
// counter example if it is missing. If that fails the value-entity scenarios fall back
// to the TCK model.
if (!existsSync(path.join(ROOT, "examples/counter/dist/main.js"))) {
  log("building examples/counter (tsc -b) for the value-entity scenarios");
  try {
    execFileSync(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-b", "examples/counter"], { cwd: ROOT, stdio: "inherit" });
  } catch {
    log("examples/counter did not build; the value-entity scenarios use the raw-protocol TCK model");
  }
}

/** Newest mtime and file count of a build folder, to notice a rebuild during the run. */
function fingerprint(dir: string): string {
  let newest = 0;
  let files = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        files++;
        newest = Math.max(newest, statSync(full).mtimeMs);
      }
    }
  };
  try {
    walk(dir);
  } catch {
    return "missing";
  }
  return `${files}@${newest}`;
}
const BUILDS = ["packages/protocol/dist", "packages/sdk/dist", "examples/counter/dist", "examples/shopping-cart/dist"];
const buildsAtStart = BUILDS.map((b) => fingerprint(path.join(ROOT, b)));
// Other people may rebuild the proxy while this runs: run a copy taken now.
snapshotProxy(path.join(tmpDir, "proxy"));

const machine = machineInfo(tmpDir);
log(`machine: ${machine.nproc} × ${machine.cpu}, node ${machine.node}, commit ${machine.commit}`);
log("fsync baseline: 8 kB write + fdatasync on the repository's disk");
const fsync = fsyncBaseline(tmpDir);
log(`fsync baseline: ${Math.round(fsync.opsPerSecond)} ops/s, p50 ${ms(fsync.latency.p50Ms)}`);

const results: ScenarioResult[] = [];
for (const scenario of selected) {
  log(`scenario ${scenario.id}: ${scenario.title}`);
  const started = Date.now();
  let result: ScenarioResult;
  try {
    result = await scenario.run(ctx);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    log(`scenario ${scenario.id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    result = {
      id: scenario.id,
      title: scenario.title,
      checks: [{ name: scenario.title, measured: "–", comparison: "–", ratio: "–", target: "–", status: "not run", note: `the scenario failed: ${reason}` }],
      body: `Not run: the scenario failed: \`${reason}\`.`,
      points: [],
      data: {},
    };
  }
  ctx.results.set(result.id, result);
  results.push(result);
  log(`scenario ${scenario.id} done in ${Math.round((Date.now() - started) / 1000)} s`);
}

const rebuilt = BUILDS.filter((b, i) => fingerprint(path.join(ROOT, b)) !== buildsAtStart[i]);
if (rebuilt.length > 0) log(`warning: rebuilt during the run: ${rebuilt.join(", ")}`);

/**
 * The `## ` sections of the file being replaced that this script does not write (results
 * of `soak.ts`, `cluster.ts` and other runs appended by hand): kept, in their order, after
 * the scenarios' sections. The ones it writes are the summary and one per scenario.
 */
function keptSections(file: string): string[] {
  let previous: string;
  try {
    previous = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const owned = (heading: string) => heading === "Summary" || SCENARIOS.some((s) => heading.startsWith(`${s.title} (issue #`));
  const kept: string[] = [];
  for (const section of previous.split(/^(?=## )/m).slice(1)) {
    const heading = (section.split("\n", 1)[0] ?? "").slice(3).trim();
    if (!owned(heading)) kept.push(section.trimEnd(), "");
  }
  return kept;
}

/** The commit a baseline build was made from, when its folder says (a `COMMIT` file). */
function baselineCommit(dir: string): string {
  try {
    return ` (commit ${readFileSync(path.join(dir, "COMMIT"), "utf8").trim()})`;
  } catch {
    return "";
  }
}

const statusCell = (c: Check) => (c.status === "not run" ? `not run: ${c.note ?? "no reason given"}` : c.status + (c.note ? ` (${c.note})` : ""));
const cell = (text: string) => text.replace(/\|/g, "\\|");
const lines: string[] = [
  "# Switchboard benchmark results",
  "",
  `Written by \`npm run bench${filters.length ? ` -- --scenario ${filters.join(",")}` : ""}\` (bench/run.ts). Figures from one run on one machine; ratios compare points measured in the same run.`,
  "",
  "| | |",
  "|---|---|",
  `| Date | ${machine.date} |`,
  `| Commit | ${machine.commit} |`,
  `| nproc | ${machine.nproc} |`,
  `| CPU | ${machine.cpu} |`,
  `| RAM | ${machine.ramGiB.toFixed(1)} GiB |`,
  `| Node | ${machine.node} |`,
  `| Kernel | ${machine.kernel} |`,
  `| Disk (bench/.tmp) | ${machine.filesystem} |`,
  `| fsync baseline | ${Math.round(fsync.opsPerSecond).toLocaleString("en-US")} ops/s of 8 kB write + fdatasync, one at a time (p50 ${ms(fsync.latency.p50Ms)}, p99 ${ms(fsync.latency.p99Ms)}) |`,
  `| Code under test | the proxy from a copy of packages/proxy/{bin,dist} taken at the start (after \`npm run build\`), so rebuilds by others during the run cannot change it${rebuilt.length ? `; **warning: rebuilt during the run, so some points may have used a newer build: ${rebuilt.join(", ")}**` : "; user functions, SDK and protocol builds unchanged during the run"} |`,
  ...(ctx.baselineProxy !== undefined
    ? [
        `| Before (baseline) | the proxy build copied to \`${path.relative(ROOT, ctx.baselineProxy)}\`${baselineCommit(ctx.baselineProxy)}, run as a third variant alternating with the one under test |`,
      ]
    : []),
  ...(otherNode !== undefined
    ? [`| Other Node | ${otherNode.version} (\`${otherNode.path}\`), running the same proxy build as one more variant of the action scenario |`]
    : []),
  `| Load | ${ctx.durationMs / 1000} s measured per point after ${ctx.warmupMs / 1000} s warm-up; closed loop ${ctx.concurrency} concurrent callers; compared variants alternate in ${ctx.rounds} rounds that split the time; gRPC over ${ctx.sessions} HTTP/2 sessions (${engine === "builtin" ? "the proxy's own HTTP/2 framing, packages/proxy/src/http2" : "node:http2"}, hand-rolled gRPC framing); HTTP/1.1 over undici |`,
  "| Durability | every store is a file: SQLite in WAL mode with `synchronous=FULL`, PostgreSQL with `fsync=on`, `synchronous_commit=on`; Restate with its defaults (RocksDB WAL fsync on) |",
  "",
  "The machine is shared (other work may run during the benchmark), so absolute numbers move from run to run; compare the ratios. " +
    "Every process runs on its own: load generator, proxy, user function, peer, database. " +
    "CPU columns are % of one core over the measured window (the generator's from `process.cpuUsage`, the others from `/proc/<pid>/stat`) and, in brackets, CPU time per call. " +
    `CPU-bound capacity is the calls/s that CPU per call allows if nothing else ran here (each single-threaded process — every Node process — at most one core, all of them together at most ${machine.nproc} cores, the generator included); ` +
    'ratios marked "CPU-bound" compare those capacities, which moves far less with the machine\'s other load than measured throughput does. ' +
    "A missed target's note names its measured bottleneck (CPU per call of each process and the proxy's hottest components from a CPU profile taken in a separate run of the same point).",
  "",
  "## Summary",
  "",
  "| Scenario | Measured | Comparison | Ratio | Target | Met |",
  "|---|---|---|---|---|---|",
  ...results.flatMap((r) =>
    r.checks.map((c) => `| ${cell(c.name)} | ${cell(c.measured)} | ${cell(c.comparison)} | ${c.ratio} | ${cell(c.target)} | ${cell(statusCell(c))} |`),
  ),
  "",
];
for (const r of results) {
  const issue = selected.find((s) => s.id === r.id)?.issue;
  lines.push(`## ${r.title} (issue #${issue})`, "", r.body, "");
}
lines.push(...keptSections(outFile));
writeFileSync(outFile, `${lines.join("\n").trimEnd()}\n`);
const jsonFile = outFile.endsWith(".md") ? `${outFile.slice(0, -3)}.json` : `${outFile}.json`;
writeFileSync(
  jsonFile,
  `${JSON.stringify({ machine, fsync: { opsPerSecond: fsync.opsPerSecond, latency: fsync.latency }, settings: { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, rounds: ctx.rounds, concurrency: ctx.concurrency, sessions: ctx.sessions, generatorHttp2: engine }, results }, null, 2)}\n`,
);
// The repository's formatter (Biome, checked in CI) formats markdown tables and JSON its own way.
try {
  execFileSync(process.execPath, [path.join(ROOT, "node_modules/@biomejs/biome/bin/biome"), "format", "--write", outFile, jsonFile], {
    cwd: ROOT,
    stdio: "ignore",
  });
} catch {
  log("could not run biome format on the results (they are still written)");
}
rmSync(tmpDir, { recursive: true, force: true });
rmSync(socketDir, { recursive: true, force: true });
log(`wrote ${path.relative(ROOT, outFile)}`);
process.exit(0);
