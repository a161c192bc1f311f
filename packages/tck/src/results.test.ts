import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CatalogueCase } from "./catalogue.js";
import { buildResults, classify, formatPorted, formatResultsMarkdown, formatSummary, formatTally, isFailedRun } from "./results.js";

const entry = (name: string, area: CatalogueCase["area"] = "ES"): CatalogueCase => ({
  area,
  kind: "proxy",
  name,
  services: [],
  id: `${area} proxy: ${name}`,
  upstream: true,
});

describe("results", () => {
  test("a listed failure and an unported case are expected; an unlisted failure is not", () => {
    const known = new Map([["ES proxy: failures", "restart not honoured"]]);
    const listed = classify({ case: entry("failures"), status: "failed", ported: true, error: "boom", durationMs: 1 }, known);
    assert.equal(listed.expected, true);
    assert.equal(listed.knownReason, "restart not honoured");
    const unported = classify({ case: entry("HTTP API"), status: "failed", ported: false, durationMs: 0 }, known);
    assert.equal(unported.expected, true);
    assert.equal(unported.knownReason, "not ported");
    const unexpected = classify({ case: entry("state changes"), status: "failed", ported: true, durationMs: 1 }, known);
    assert.equal(unexpected.expected, false);
  });

  test("a listed case that passes is an unexpected pass; pending is always expected", () => {
    const known = new Map([["ES proxy: failures", "restart not honoured"]]);
    assert.equal(classify({ case: entry("failures"), status: "passed", ported: true, durationMs: 1 }, known).expected, false);
    assert.equal(classify({ case: entry("other"), status: "passed", ported: true, durationMs: 1 }, known).expected, true);
    assert.equal(classify({ case: entry("failures"), status: "pending", ported: true, durationMs: 0 }, known).expected, true);
  });

  test("buildResults tallies per area and lists the unexpected cases", () => {
    const results = buildResults({
      support: "go-support",
      startedAt: new Date(0),
      durationMs: 5,
      areas: ["ES", "VE"],
      known: new Map([["ES proxy: b", "reason"]]),
      ported: 186,
      outcomes: [
        { case: entry("a"), status: "passed", ported: true, durationMs: 1 },
        { case: entry("b"), status: "passed", ported: true, durationMs: 1 },
        { case: entry("c"), status: "failed", ported: true, durationMs: 1 },
        { case: entry("d", "VE"), status: "pending", ported: true, durationMs: 0 },
      ],
    });
    assert.deepEqual(results.areas, { ES: { passed: 2, failed: 1, pending: 0 }, VE: { passed: 0, failed: 0, pending: 1 } });
    assert.deepEqual(results.unexpectedPasses, ["ES proxy: b"]);
    assert.deepEqual(results.unexpectedFailures, ["ES proxy: c"]);
    assert.equal(isFailedRun(results), true);
    const summary = formatSummary(results);
    assert.match(summary, /ES: +2 passed, 1 failed, 0 pending/);
    assert.match(summary, /CRDT: +not run/);
    assert.match(summary, /186 of 186 ported/);
    assert.match(summary, /UNEXPECTED PASS \(remove it from known-failures.txt\): ES proxy: b/);
  });

  test("a run with only expected outcomes succeeds", () => {
    const results = buildResults({
      support: "x",
      startedAt: new Date(0),
      durationMs: 1,
      areas: ["ES"],
      known: new Map(),
      ported: 3,
      outcomes: [{ case: entry("a"), status: "failed", ported: false, durationMs: 0 }],
    });
    assert.equal(isFailedRun(results), false);
    assert.equal(formatPorted(3), "3 of 186 ported");
  });

  test("RESULTS.md: date, commit, then one table with a cell per area", () => {
    const text = formatResultsMarkdown({
      date: new Date("2026-11-29T10:00:00Z"),
      commit: "abc1234",
      rows: [
        {
          support: "go-support",
          cells: {
            Discovery: { passed: 2, failed: 0, pending: 0 },
            ES: { passed: 26, failed: 0, pending: 0 },
            VE: { passed: 24, failed: 0, pending: 0 },
            Action: { passed: 43, failed: 0, pending: 0 },
            CRDT: { passed: 80, failed: 8, pending: 0 },
            Eventing: { passed: 0, failed: 0, pending: 3 },
            "Shopping cart": { notRun: "no | cart" },
          },
        },
        { support: "python-support (PyPI cloudstate 0.1.1)", cells: {} },
      ],
    });
    assert.equal(
      text,
      [
        "# Conformance results",
        "",
        "Date: 2026-11-29T10:00:00.000Z",
        "Commit: abc1234",
        "",
        "| support | Discovery | ES | VE | Action | CRDT | Eventing | Shopping cart |",
        "|---|---|---|---|---|---|---|---|",
        "| go-support | 2 passed, 0 failed, 0 pending | 26 passed, 0 failed, 0 pending | 24 passed, 0 failed, 0 pending | 43 passed, 0 failed, 0 pending | 80 passed, 8 failed, 0 pending | 0 passed, 0 failed, 3 pending | not run: no \\| cart |",
        "| python-support (PyPI cloudstate 0.1.1) | not run: area not selected | not run: area not selected | not run: area not selected | not run: area not selected | not run: area not selected | not run: area not selected | not run: area not selected |",
        "",
      ].join("\n"),
    );
    assert.equal(formatTally({ passed: 1, failed: 2, pending: 3 }), "1 passed, 2 failed, 3 pending");
  });
});
