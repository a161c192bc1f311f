import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createCallStats, HISTORY_SECONDS } from "./call-stats.js";

describe("call statistics", () => {
  it("keeps one bucket per second with calls, errors and latency quantiles", () => {
    let now = 1_000_000;
    const stats = createCallStats(() => now);
    const key = stats.key("a.B", "M");
    for (let i = 0; i < 98; i++) stats.record(key, 0.001, false);
    stats.record(key, 0.5, true);
    stats.record(key, 0.5, true);
    now += 1000;
    stats.record(key, 0.002, false);
    const [method] = stats.snapshot();
    assert.equal(method?.seconds.length, HISTORY_SECONDS);
    const last = method?.seconds.at(-1);
    assert.equal(last?.t, 1_000_000);
    assert.equal(last?.calls, 100);
    assert.equal(last?.errors, 2);
    assert.ok(last?.p50 !== null && last!.p50! >= 0.001 && last!.p50! < 0.0015, String(last?.p50));
    assert.ok(last?.p99 !== null && last!.p99! >= 0.5 && last!.p99! < 0.71, String(last?.p99));
    assert.equal(method?.seconds.at(-2)?.calls, 0);
    assert.equal(method?.seconds.at(-2)?.p50, null);
  });

  it("forgets seconds older than the history and reuses their buckets", () => {
    let now = 5_000;
    const stats = createCallStats(() => now);
    const key = stats.key("a.B", "M");
    stats.record(key, 0.01, false);
    now += HISTORY_SECONDS * 1000;
    stats.record(key, 0.01, false);
    now += 1000;
    const seconds = stats.snapshot()[0]?.seconds ?? [];
    assert.equal(
      seconds.reduce((n, s) => n + s.calls, 0),
      1,
    );
  });
});
