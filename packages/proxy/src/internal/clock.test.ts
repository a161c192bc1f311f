import assert from "node:assert/strict";
import { test } from "node:test";
import { createFakeClock, systemClock } from "./clock.js";

test("the fake clock fires due timers in order and only when advanced", () => {
  const clock = createFakeClock(100);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push("b"), 20);
  const a = clock.setTimeout(() => fired.push("a"), 10);
  const c = clock.setTimeout(() => fired.push("c"), 30);
  clock.setTimeout(() => fired.push("b2"), 20);
  assert.equal(clock.pendingTimers, 4);
  clock.advance(9);
  assert.deepEqual(fired, []);
  assert.equal(a.pending, true);
  clock.advance(11);
  assert.deepEqual(fired, ["a", "b", "b2"]);
  assert.equal(a.pending, false);
  assert.equal(clock.now(), 120);
  clock.clearTimeout(c);
  clock.advance(100);
  assert.deepEqual(fired, ["a", "b", "b2"]);
  assert.equal(clock.pendingTimers, 0);
});

test("a timer set by a firing timer fires in the same advance when it falls due", () => {
  const clock = createFakeClock();
  const at: number[] = [];
  clock.setTimeout(() => {
    at.push(clock.now());
    clock.setTimeout(() => at.push(clock.now()), 5);
  }, 5);
  clock.advance(10);
  assert.deepEqual(at, [5, 10]);
});

test("the system clock fires and clears real timers", async () => {
  const start = systemClock.now();
  let cleared = false;
  const never = systemClock.setTimeout(() => {
    cleared = true;
  }, 5);
  systemClock.clearTimeout(never);
  // System timers are unref'd: a referenced one keeps the test process alive meanwhile.
  const keepAlive = setInterval(() => {}, 1000);
  await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 10));
  clearInterval(keepAlive);
  assert.ok(systemClock.now() - start >= 9);
  assert.equal(cleared, false);
  assert.equal(never.pending, false);
});
