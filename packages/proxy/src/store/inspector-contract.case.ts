import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StoreInspector } from "./inspector.js";
import { type AnyValue, LOCAL_WRITER, type Store } from "./types.js";

/** A store made fresh for one test, with how to open an inspector on it and how to dispose of both. */
export interface InspectorUnderTest {
  readonly store: Store;
  /** Opens an inspector on what `store` writes (the admin port opens it beside the running store). */
  openInspector(): Promise<StoreInspector>;
  /** Closes the store (the inspector is closed by the suite) and removes what it left behind. */
  cleanup(): Promise<void>;
}

const any = (typeUrl: string, ...bytes: number[]): AnyValue => ({ typeUrl, value: new Uint8Array(bytes) });

/**
 * The behaviour contract of every {@link StoreInspector}, as a `node:test` suite: state
 * is written through the store's ports, then read back through the inspector, the way
 * the admin API reads a running proxy's store. Ids are listed in code-point order on
 * every store (whatever a database's collation says), by prefix and page.
 */
export function runInspectorContract(name: string, make: () => Promise<InspectorUnderTest>): void {
  async function withInspector(body: (store: Store, inspector: StoreInspector) => Promise<void>): Promise<void> {
    const subject = await make();
    let inspector: StoreInspector | undefined;
    try {
      inspector = await subject.openInspector();
      await body(subject.store, inspector);
    } finally {
      await inspector?.close();
      await subject.cleanup();
    }
  }

  // Code-point order: upper case before lower, "a" before "a-1" before "aa", non-ASCII last.
  const IDS = ["b", "aa", "é", "a", "B", "a-1", "a|b"];
  const SORTED = ["B", "a", "a-1", "aa", "a|b", "b", "é"];

  describe(`store inspector contract: ${name}`, () => {
    it("lists value entity ids of one persistence id in code-point order, by prefix and page", () =>
      withInspector(async (store, inspector) => {
        for (const id of IDS) await store.writeValue({ kind: "update", persistenceId: "counter", entityId: id, value: any("t/V", 1), writer: LOCAL_WRITER });
        await store.writeValue({ kind: "update", persistenceId: "counters", entityId: "x", value: any("t/V", 1), writer: LOCAL_WRITER });
        await store.writeValue({ kind: "update", persistenceId: "counter", entityId: "gone", value: any("t/V", 1), writer: LOCAL_WRITER });
        await store.writeValue({ kind: "delete", persistenceId: "counter", entityId: "gone", writer: LOCAL_WRITER });
        assert.deepEqual(await inspector.listEntityIds("value", "counter", { prefix: "", limit: 100 }), SORTED);
        assert.deepEqual(await inspector.listEntityIds("value", "counter", { prefix: "a", limit: 100 }), ["a", "a-1", "aa", "a|b"]);
        assert.deepEqual(await inspector.listEntityIds("value", "counter", { prefix: "a", limit: 2 }), ["a", "a-1"]);
        assert.deepEqual(await inspector.listEntityIds("value", "counter", { prefix: "a", after: "a-1", limit: 2 }), ["aa", "a|b"]);
        assert.deepEqual(await inspector.listEntityIds("value", "counter", { prefix: "", after: "b", limit: 10 }), ["é"]);
        assert.deepEqual(await inspector.listEntityIds("value", "counter", { prefix: "z", limit: 10 }), []);
        assert.deepEqual(await inspector.listEntityIds("value", "nobody", { prefix: "", limit: 10 }), []);
        // Listing another table of the same persistence id finds nothing.
        assert.deepEqual(await inspector.listEntityIds("crdt", "counter", { prefix: "", limit: 10 }), []);
      }));

    it("lists CRDT entity ids the same way, without deleted ones", () =>
      withInspector(async (store, inspector) => {
        for (const id of IDS) await store.putCrdt("presence", id, new Uint8Array([1]));
        await store.putCrdt("presence", "gone", new Uint8Array([1]));
        await store.putCrdt("presence", "gone", undefined);
        assert.deepEqual(await inspector.listEntityIds("crdt", "presence", { prefix: "", limit: 100 }), SORTED);
        assert.deepEqual(await inspector.listEntityIds("crdt", "presence", { prefix: "a", after: "a", limit: 2 }), ["a-1", "aa"]);
      }));

    it("lists the entity ids of journals under one persistence id, not of a persistence id it is a prefix of", () =>
      withInspector(async (store, inspector) => {
        for (const id of IDS) await store.append({ journalId: `cart|${id}`, tag: "cart", firstSeq: 1, events: [any("t/E", 1)], writer: LOCAL_WRITER });
        await store.append({ journalId: "cart|a", tag: "cart", firstSeq: 2, events: [any("t/E", 2), any("t/E", 3)], writer: LOCAL_WRITER });
        await store.append({ journalId: "carts|x", tag: "carts", firstSeq: 1, events: [any("t/E", 1)], writer: LOCAL_WRITER });
        assert.deepEqual(await inspector.listEntityIds("journal", "cart", { prefix: "", limit: 100 }), SORTED);
        assert.deepEqual(await inspector.listEntityIds("journal", "cart", { prefix: "a", limit: 3 }), ["a", "a-1", "aa"]);
        assert.deepEqual(await inspector.listEntityIds("journal", "cart", { prefix: "a", after: "aa", limit: 3 }), ["a|b"]);
        assert.deepEqual(await inspector.listEntityIds("journal", "carts", { prefix: "", limit: 10 }), ["x"]);
        assert.deepEqual(await inspector.listEntityIds("journal", "car", { prefix: "", limit: 10 }), []);
      }));

    it("reads a journal from a sequence number, in order, with the time each event was written", () =>
      withInspector(async (store, inspector) => {
        const before = Date.now();
        await store.append({ journalId: "cart|c1", tag: "cart", firstSeq: 1, events: [any("t/A", 1), any("t/B", 2)], writer: LOCAL_WRITER });
        await store.append({
          journalId: "cart|c1",
          tag: "cart",
          firstSeq: 3,
          events: [any("t/C", 3), any("t/D", 4)],
          snapshot: any("t/S", 9),
          writer: LOCAL_WRITER,
        });
        const after = Date.now();
        const all = await inspector.readJournal("cart|c1", 1, 100);
        assert.deepEqual(
          all.map((e) => [e.seq, e.payload.typeUrl, [...e.payload.value]]),
          [
            [1, "t/A", [1]],
            [2, "t/B", [2]],
            [3, "t/C", [3]],
            [4, "t/D", [4]],
          ],
        );
        for (const event of all) {
          assert.equal(typeof event.writtenAt, "number");
          // Allow a second of clock skew between the database server and this process.
          assert.ok((event.writtenAt ?? 0) >= before - 1000 && (event.writtenAt ?? 0) <= after + 1000, `written at ${event.writtenAt}`);
        }
        assert.deepEqual(
          (await inspector.readJournal("cart|c1", 2, 2)).map((e) => e.seq),
          [2, 3],
        );
        assert.deepEqual(
          (await inspector.readJournal("cart|c1", 4, 10)).map((e) => e.seq),
          [4],
        );
        assert.deepEqual(await inspector.readJournal("cart|c1", 5, 10), []);
        assert.deepEqual(await inspector.readJournal("cart|nobody", 1, 10), []);
      }));

    it("sees what the store writes after the inspector opened, and hands out copies", () =>
      withInspector(async (store, inspector) => {
        assert.deepEqual(await inspector.listEntityIds("value", "late", { prefix: "", limit: 10 }), []);
        await store.writeValue({ kind: "update", persistenceId: "late", entityId: "v1", value: any("t/V", 1), writer: LOCAL_WRITER });
        await store.append({ journalId: "late|e1", tag: "late", firstSeq: 1, events: [any("t/E", 7)], writer: LOCAL_WRITER });
        assert.deepEqual(await inspector.listEntityIds("value", "late", { prefix: "", limit: 10 }), ["v1"]);
        const [event] = await inspector.readJournal("late|e1", 1, 1);
        assert.ok(event !== undefined);
        event.payload.value[0] = 99;
        assert.deepEqual([...((await inspector.readJournal("late|e1", 1, 1))[0]?.payload.value ?? [])], [7]);
      }));
  });
}
