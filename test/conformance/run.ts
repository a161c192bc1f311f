/**
 * The conformance matrix: obtains each language support, runs `switchboard-tck` against
 * Switchboard for it, prints the matrix and writes `test/conformance/RESULTS.md`
 * (format: docs/protocol.md#conformance).
 *
 *   node --import tsx test/conformance/run.ts [--only <support>[,<support>]]
 *
 * `npm run test:conformance` runs it through `tck.test.ts`. Exits non-zero when a support
 * that ran has an unexpected failure or pass, or when a support cannot be obtained from its
 * registry (its cells then say which request failed).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { AREAS, type Area, formatResultsMarkdown, isFailedRun, type ResultsRow, type RunResults } from "@switchboard/tck";
import { goSupport } from "./supports/go-support.js";
import { javaSupport } from "./supports/java-support/index.js";
import { kotlinSupport } from "./supports/kotlin/index.js";
import { nodeSupport, pythonSupport, typescriptSdk } from "./supports/other-supports.js";
import type { Support } from "./supports/support.js";

/** Every support, in the order of the RESULTS.md rows. */
export const SUPPORTS: readonly Support[] = [goSupport, typescriptSdk, nodeSupport, pythonSupport, javaSupport, kotlinSupport];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TCK_BIN = path.join(ROOT, "packages/tck/bin/switchboard-tck.mjs");
const PROXY_BIN = path.join(ROOT, "packages/proxy/bin/switchboard.mjs");
const RESULTS_MD = path.join(ROOT, "test/conformance/RESULTS.md");

/** The outcome of one support. */
export interface SupportOutcome {
  readonly support: Support;
  readonly row: ResultsRow;
  /** Why this support fails the conformance run; empty when it does not. */
  readonly problems: readonly string[];
  readonly durationMs: number;
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** Names of the supports to run (default: all); the others are `not run`. */
  readonly only?: readonly string[];
  /** Write RESULTS.md (default: only when every support was selected). */
  readonly writeResults?: boolean;
  readonly log?: (line: string) => void;
}

function notRunRow(support: Support, reason: string): ResultsRow {
  const cells: Partial<Record<Area, { notRun: string }>> = {};
  for (const area of AREAS) cells[area] = { notRun: support.areas.includes(area) ? reason : (support.notCoveredAreas?.[area] ?? support.notCovered) };
  return { support: support.title, cells };
}

/** Runs the CLI as a user would, streaming its output. */
function runCli(args: string[], log: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TCK_BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").replace(/\n$/, "").split("\n")) log(`  | ${line}`);
    };
    child.stdout.on("data", forward);
    child.stderr.on("data", forward);
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

/** The commit the matrix was produced from. */
function commit(): string {
  const sha = spawnSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout.trim() || "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: ROOT, encoding: "utf8" }).stdout.trim() !== "";
  return dirty ? `${sha} (with uncommitted changes)` : sha;
}

/** Obtains and runs every support; returns one outcome per support. */
export async function runConformance(options: ConformanceOptions = {}): Promise<SupportOutcome[]> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const work = mkdtempSync(path.join(os.tmpdir(), "switchboard-conformance-"));
  const cacheDir = path.join(ROOT, ".tck");
  mkdirSync(cacheDir, { recursive: true });
  log(`conformance: work directory ${work}`);

  // The TCK and the proxy run from their build output; make sure it is current.
  const build = spawnSync(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-b", "packages/proxy", "packages/tck"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);

  const outcomes: SupportOutcome[] = [];
  for (const support of SUPPORTS) {
    const started = Date.now();
    if (options.only && !options.only.includes(support.name)) {
      outcomes.push({ support, row: notRunRow(support, "not selected"), problems: [], durationMs: 0 });
      continue;
    }
    log(`\n== ${support.title}`);
    const setup = await support.setup({ root: ROOT, cacheDir, log });
    if (setup.kind !== "ready") {
      log(`${support.name}: not run: ${setup.reason}`);
      outcomes.push({
        support,
        row: notRunRow(support, setup.reason),
        problems: setup.kind === "unobtainable" ? [`${support.name}: ${setup.reason}`] : [],
        durationMs: Date.now() - started,
      });
      continue;
    }
    for (const note of setup.notes) log(`${support.name}: ${note}`);
    const dir = path.join(work, support.name);
    mkdirSync(dir, { recursive: true });
    const problems: string[] = [];
    const cells: ResultsRow["cells"] = notRunRow(support, "not run by any user function of this support").cells;
    let index = 0;
    for (const run of setup.runs) {
      index += 1;
      const resultsFile = path.join(dir, `results-${index}.json`);
      // A file store, so that the shopping cart's proxy-restart case has something to restart from.
      const store = `sqlite:${path.join(dir, `proxy-${index}.db`)}`;
      const proxyCommand = `${JSON.stringify(process.execPath)} ${JSON.stringify(PROXY_BIN)} start --bind 127.0.0.1 --store ${JSON.stringify(store)}`;
      const args = [
        "--proxy",
        proxyCommand,
        "--function",
        run.functionCommand,
        "--support",
        support.name,
        "--areas",
        run.areas.join(","),
        "--results",
        resultsFile,
        "--logs",
        path.join(dir, `logs-${index}`),
        "--print-failures",
      ];
      if (support.knownFailuresFile) args.push("--known-failures", support.knownFailuresFile);
      const code = await runCli(args, log);
      let results: RunResults | undefined;
      try {
        results = JSON.parse(readFileSync(resultsFile, "utf8")) as RunResults;
      } catch {
        results = undefined;
      }
      if (!results) {
        problems.push(`${support.name}: switchboard-tck exited with ${code} without results (areas ${run.areas.join(", ")})`);
        for (const area of run.areas) cells[area] = { notRun: `switchboard-tck exited with ${code}` };
        continue;
      }
      if (isFailedRun(results)) {
        if (results.runError !== undefined) problems.push(`${support.name}: ${results.runError.split("\n")[0]}`);
        problems.push(...results.unexpectedFailures.map((id) => `${support.name}: unexpected failure: ${id}`));
        problems.push(...results.unexpectedPasses.map((id) => `${support.name}: unexpected pass (remove it from the known failures): ${id}`));
      }
      for (const area of run.areas) {
        const tally = results.areas[area];
        cells[area] =
          results.runError !== undefined ? { notRun: `run error: ${results.runError.split("\n")[0] ?? ""}` } : (tally ?? { notRun: "area not selected" });
      }
      rmSync(path.join(dir, `proxy-${index}.db`), { force: true });
    }
    outcomes.push({ support, row: { support: support.title, cells }, problems, durationMs: Date.now() - started });
    log(`${support.name}: ${problems.length === 0 ? "as expected" : `${problems.length} problem(s)`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  const markdown = formatResultsMarkdown({ date: new Date(), commit: commit(), rows: outcomes.map((o) => o.row) });
  if (options.writeResults ?? options.only === undefined) {
    writeFileSync(RESULTS_MD, markdown);
    log(`\nwrote ${path.relative(ROOT, RESULTS_MD)}`);
  }
  log(`\n${markdown}`);
  for (const outcome of outcomes) for (const problem of outcome.problems) log(`PROBLEM ${problem}`);
  return outcomes;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const onlyIndex = process.argv.indexOf("--only");
  const only = onlyIndex > 0 ? process.argv[onlyIndex + 1]?.split(",") : undefined;
  runConformance(only ? { only } : {}).then(
    (outcomes) => {
      process.exitCode = outcomes.some((o) => o.problems.length > 0) ? 1 : 0;
    },
    (error: unknown) => {
      process.stderr.write(`conformance: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
