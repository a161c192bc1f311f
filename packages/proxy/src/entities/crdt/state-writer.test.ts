import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, SwitchboardError } from "../../errors/index.js";
import { createStateWriter } from "./state-writer.js";

/** A store whose writes complete when the test says so. */
function manualStore() {
  const writes: { bytes: Uint8Array | undefined; done(): void; fail(e: unknown): void }[] = [];
  return {
    writes,
    write: (bytes: Uint8Array | undefined) =>
      new Promise<void>((resolve, reject) => {
        writes.push({ bytes, done: resolve, fail: reject });
      }),
  };
}
const tick = () => new Promise((r) => setImmediate(r));

describe("state writer", () => {
  it("writes changes of one tick once, and the changes made during a write once after it", async () => {
    let state = 0;
    const store = manualStore();
    const writer = createStateWriter(() => Uint8Array.of(state), store.write);
    const done: number[] = [];
    for (const v of [1, 2]) {
      state = v;
      void writer.durable(writer.changed()).then(() => done.push(v));
    }
    await tick();
    assert.deepEqual(
      store.writes.map((w) => w.bytes?.[0]),
      [2],
    );
    for (const v of [3, 4, 5]) {
      state = v;
      void writer.durable(writer.changed()).then(() => done.push(v));
    }
    await tick();
    assert.equal(store.writes.length, 1, "one write in flight at a time");
    assert.equal(writer.busy, true);
    store.writes[0]?.done();
    await tick();
    assert.deepEqual(done, [1, 2]);
    assert.deepEqual(
      store.writes.map((w) => w.bytes?.[0]),
      [2, 5],
    );
    store.writes[1]?.done();
    await tick();
    assert.deepEqual(done, [1, 2, 3, 4, 5]);
    assert.equal(writer.busy, false);
    await writer.durable();
  });

  it("writes undefined for a deleted state", async () => {
    const store = manualStore();
    const writer = createStateWriter(() => undefined, store.write);
    const durable = writer.durable(writer.changed());
    await tick();
    assert.equal(store.writes[0]?.bytes, undefined);
    store.writes[0]?.done();
    await durable;
  });

  it("fails every waiting and later caller once a write failed", async () => {
    const store = manualStore();
    const writer = createStateWriter(() => Uint8Array.of(1), store.write);
    const first = writer.durable(writer.changed());
    await tick();
    const second = writer.durable(writer.changed());
    store.writes[0]?.fail(new SwitchboardError("disk on fire", Code.Unavailable));
    await assert.rejects(first, /disk on fire/);
    await assert.rejects(second, /disk on fire/);
    await assert.rejects(writer.durable(writer.changed()), /disk on fire/);
    assert.equal(store.writes.length, 1);
    assert.equal(writer.busy, false);
  });
});
