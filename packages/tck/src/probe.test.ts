import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TckAssertionError } from "./assertion-error.js";
import { createProbe } from "./probe.js";

describe("probe", () => {
  test("next returns queued events in order", async () => {
    const probe = createProbe<number>();
    probe.push(1);
    probe.push(2);
    assert.equal(await probe.next("a number"), 1);
    assert.equal(await probe.next("a number"), 2);
    assert.equal(probe.size, 0);
  });

  test("next waits for an event pushed later", async () => {
    const probe = createProbe<string>();
    const waiting = probe.next("a string", 1000);
    setImmediate(() => probe.push("late"));
    assert.equal(await waiting, "late");
  });

  test("next fails with the awaited thing named after the timeout", async () => {
    const probe = createProbe<string>();
    const started = Date.now();
    await assert.rejects(probe.next("the reply", 50), (error: unknown) => {
      assert.ok(error instanceof TckAssertionError);
      assert.match(error.message, /timed out after 50 ms waiting for the reply/);
      return true;
    });
    assert.ok(Date.now() - started >= 45);
  });

  test("an event pushed after a timeout is kept for the next reader", async () => {
    const probe = createProbe<number>();
    await assert.rejects(probe.next("x", 10));
    probe.push(7);
    assert.equal(await probe.next("x", 10), 7);
  });

  test("concurrent readers are served in order", async () => {
    const probe = createProbe<number>();
    const first = probe.next("x", 1000);
    const second = probe.next("x", 1000);
    probe.push(1);
    probe.push(2);
    assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  });

  test("expectNone passes when nothing arrives in the window", async () => {
    const probe = createProbe<number>();
    await probe.expectNone("calls", 10);
  });

  test("expectNone reports a queued or arriving event", async () => {
    const probe = createProbe<number>();
    probe.push(3);
    await assert.rejects(
      probe.expectNone("calls", 10, (n) => `call ${n}`),
      /expected no calls, got call 3/,
    );
    const pending = probe.expectNone("calls", 200, (n) => `call ${n}`);
    setTimeout(() => probe.push(4), 5);
    await assert.rejects(pending, /got call 4/);
  });

  test("drain empties the queue", () => {
    const probe = createProbe<number>();
    probe.push(1);
    probe.push(2);
    assert.deepEqual(probe.drain(), [1, 2]);
    assert.equal(probe.size, 0);
  });
});
