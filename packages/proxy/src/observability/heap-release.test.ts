import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ActiveEntity, createActiveEntities } from "../entities/session/active-entities.js";
import { createFakeClock } from "../internal/clock.js";
import { collectAllGarbage, createHeapRelease, type HeapReleaseOptions, watchActiveEntities } from "./heap-release.js";
import { createLogger } from "./logger.js";
import { NO_METRICS } from "./metrics.js";

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A release over a fake clock: 100 passivations arm it, 5 s of quiet run it; counts collections, GC runs and log lines. */
function setup(overrides: Partial<HeapReleaseOptions> = {}) {
  const clock = createFakeClock();
  const lines: string[] = [];
  let collections = 0;
  let counted = 0;
  let heap = 100 * 2 ** 20;
  const release = createHeapRelease({
    clock,
    logger: createLogger({ level: "debug", write: (line) => lines.push(line) }),
    metrics: {
      ...NO_METRICS,
      heapReleased: () => {
        counted++;
      },
    },
    passivations: 100,
    quietMs: 5000,
    collect: async () => {
      collections++;
      heap = 10 * 2 ** 20;
    },
    heapUsed: () => heap,
    ...overrides,
  });
  const passivate = (n: number) => {
    for (let i = 0; i < n; i++) release.passivated();
  };
  return {
    clock,
    release,
    lines,
    passivate,
    get collections() {
      return collections;
    },
    get counted() {
      return counted;
    },
  };
}

describe("heap release", () => {
  it("does nothing below the threshold, however long the proxy stays quiet", async () => {
    const t = setup();
    t.passivate(99);
    assert.equal(t.clock.pendingTimers, 0);
    t.clock.advance(3_600_000);
    await settle();
    assert.equal(t.collections, 0);
    assert.equal(t.release.releases, 0);
  });

  it("runs one GC once quiet for the whole quiet time after the wave, logs and counts it", async () => {
    const t = setup();
    t.passivate(100);
    t.clock.advance(4999);
    await settle();
    assert.equal(t.collections, 0, "not before the quiet time is over");
    t.clock.advance(1);
    await settle();
    assert.equal(t.collections, 1);
    assert.equal(t.release.releases, 1);
    assert.equal(t.counted, 1);
    const line = t.lines.find((l) => l.includes("released the heap"));
    assert.ok(line, t.lines.join("\n"));
    assert.match(line, /DEBUG/);
    assert.match(line, /heapUsedBeforeMb=100 heapUsedAfterMb=10 gcMs=0/);
    // Then it waits for the next wave: no timer, no second GC.
    assert.equal(t.clock.pendingTimers, 0);
    t.clock.advance(3_600_000);
    await settle();
    assert.equal(t.collections, 1);
  });

  it("never runs while commands keep starting, and runs once they stop", async () => {
    const t = setup();
    t.passivate(150);
    for (let second = 0; second < 60; second++) {
      t.clock.advance(1000);
      t.release.activity();
    }
    await settle();
    assert.equal(t.collections, 0);
    // The last command was at 60 s: not at 64.9 s, then at 65 s.
    t.clock.advance(4900);
    await settle();
    assert.equal(t.collections, 0);
    t.clock.advance(100);
    await settle();
    assert.equal(t.collections, 1);
    // Its timer followed the commands: at most one pending at any time.
    assert.equal(t.clock.pendingTimers, 0);
  });

  it("waits for the end of the wave: passivations still coming defer it", async () => {
    const t = setup();
    for (let i = 0; i < 40; i++) {
      t.passivate(10);
      t.clock.advance(1000);
    }
    await settle();
    // Armed at 10 s (the 100th passivation), the last at 39 s: quiet from 39 s to 44 s.
    assert.equal(t.collections, 0);
    t.clock.advance(3999);
    await settle();
    assert.equal(t.collections, 0);
    t.clock.advance(1);
    await settle();
    assert.equal(t.collections, 1);
  });

  it("counts the next wave from the release: a second GC needs as many passivations again", async () => {
    const t = setup();
    t.passivate(100);
    t.clock.advance(5000);
    await settle();
    t.passivate(99);
    t.clock.advance(60_000);
    await settle();
    assert.equal(t.collections, 1);
    t.passivate(1);
    t.clock.advance(5000);
    await settle();
    assert.equal(t.collections, 2);
    assert.equal(t.counted, 2);
  });

  it("ignores commands while not armed (no timer, nothing recorded)", async () => {
    const t = setup();
    for (let i = 0; i < 1000; i++) t.release.activity();
    assert.equal(t.clock.pendingTimers, 0);
    t.passivate(100);
    assert.equal(t.clock.pendingTimers, 1);
  });

  it("cancels an armed release on close", async () => {
    const t = setup();
    t.passivate(100);
    t.release.close();
    assert.equal(t.clock.pendingTimers, 0);
    t.clock.advance(60_000);
    t.passivate(500);
    t.clock.advance(60_000);
    await settle();
    assert.equal(t.collections, 0);
  });

  it("logs a GC that failed as a warning, does not count it, and tries again on the next wave", async () => {
    let fail = true;
    const t = setup({
      collect: async () => {
        if (fail) throw new Error("no inspector here");
      },
    });
    t.passivate(100);
    t.clock.advance(5000);
    await settle();
    assert.equal(t.release.releases, 0);
    assert.equal(t.counted, 0);
    assert.ok(
      t.lines.some((l) => /WARN .*could not release the heap error="no inspector here"/.test(l)),
      t.lines.join("\n"),
    );
    fail = false;
    t.passivate(100);
    t.clock.advance(5000);
    await settle();
    assert.equal(t.release.releases, 1);
  });
});

describe("watchActiveEntities", () => {
  it("counts every passivation (remove) and treats add and touch as commands", async () => {
    const t = setup({ passivations: 3 });
    const entities = watchActiveEntities(createActiveEntities(2), t.release);
    const made: ActiveEntity[] = [];
    const make = (): ActiveEntity => {
      const entity: ActiveEntity = {
        idle: true,
        passivate: async () => {
          // A session retires itself from the active set when passivated (the cap's eviction included).
          entities.remove(entity);
        },
      };
      made.push(entity);
      return entity;
    };
    for (let i = 0; i < 4; i++) entities.add(make());
    await settle();
    // A cap of 2: adding the 3rd and 4th evicted two.
    assert.equal(entities.count, 2);
    assert.equal(entities.max, 2);
    entities.remove(made[3] as ActiveEntity);
    assert.equal(entities.count, 1);
    // Three passivations arm it; a touch 4 s later keeps it waiting.
    t.clock.advance(4000);
    entities.touch(made[2] as ActiveEntity);
    t.clock.advance(4000);
    await settle();
    assert.equal(t.collections, 0);
    t.clock.advance(1000);
    await settle();
    assert.equal(t.collections, 1);
  });
});

describe("collectAllGarbage", () => {
  it("frees garbage the heap still holds", async () => {
    let garbage: object[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `entity-${i}`, list: [i, i + 1] }));
    const held = process.memoryUsage().heapUsed;
    assert.equal(garbage.length, 200_000);
    garbage = undefined;
    await collectAllGarbage();
    const after = process.memoryUsage().heapUsed;
    assert.ok(after < held - 10 * 2 ** 20, `heap used ${held} before, ${after} after`);
  });
});
