/**
 * `npm run test:conformance`: the TCK against every language support (run.ts), one subtest
 * per support, then RESULTS.md. A support fails on an unexpected failure or pass, or when it
 * cannot be obtained from its registry, or when it ran no area at all.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runConformance } from "./run.js";

test("conformance matrix", { timeout: 25 * 60_000 }, async (t) => {
  const outcomes = await runConformance({ log: (line) => process.stderr.write(`${line}\n`) });
  for (const outcome of outcomes) {
    const notRun = Object.values(outcome.row.cells).every((cell) => cell !== undefined && "notRun" in cell);
    await t.test(outcome.support.title, () => {
      // Every support is wired, so one that ran nothing is a failure, not a skip.
      const reason = Object.values(outcome.row.cells)
        .map((c) => (c && "notRun" in c ? c.notRun : ""))
        .find((r) => r !== "");
      assert.equal(notRun, false, `${outcome.support.title} ran no area: ${reason ?? "not run"}`);
      assert.deepEqual(outcome.problems, []);
    });
  }
});
