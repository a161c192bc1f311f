import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, SwitchboardError } from "../errors/index.js";
import { type AnyValue, LOCAL_WRITER, type Store, type ValueWrite } from "./types.js";

/**
 * The value-change cases of the store contract (the change logs that feed consumers of
 * value-entity changes), run by `runStoreContract` for every adapter. Each case gets a
 * fresh store.
 */
export function valueChangeContractCases(withStore: (body: (store: Store) => Promise<void>) => Promise<void>): void {
  describe("value changes", () => {
    it("records a write made with recordChange, at positions 1, 2, 3 per persistence id, and no other write", () =>
      withStore(async (store) => {
        assert.deepEqual(await store.valueChanges("counters", 0, 10), []);
        await store.writeValue(recorded(update("counters", "a", "1")));
        await store.writeValue(update("counters", "b", "not recorded"));
        await store.writeValue(recorded(update("carts", "x", "cart")));
        await store.writeValue(recorded(update("counters", "a", "2")));
        await store.writeValue(recorded({ kind: "delete", persistenceId: "counters", entityId: "a", writer: LOCAL_WRITER }));
        const changes = await store.valueChanges("counters", 0, 10);
        assert.deepEqual(
          changes.map((c) => [c.position, c.entityId, c.value?.typeUrl, text(c.value?.value)]),
          [
            [1, "a", "t/Counter", "1"],
            [2, "a", "t/Counter", "2"],
            [3, "a", undefined, undefined],
          ],
        );
        for (const change of changes) assert.ok(Number.isSafeInteger(change.changedAt) && change.changedAt > 0, "changedAt");
        assert.deepEqual(
          (await store.valueChanges("carts", 0, 10)).map((c) => [c.position, c.entityId, text(c.value?.value)]),
          [[1, "x", "cart"]],
        );
        // The value itself is written as without recordChange.
        assert.equal(await store.getValue("counters", "a"), undefined);
        assert.equal(text((await store.getValue("counters", "b"))?.value), "not recorded");
      }));

    it("reads after a position, at most limit changes, so a consumer can page", () =>
      withStore(async (store) => {
        for (const n of ["1", "2", "3", "4", "5"]) await store.writeValue(recorded(update("p", `e${n}`, n)));
        assert.deepEqual(
          (await store.valueChanges("p", 2, 2)).map((c) => c.position),
          [3, 4],
        );
        assert.deepEqual(
          (await store.valueChanges("p", 4, 10)).map((c) => text(c.value?.value)),
          ["5"],
        );
        assert.deepEqual(await store.valueChanges("p", 5, 10), []);
        assert.deepEqual(await store.valueChanges("p", 0, 0), []);
      }));

    it("gives concurrent recorded writes distinct, gap-free positions in call order", () =>
      withStore(async (store) => {
        await Promise.all(Array.from({ length: 50 }, (_, i) => store.writeValue(recorded(update("p", `e${i % 5}`, String(i))))));
        const changes = await store.valueChanges("p", 0, 100);
        assert.deepEqual(
          changes.map((c) => c.position),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.deepEqual(
          changes.map((c) => text(c.value?.value)),
          Array.from({ length: 50 }, (_, i) => String(i)),
        );
      }));

    it("records nothing for a write the writer token refuses", () =>
      withStore(async (store) => {
        const stale = { lease: "shard/1", token: 7 };
        await assert.rejects(store.writeValue(recorded({ ...update("p", "e", "fenced out"), writer: stale })), (err: unknown) => {
          assert.ok(err instanceof SwitchboardError);
          assert.equal(err.code, Code.FailedPrecondition);
          return true;
        });
        assert.deepEqual(await store.valueChanges("p", 0, 10), []);
      }));

    it("prunes up to a position but keeps the newest change, so positions keep counting", () =>
      withStore(async (store) => {
        for (const n of ["1", "2", "3"]) await store.writeValue(recorded(update("p", "e", n)));
        await store.pruneValueChanges("p", 2);
        assert.deepEqual(
          (await store.valueChanges("p", 0, 10)).map((c) => c.position),
          [3],
        );
        await store.pruneValueChanges("p", 100);
        assert.deepEqual(
          (await store.valueChanges("p", 0, 10)).map((c) => c.position),
          [3],
        );
        await store.writeValue(recorded(update("p", "e", "4")));
        assert.deepEqual(
          (await store.valueChanges("p", 0, 10)).map((c) => [c.position, text(c.value?.value)]),
          [
            [3, "3"],
            [4, "4"],
          ],
        );
        await store.pruneValueChanges("never", 5);
      }));

    it("tells listeners of each recorded change once it is durable", () =>
      withStore(async (store) => {
        const heard: string[] = [];
        const stop = store.onValueChanged((persistenceId) => heard.push(persistenceId));
        await store.writeValue(recorded(update("p", "e", "1")));
        assert.deepEqual(heard, ["p"]);
        await store.writeValue(update("p", "e", "2"));
        assert.deepEqual(heard, ["p"], "a write without recordChange is not a change");
        stop();
        await store.writeValue(recorded(update("p", "e", "3")));
        assert.deepEqual(heard, ["p"]);
      }));

    it("refuses a negative position or limit with InvalidArgument", () =>
      withStore(async (store) => {
        for (const call of [() => store.valueChanges("p", -1, 10), () => store.valueChanges("p", 0, -1), () => store.pruneValueChanges("p", -1)]) {
          await assert.rejects(call(), (err: unknown) => {
            assert.ok(err instanceof SwitchboardError);
            assert.equal(err.code, Code.InvalidArgument);
            return true;
          });
        }
      }));
  });
}

function update(persistenceId: string, entityId: string, value: string): ValueWrite {
  const payload: AnyValue = { typeUrl: "t/Counter", value: new TextEncoder().encode(value) };
  return { kind: "update", persistenceId, entityId, value: payload, writer: LOCAL_WRITER };
}

function recorded(write: ValueWrite): ValueWrite {
  return { ...write, recordChange: true };
}

function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : new TextDecoder().decode(value);
}
