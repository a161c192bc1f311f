import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CallAbort, type CallSignal } from "./call-signal.js";

describe("CallAbort", () => {
  it("runs each listener once, in order, with the reason kept, and nothing added after the abort", () => {
    const abort = new CallAbort();
    const seen: string[] = [];
    const object = { handleEvent: () => seen.push(`object:${String(abort.reason)}`) };
    abort.addEventListener("abort", () => seen.push("first"));
    abort.addEventListener("abort", object, { once: true });
    abort.addEventListener("abort", object); // the same listener twice is one listener, as with EventTarget
    assert.equal(abort.aborted, false);
    abort.abort("gone");
    abort.abort("again");
    assert.deepEqual(seen, ["first", "object:gone"]);
    assert.equal(abort.aborted, true);
    assert.equal(abort.reason, "gone");
    abort.addEventListener("abort", () => seen.push("late"));
    abort.abort("third");
    assert.deepEqual(seen, ["first", "object:gone"]);
  });

  it("forgets a removed listener, and one that throws does not stop the others", () => {
    const abort = new CallAbort();
    const seen: string[] = [];
    const removed = () => seen.push("removed");
    abort.addEventListener("abort", () => {
      throw new Error("a broken listener");
    });
    abort.addEventListener("abort", removed);
    abort.addEventListener("abort", () => seen.push("kept"));
    abort.removeEventListener("abort", removed);
    abort.abort(undefined);
    assert.deepEqual(seen, ["kept"]);
  });

  it("stands where an AbortSignal does, and an AbortSignal stands where it does", () => {
    const controller = new AbortController();
    const signals: CallSignal[] = [controller.signal, new CallAbort()];
    let calls = 0;
    for (const signal of signals) signal.addEventListener("abort", () => calls++, { once: true });
    controller.abort(new Error("x"));
    (signals[1] as CallAbort).abort(new Error("y"));
    assert.equal(calls, 2);
    assert.ok(signals.every((s) => s.aborted));
  });
});
