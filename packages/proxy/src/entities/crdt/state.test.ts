import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  bytesOf,
  deltaFor,
  intentArb,
  join,
  KINDS,
  modelApply,
  NODES,
  runSchedule,
  scheduleArb,
  testReplica,
  type View,
  viewOf,
} from "./arbitraries.fixture.js";
import { applyDelta, CRDT_OPS, type CrdtState, initDelta, mergeStates } from "./state.js";
import { decodeCrdtState, encodeCrdtState } from "./storage-format.js";

const RUNS = { numRuns: 150 };

/** Three reachable replicas of one type (each may be undefined if it never changed). */
function replicas(kind: (typeof KINDS)[number]) {
  return scheduleArb(kind, 3).map((steps) => runSchedule(steps, CRDT_OPS).finals);
}

for (const kind of KINDS) {
  describe(`${kind}: join`, () => {
    it("is commutative", () => {
      fc.assert(
        fc.property(replicas(kind), ([a, b]) => {
          assert.equal(bytesOf(join(a, b)), bytesOf(join(b, a)));
        }),
        RUNS,
      );
    });

    it("is associative", () => {
      fc.assert(
        fc.property(replicas(kind), ([a, b, c]) => {
          assert.equal(bytesOf(join(join(a, b), c)), bytesOf(join(a, join(b, c))));
        }),
        RUNS,
      );
    });

    it("is idempotent", () => {
      fc.assert(
        fc.property(replicas(kind), ([a, b]) => {
          assert.equal(bytesOf(join(a, a)), bytesOf(a));
          // Absorbing what one already merged changes nothing either.
          const ab = join(a, b);
          assert.equal(bytesOf(join(ab, b)), bytesOf(ab));
        }),
        RUNS,
      );
    });
  });

  describe(`${kind}: deltas`, () => {
    // A REVERSE or lower CUSTOM LWWRegister write is not an inflation (see lww-register.ts); the other changes all are.
    const options = { inflationary: true };

    it("joining a change's delta state gives the changed state", () => {
      fc.assert(
        fc.property(scheduleArb(kind, 3, options), intentArb(kind, 2, options), fc.nat(2), (steps, intent, who) => {
          const run = runSchedule(steps, CRDT_OPS);
          const state = run.finals[who];
          const replica = run.replicas[who];
          if (replica === undefined) return;
          const applied = applyDelta(state, deltaFor(state, intent, CRDT_OPS), replica);
          assert.equal(applied.kind, "applied");
          if (applied.kind !== "applied") return;
          assert.equal(bytesOf(join(state, applied.delta)), bytesOf(applied.state));
        }),
        RUNS,
      );
    });

    it("shipping every delta state converges to the join of the full states", () => {
      fc.assert(
        fc.property(scheduleArb(kind, 3, options), fc.infiniteStream(fc.nat()), (steps, order) => {
          const { finals, deltas } = runSchedule(steps, CRDT_OPS);
          const everything = finals.reduce<CrdtState | undefined>((acc, s) => join(acc, s), undefined);
          // Each replica receives every delta twice, in its own random order.
          const shuffled = () => {
            const list = [...deltas, ...deltas];
            for (let i = list.length - 1; i > 0; i--) {
              const j = (order.next().value as number) % (i + 1);
              [list[i], list[j]] = [list[j] as CrdtState, list[i] as CrdtState];
            }
            return list;
          };
          finals.forEach((state) => {
            const received = shuffled().reduce<CrdtState | undefined>((acc, d) => join(acc, d), state);
            assert.equal(bytesOf(received), bytesOf(everything));
          });
        }),
        RUNS,
      );
    });
  });

  describe(`${kind}: what the user function sees`, () => {
    it("applying the user function's deltas matches a plain model of its value", () => {
      fc.assert(
        fc.property(fc.array(intentArb(kind), { maxLength: 15 }), (intents) => {
          const replica = testReplica("solo", ["solo"], { t: 0n });
          let state: CrdtState | undefined;
          let model: View | undefined;
          for (const intent of intents) {
            const d = deltaFor(state, intent, CRDT_OPS);
            const applied = applyDelta(state, d, replica);
            assert.equal(applied.kind, "applied");
            if (applied.kind !== "applied") return;
            state = applied.state;
            model = modelApply(model, d);
            assert.deepEqual(viewOf(state, replica, CRDT_OPS), model);
            // A new stream's init shows the same value.
            assert.deepEqual(modelApply(undefined, initDelta(state, replica), "proxy"), model);
          }
        }),
        RUNS,
      );
    });
  });

  describe(`${kind}: storage format`, () => {
    it("round-trips every reachable state, canonically", () => {
      fc.assert(
        fc.property(replicas(kind), (states) => {
          const replica = testReplica(NODES[0], NODES, { t: 0n });
          for (const state of states) {
            if (state === undefined) continue;
            const bytes = encodeCrdtState(state);
            const back = decodeCrdtState(bytes, "test");
            assert.deepEqual(encodeCrdtState(back), bytes);
            assert.deepEqual(modelApply(undefined, initDelta(back, replica), "proxy"), modelApply(undefined, initDelta(state, replica), "proxy"));
            // The decoded state joins like the original.
            for (const other of states) {
              if (other !== undefined) assert.equal(bytesOf(mergeStates(back, other)), bytesOf(mergeStates(state, other)));
            }
          }
        }),
        RUNS,
      );
    });
  });
}
