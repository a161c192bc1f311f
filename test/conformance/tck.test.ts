/**
 * `npm run test:conformance`: the TCK against every language support (run.ts), one subtest
 * per support, then RESULTS.md. A support fails on an unexpected failure or pass, or when it
 * cannot be obtained from its registry; a support whose setup is not written yet is skipped.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runConformance } from "./run.js";

test("conformance matrix", { timeout: 25 * 60_000 }, async (t) => {
  const outcomes = await runConformance({ log: (line) => process.stderr.write(`${line}\n`) });
  for (const outcome of outcomes) {
    const notRun = Object.values(outcome.row.cells).every((cell) => cell !== undefined && "notRun" in cell);
    await t.test(outcome.support.title, (st) => {
      if (notRun && outcome.problems.length === 0) {
        st.skip(
          Object.values(outcome.row.cells)
            .map((c) => (c && "notRun" in c ? c.notRun : ""))
            .find((r) => r !== "") ?? "not run",
        );
        return;
      }
      assert.deepEqual(outcome.problems, []);
    });
  }
});
