/**
 * Outcomes of a run: per case, per area, and the files written from them. A failure is
 * expected when the case is in the support's known failures or is not ported; a listed case
 * that passes is an unexpected pass. Both unexpected kinds fail the run.
 */
import { AREAS, type Area, type CatalogueCase, UPSTREAM_CASE_COUNT } from "./catalogue.js";
import type { KnownFailures } from "./known-failures.js";

/** What happened to one case. */
export type CaseStatus = "passed" | "failed" | "pending";

/** The raw outcome of running (or not running) one case. */
export interface CaseOutcome {
  readonly case: CatalogueCase;
  readonly status: CaseStatus;
  /** False when the case has no test in this port. */
  readonly ported: boolean;
  /** The failure's message. */
  readonly error?: string;
  readonly durationMs: number;
}

/** A classified outcome. */
export interface CaseResult {
  readonly id: string;
  readonly area: Area;
  readonly status: CaseStatus;
  readonly ported: boolean;
  /** For a failure: listed or not ported. For a pass: not listed. Pending cases are always expected. */
  readonly expected: boolean;
  /** The reason it is a known failure ("not ported", or the known-failures.txt reason). */
  readonly knownReason?: string;
  readonly error?: string;
  readonly durationMs: number;
}

/** Counts of one area. */
export interface AreaTally {
  passed: number;
  failed: number;
  pending: number;
}

/** Everything a run produced, as written to `--results`. */
export interface RunResults {
  readonly support: string;
  readonly startedAt: string;
  readonly durationMs: number;
  /** Areas that ran; the others were not selected. */
  readonly areas: Partial<Record<Area, AreaTally>>;
  /** Number of the 186 upstream cases this port implements. */
  readonly ported: number;
  /** Set when the run could not start (user function, interceptor, proxy, discovery) or broke off (the proxy exited). */
  readonly runError?: string;
  readonly cases: readonly CaseResult[];
  readonly unexpectedFailures: readonly string[];
  readonly unexpectedPasses: readonly string[];
}

/** Classifies one outcome against the known failures. */
export function classify(outcome: CaseOutcome, known: KnownFailures): CaseResult {
  const id = outcome.case.id;
  const listed = known.get(id);
  const base = {
    id,
    area: outcome.case.area,
    status: outcome.status,
    ported: outcome.ported,
    durationMs: outcome.durationMs,
    ...(outcome.error !== undefined ? { error: outcome.error } : {}),
  };
  switch (outcome.status) {
    case "pending":
      return { ...base, expected: true };
    case "passed":
      return { ...base, expected: listed === undefined, ...(listed !== undefined ? { knownReason: listed } : {}) };
    case "failed": {
      const knownReason = !outcome.ported ? "not ported" : listed;
      return { ...base, expected: knownReason !== undefined, ...(knownReason !== undefined ? { knownReason } : {}) };
    }
  }
}

/** Tallies classified results per area, for the areas that ran. */
export function tally(results: readonly CaseResult[], areas: readonly Area[]): Partial<Record<Area, AreaTally>> {
  const out: Partial<Record<Area, AreaTally>> = {};
  for (const area of areas) out[area] = { passed: 0, failed: 0, pending: 0 };
  for (const result of results) {
    const counts = out[result.area];
    if (counts) counts[result.status] += 1;
  }
  return out;
}

/** Builds the results of a run from its outcomes. */
export function buildResults(input: {
  support: string;
  startedAt: Date;
  durationMs: number;
  areas: readonly Area[];
  outcomes: readonly CaseOutcome[];
  known: KnownFailures;
  ported: number;
  runError?: string;
}): RunResults {
  const cases = input.outcomes.map((o) => classify(o, input.known));
  return {
    support: input.support,
    startedAt: input.startedAt.toISOString(),
    durationMs: input.durationMs,
    areas: tally(cases, input.areas),
    ported: input.ported,
    ...(input.runError !== undefined ? { runError: input.runError } : {}),
    cases,
    unexpectedFailures: cases.filter((c) => c.status === "failed" && !c.expected).map((c) => c.id),
    unexpectedPasses: cases.filter((c) => c.status === "passed" && !c.expected).map((c) => c.id),
  };
}

/** True when the run should exit non-zero. */
export function isFailedRun(results: RunResults): boolean {
  return results.runError !== undefined || results.unexpectedFailures.length > 0 || results.unexpectedPasses.length > 0;
}

/** `<n> passed, <n> failed, <n> pending`. */
export function formatTally(counts: AreaTally): string {
  return `${counts.passed} passed, ${counts.failed} failed, ${counts.pending} pending`;
}

/** `<n> of 186 ported`. */
export function formatPorted(ported: number): string {
  return `${ported} of ${UPSTREAM_CASE_COUNT} ported`;
}

/** The printed summary of a run: one line per area, the port count, and the unexpected cases. */
export function formatSummary(results: RunResults): string {
  const lines: string[] = [`Results for ${results.support}:`];
  for (const area of AREAS) {
    const counts = results.areas[area];
    lines.push(`  ${`${area}:`.padEnd(15)}${counts ? formatTally(counts) : "not run"}`);
  }
  lines.push(`  ${formatPorted(results.ported)}`);
  if (results.runError !== undefined) {
    // Every case left is a failure of this run; naming them all would bury the cause.
    lines.push(`  run error: ${results.runError.split("\n").join("\n    ")}`);
    lines.push(`  ${results.unexpectedFailures.length} case(s) failed or not run because of it`);
  } else {
    for (const id of results.unexpectedFailures) lines.push(`  UNEXPECTED FAILURE: ${id}`);
  }
  for (const id of results.unexpectedPasses) lines.push(`  UNEXPECTED PASS (remove it from known-failures.txt): ${id}`);
  lines.push(isFailedRun(results) ? "  => FAILED" : "  => OK (every failure is a known one)");
  return lines.join("\n");
}

/** One row of `RESULTS.md`: a support and, per area, a tally or why it did not run. */
export interface ResultsRow {
  readonly support: string;
  readonly cells: Partial<Record<Area, AreaTally | { notRun: string }>>;
}

/** Escapes a table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/**
 * `test/conformance/RESULTS.md`: date and commit, then one table with a row per support
 * and a column per area, each cell `<n> passed, <n> failed, <n> pending` or
 * `not run: <reason>` (docs/protocol.md#conformance).
 */
export function formatResultsMarkdown(input: { date: Date; commit: string; rows: readonly ResultsRow[] }): string {
  const header = `| support | ${AREAS.join(" | ")} |`;
  const rule = `|---|${AREAS.map(() => "---").join("|")}|`;
  const rows = input.rows.map((row) => {
    const cells = AREAS.map((area) => {
      const value = row.cells[area];
      if (value === undefined) return "not run: area not selected";
      return "notRun" in value ? `not run: ${cell(value.notRun)}` : formatTally(value);
    });
    return `| ${cell(row.support)} | ${cells.join(" | ")} |`;
  });
  return ["# Conformance results", "", `Date: ${input.date.toISOString()}`, `Commit: ${input.commit}`, "", header, rule, ...rows, ""].join("\n");
}

/**
 * The unexpected failures of a run as `known-failures.txt` lines under the support's
 * section, each with the first line of its error as a draft reason to edit.
 */
export function formatKnownFailureDraft(results: RunResults): string {
  const lines = [`[${results.support}]`];
  for (const result of results.cases) {
    if (result.status !== "failed" || result.expected) continue;
    const reason = (result.error ?? "failed").split("\n")[0]?.trim().slice(0, 160) ?? "failed";
    lines.push(`${result.id} | ${reason}`);
  }
  return lines.join("\n");
}
