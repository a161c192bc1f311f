import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, SwitchboardError } from "../errors/index.js";
import { fencingContractCases } from "./fencing-contract.case.js";
import { topicContractCases } from "./topic-contract.case.js";
import { valueChangeContractCases } from "./value-change-contract.case.js";
import { type DurableTarget, killContractCase, reopenContractCase } from "./durable-contract.case.js";
import { type AnyValue, type JournalAppend, LOCAL_WRITER, type Store, type WriterToken } from "./types.js";

/** A store made fresh for one test, and how to dispose of it afterwards. */
export interface StoreUnderTest {
  readonly store: Store;
  /** Closes the store (it may already be closed) and removes whatever it left behind. */
  cleanup(): Promise<void>;
}

/** What an adapter offers beyond the ports every store has. */
export interface StoreContractOptions {
  /** The store has `cluster` ports (leases, membership) and fences writes on its leases. */
  readonly cluster?: boolean;
  /** The store is durable: makes a fresh one that a child process can open by name, for the kill -9 case. */
  readonly durable?: () => Promise<DurableTarget>;
}

/**
 * The behaviour contract every {@link Store} adapter must pass, as a `node:test`
 * suite. Each adapter's own test calls it once with a factory; every case gets a
 * fresh, empty store from `makeStore` and disposes of it with `cleanup`.
 *
 * The in-memory store is the reference: when an adapter and this suite disagree,
 * the suite (and the memory store) say what the ports mean.
 *
 * @example
 * runStoreContract("memory", async () => ({ store: createMemoryStore(), cleanup: async () => {} }));
 */
export function runStoreContract(name: string, makeStore: () => Promise<StoreUnderTest>, options: StoreContractOptions = {}): void {
  /** Runs `body` against a fresh store, always cleaning up. */
  async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
    const { store, cleanup } = await makeStore();
    try {
      await body(store);
    } finally {
      await cleanup();
    }
  }

  describe(`store contract: ${name}`, () => {
    it("has a description", () =>
      withStore(async (store) => {
        assert.equal(typeof store.description, "string");
        assert.ok(store.description.length > 0);
      }));

    describe("value entities", () => {
      it("returns undefined for a value never stored", () =>
        withStore(async (store) => {
          assert.equal(await store.getValue("cart", "c1"), undefined);
        }));

      it("returns what was stored, and the latest update wins", () =>
        withStore(async (store) => {
          await store.writeValue(update("cart", "c1", any("type.test/Cart", [1, 2, 3])));
          assertAny(await store.getValue("cart", "c1"), any("type.test/Cart", [1, 2, 3]));
          await store.writeValue(update("cart", "c1", any("type.test/Cart2", [4])));
          assertAny(await store.getValue("cart", "c1"), any("type.test/Cart2", [4]));
        }));

      it("deletes, tolerates deleting nothing, and stores again after a delete", () =>
        withStore(async (store) => {
          await store.writeValue(update("cart", "c1", any("t/A", [1])));
          await store.writeValue({ kind: "delete", persistenceId: "cart", entityId: "c1", writer: LOCAL_WRITER });
          assert.equal(await store.getValue("cart", "c1"), undefined);
          await store.writeValue({ kind: "delete", persistenceId: "cart", entityId: "c1", writer: LOCAL_WRITER });
          await store.writeValue({ kind: "delete", persistenceId: "never", entityId: "stored", writer: LOCAL_WRITER });
          await store.writeValue(update("cart", "c1", any("t/B", [2])));
          assertAny(await store.getValue("cart", "c1"), any("t/B", [2]));
        }));

      it("keeps persistence ids and entity ids apart, including ids with | and -", () =>
        withStore(async (store) => {
          // Pairs that a naive "pid|eid" or "pid-eid" key would merge.
          const keys: Array<[string, string]> = [
            ["a", "b|c"],
            ["a|b", "c"],
            ["a-b", "c"],
            ["a", "b-c"],
            ["a", "b"],
            ["b", "a"],
            ["", "ab"],
            ["ab", ""],
          ];
          for (const [i, [pid, eid]] of keys.entries()) {
            await store.writeValue(update(pid, eid, any(`t/${i}`, [i])));
          }
          for (const [i, [pid, eid]] of keys.entries()) {
            assertAny(await store.getValue(pid, eid), any(`t/${i}`, [i]), `value ${pid}/${eid}`);
          }
          await store.writeValue({ kind: "delete", persistenceId: "a", entityId: "b|c", writer: LOCAL_WRITER });
          assert.equal(await store.getValue("a", "b|c"), undefined);
          assertAny(await store.getValue("a|b", "c"), any("t/1", [1]));
          assertAny(await store.getValue("a", "b"), any("t/4", [4]));
          assert.equal(await store.getValue("a", "c"), undefined);
        }));

      it("stores an empty payload as empty bytes, not as a missing value", () =>
        withStore(async (store) => {
          await store.writeValue(update("p", "e", any("t/Empty", [])));
          const value = await store.getValue("p", "e");
          assert.ok(value !== undefined);
          assertAny(value, any("t/Empty", []));
        }));

      it("copies bytes on the way in and on the way out", () =>
        withStore(async (store) => {
          const bytes = new Uint8Array([1, 2, 3]);
          const write = store.writeValue(update("p", "e", { typeUrl: "t/X", value: bytes }));
          bytes[0] = 99; // before the write is even durable
          await write;
          bytes[1] = 99;
          const first = await store.getValue("p", "e");
          assertAny(first, any("t/X", [1, 2, 3]));
          first?.value.fill(7);
          assertAny(await store.getValue("p", "e"), any("t/X", [1, 2, 3]));
        }));

      it("round-trips a 1 MiB payload", () =>
        withStore(async (store) => {
          const big = pattern(1024 * 1024, 7);
          await store.writeValue(update("p", "big", { typeUrl: "t/Big", value: big }));
          assertAny(await store.getValue("p", "big"), { typeUrl: "t/Big", value: pattern(1024 * 1024, 7) });
        }));

      it("lands many concurrent writes to different entities", () =>
        withStore(async (store) => {
          await Promise.all(range(200).map((i) => store.writeValue(update("many", `e${i}`, any("t/N", [i % 256])))));
          for (const i of range(200)) assertAny(await store.getValue("many", `e${i}`), any("t/N", [i % 256]));
        }));

      it("applies concurrent writes to one entity in call order", () =>
        withStore(async (store) => {
          await Promise.all([
            store.writeValue(update("p", "e", any("t/1", [1]))),
            store.writeValue({ kind: "delete", persistenceId: "p", entityId: "e", writer: LOCAL_WRITER }),
            store.writeValue(update("p", "e", any("t/3", [3]))),
          ]);
          assertAny(await store.getValue("p", "e"), any("t/3", [3]));
        }));
    });

    describe("journal", () => {
      it("starts empty", () =>
        withStore(async (store) => {
          assert.equal(await store.highestSeq("cart|c1"), 0);
          assert.deepEqual(await store.readEvents("cart|c1", 0), []);
          assert.equal(await store.loadSnapshot("cart|c1"), undefined);
        }));

      it("appends and reads events in order, after a given seq", () =>
        withStore(async (store) => {
          await store.append(appendOf("cart|c1", 1, 3));
          await store.append(appendOf("cart|c1", 4, 2));
          assert.equal(await store.highestSeq("cart|c1"), 5);
          assertEvents(await store.readEvents("cart|c1", 0), "cart|c1", 1, 5);
          assertEvents(await store.readEvents("cart|c1", 3), "cart|c1", 4, 5);
          assert.deepEqual(await store.readEvents("cart|c1", 5), []);
          assert.deepEqual(await store.readEvents("cart|c1", 99), []);
        }));

      it("keeps the latest snapshot, at the seq of the last event of its append", () =>
        withStore(async (store) => {
          await store.append(appendOf("cart|c1", 1, 2));
          assert.equal(await store.loadSnapshot("cart|c1"), undefined);
          await store.append({ ...appendOf("cart|c1", 3, 3), snapshot: any("t/Snap", [5]), writer: LOCAL_WRITER });
          let snapshot = await store.loadSnapshot("cart|c1");
          assert.equal(snapshot?.seq, 5);
          assertAny(snapshot?.payload, any("t/Snap", [5]));
          // An append without a snapshot leaves the previous one in place.
          await store.append(appendOf("cart|c1", 6, 1));
          snapshot = await store.loadSnapshot("cart|c1");
          assert.equal(snapshot?.seq, 5);
          await store.append({ ...appendOf("cart|c1", 7, 1), snapshot: any("t/Snap2", [7, 7]), writer: LOCAL_WRITER });
          snapshot = await store.loadSnapshot("cart|c1");
          assert.equal(snapshot?.seq, 7);
          assertAny(snapshot?.payload, any("t/Snap2", [7, 7]));
          assert.equal(await store.highestSeq("cart|c1"), 7);
        }));

      it("rejects a duplicate seq with ABORTED and writes nothing of the failed append", () =>
        withStore(async (store) => {
          await store.append(appendOf("cart|c1", 1, 2, "first"));
          await assertCode(store.append({ ...appendOf("cart|c1", 1, 3, "second"), snapshot: any("t/Lost", [1]), writer: LOCAL_WRITER }), Code.Aborted);
          assert.equal(await store.highestSeq("cart|c1"), 2);
          assertEvents(await store.readEvents("cart|c1", 0), "cart|c1", 1, 2, "first");
          assert.equal(await store.loadSnapshot("cart|c1"), undefined);
          assert.equal((await store.eventsByTag("tag", 0, 100)).length, 2);
        }));

      it("rejects an overlapping append and a gap with ABORTED", () =>
        withStore(async (store) => {
          await store.append({ ...appendOf("j", 1, 3), snapshot: any("t/S", [3]), writer: LOCAL_WRITER });
          await assertCode(store.append({ ...appendOf("j", 3, 2, "overlap"), snapshot: any("t/S", [4]), writer: LOCAL_WRITER }), Code.Aborted);
          await assertCode(store.append(appendOf("j", 5, 1, "gap")), Code.Aborted);
          await assertCode(store.append(appendOf("empty", 2, 1, "gap")), Code.Aborted);
          assert.equal(await store.highestSeq("j"), 3);
          assert.equal(await store.highestSeq("empty"), 0);
          assertEvents(await store.readEvents("j", 0), "j", 1, 3);
          assert.equal((await store.loadSnapshot("j"))?.seq, 3);
          // The journal still accepts the right next seq.
          await store.append(appendOf("j", 4, 1));
          assert.equal(await store.highestSeq("j"), 4);
        }));

      it("rejects an append without events, or with a first seq below 1, as INVALID_ARGUMENT", () =>
        withStore(async (store) => {
          await assertCode(store.append({ journalId: "j", tag: "t", firstSeq: 1, events: [], writer: LOCAL_WRITER }), Code.InvalidArgument);
          await assertCode(store.append(appendOf("j", 0, 1)), Code.InvalidArgument);
          await assertCode(store.append(appendOf("j", 1.5, 1)), Code.InvalidArgument);
          assert.equal(await store.highestSeq("j"), 0);
        }));

      it("keeps journals apart, including ids with | and -", () =>
        withStore(async (store) => {
          const ids = ["a|b-c", "a-b|c", "a|b", "a|b|c", "a"];
          for (const [i, id] of ids.entries()) {
            await store.append({ ...appendOf(id, 1, i + 1, id), snapshot: any(`t/${id}`, [i]), writer: LOCAL_WRITER });
          }
          for (const [i, id] of ids.entries()) {
            assert.equal(await store.highestSeq(id), i + 1, id);
            assertEvents(await store.readEvents(id, 0), id, 1, i + 1, id);
            const snapshot = await store.loadSnapshot(id);
            assert.equal(snapshot?.seq, i + 1);
            assertAny(snapshot?.payload, any(`t/${id}`, [i]));
          }
        }));

      it("lands many concurrent appends to different journals", () =>
        withStore(async (store) => {
          const journals = range(200).map((i) => `many|${i}`);
          await Promise.all(
            journals.map((id, i) => store.append(i % 2 === 0 ? { ...appendOf(id, 1, 2), snapshot: any("t/S", [i % 256]) } : appendOf(id, 1, 2))),
          );
          await Promise.all(journals.map((id) => store.append(appendOf(id, 3, 1))));
          for (const [i, id] of journals.entries()) {
            assert.equal(await store.highestSeq(id), 3, id);
            assertEvents(await store.readEvents(id, 0), id, 1, 3);
            const snapshot = await store.loadSnapshot(id);
            if (i % 2 === 0) assert.equal(snapshot?.seq, 2);
            else assert.equal(snapshot, undefined);
          }
          assert.equal((await store.eventsByTag("tag", 0, 10_000)).length, 600);
        }));

      it("lets exactly one of several concurrent appends at the same seq win", () =>
        withStore(async (store) => {
          const contenders = range(10).map((i) => ({ ...appendOf("race", 1, 2, `w${i}`), snapshot: any(`t/w${i}`, [i]) }));
          const results = await Promise.allSettled(contenders.map((a) => store.append(a)));
          const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
          assert.equal(winners.length, 1, "exactly one winner");
          for (const r of results) {
            if (r.status === "rejected") assertSwitchboardCode(r.reason, Code.Aborted);
          }
          const winner = `w${winners[0]}`;
          assertEvents(await store.readEvents("race", 0), "race", 1, 2, winner);
          assertAny((await store.loadSnapshot("race"))?.payload, any(`t/${winner}`, [winners[0] ?? -1]));
          assert.equal((await store.eventsByTag("tag", 0, 100)).length, 2);
        }));

      it("does not fail the other writes issued alongside a conflicting append", () =>
        withStore(async (store) => {
          await store.append(appendOf("taken", 1, 1));
          const results = await Promise.allSettled([
            store.append(appendOf("ok1", 1, 1)),
            store.append(appendOf("taken", 1, 1, "dup")),
            store.writeValue(update("p", "e", any("t/V", [1]))),
            store.append(appendOf("ok2", 1, 2)),
            store.putCrdt("p", "e", new Uint8Array([1])),
            store.saveOffset("consumer", 3),
          ]);
          assert.deepEqual(
            results.map((r) => r.status),
            ["fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled", "fulfilled"],
          );
          const failed = results[1];
          if (failed?.status === "rejected") assertSwitchboardCode(failed.reason, Code.Aborted);
          assert.equal(await store.highestSeq("ok1"), 1);
          assert.equal(await store.highestSeq("ok2"), 2);
          assertEvents(await store.readEvents("taken", 0), "taken", 1, 1);
          assertAny(await store.getValue("p", "e"), any("t/V", [1]));
          assertBytes(await store.getCrdt("p", "e"), [1]);
          assert.equal(await store.loadOffset("consumer"), 3);
        }));

      it("accepts consecutive appends issued concurrently", () =>
        withStore(async (store) => {
          // A writer that pipelines appends without awaiting each: they apply in call order.
          await Promise.all([store.append(appendOf("pipe", 1, 2)), store.append(appendOf("pipe", 3, 2))]);
          assertEvents(await store.readEvents("pipe", 0), "pipe", 1, 4);
        }));

      it("copies event and snapshot bytes on the way in and on the way out", () =>
        withStore(async (store) => {
          const event = new Uint8Array([1, 2]);
          const snap = new Uint8Array([3, 4]);
          const pending = store.append({
            journalId: "j",
            tag: "t",
            firstSeq: 1,
            events: [{ typeUrl: "t/E", value: event }],
            snapshot: { typeUrl: "t/S", value: snap },
            writer: LOCAL_WRITER,
          });
          event.fill(0);
          snap.fill(0);
          await pending;
          const [read] = await store.readEvents("j", 0);
          assertAny(read?.payload, any("t/E", [1, 2]));
          read?.payload.value.fill(9);
          assertAny((await store.readEvents("j", 0))[0]?.payload, any("t/E", [1, 2]));
          const snapshot = await store.loadSnapshot("j");
          snapshot?.payload.value.fill(9);
          assertAny((await store.loadSnapshot("j"))?.payload, any("t/S", [3, 4]));
          const [tagged] = await store.eventsByTag("t", 0, 1);
          tagged?.payload.value.fill(9);
          assertAny((await store.eventsByTag("t", 0, 1))[0]?.payload, any("t/E", [1, 2]));
        }));

      it("round-trips 1 MiB events and snapshots, and empty payloads", () =>
        withStore(async (store) => {
          const big = pattern(1024 * 1024, 3);
          await store.append({
            journalId: "big",
            tag: "t",
            firstSeq: 1,
            events: [{ typeUrl: "t/Big", value: big }, any("t/Empty", [])],
            snapshot: { typeUrl: "t/BigSnap", value: big },
            writer: LOCAL_WRITER,
          });
          const events = await store.readEvents("big", 0);
          assert.equal(events.length, 2);
          assertAny(events[0]?.payload, { typeUrl: "t/Big", value: pattern(1024 * 1024, 3) });
          assertAny(events[1]?.payload, any("t/Empty", []));
          assertAny((await store.loadSnapshot("big"))?.payload, { typeUrl: "t/BigSnap", value: pattern(1024 * 1024, 3) });
        }));
    });

    describe("events by tag", () => {
      it("reads events of one tag across journals in append order, with increasing global offsets", () =>
        withStore(async (store) => {
          await store.append({ ...appendOf("cart|a", 1, 2, "a"), tag: "cart", writer: LOCAL_WRITER });
          await store.append({ ...appendOf("order|x", 1, 1, "x"), tag: "order", writer: LOCAL_WRITER });
          await store.append({ ...appendOf("cart|b", 1, 1, "b"), tag: "cart", writer: LOCAL_WRITER });
          await store.append({ ...appendOf("cart|a", 3, 1, "a"), tag: "cart", writer: LOCAL_WRITER });
          await store.append({ ...appendOf("order|x", 2, 1, "x"), tag: "order", writer: LOCAL_WRITER });

          const cart = await store.eventsByTag("cart", 0, 100);
          assert.deepEqual(
            cart.map((e) => [e.journalId, e.seq]),
            [
              ["cart|a", 1],
              ["cart|a", 2],
              ["cart|b", 1],
              ["cart|a", 3],
            ],
          );
          assertAny(cart[2]?.payload, eventPayload("b", 1));
          const order = await store.eventsByTag("order", 0, 100);
          assert.deepEqual(
            order.map((e) => [e.journalId, e.seq]),
            [
              ["order|x", 1],
              ["order|x", 2],
            ],
          );
          // Offsets are one global sequence: they interleave across tags in append order.
          const all = [...cart, ...order].sort((x, y) => x.offset - y.offset);
          assert.deepEqual(
            all.map((e) => `${e.journalId}#${e.seq}`),
            ["cart|a#1", "cart|a#2", "order|x#1", "cart|b#1", "cart|a#3", "order|x#2"],
          );
          assert.equal(new Set(all.map((e) => e.offset)).size, 6);
          for (const e of all) assert.ok(Number.isSafeInteger(e.offset) && e.offset > 0);
        }));

      it("reads after an offset and at most limit events, so a consumer can page", () =>
        withStore(async (store) => {
          for (const i of range(7)) {
            await store.append({ ...appendOf(`j${i % 3}`, Math.floor(i / 3) + 1, 1), tag: "paged", writer: LOCAL_WRITER });
            await store.append({ ...appendOf(`other${i}`, 1, 1), tag: "noise", writer: LOCAL_WRITER });
          }
          const everything = await store.eventsByTag("paged", 0, 100);
          assert.equal(everything.length, 7);
          const paged = [];
          let after = 0;
          for (;;) {
            const page = await store.eventsByTag("paged", after, 3);
            assert.ok(page.length <= 3);
            if (page.length === 0) break;
            paged.push(...page);
            after = page[page.length - 1]?.offset ?? after;
          }
          assert.deepEqual(
            paged.map((e) => e.offset),
            everything.map((e) => e.offset),
          );
          const third = everything[2]?.offset ?? 0;
          assert.deepEqual(
            (await store.eventsByTag("paged", third, 2)).map((e) => e.offset),
            everything.slice(3, 5).map((e) => e.offset),
          );
          assert.deepEqual(await store.eventsByTag("paged", everything[6]?.offset ?? 0, 10), []);
          assert.deepEqual(await store.eventsByTag("paged", 0, 0), []);
          assert.deepEqual(await store.eventsByTag("unknown", 0, 10), []);
        }));

      it("never shows the events of a failed append", () =>
        withStore(async (store) => {
          await store.append(appendOf("j", 1, 1));
          await assertCode(store.append(appendOf("j", 1, 2, "dup")), Code.Aborted);
          await store.append(appendOf("j", 2, 1));
          const events = await store.eventsByTag("tag", 0, 100);
          assert.deepEqual(
            events.map((e) => e.seq),
            [1, 2],
          );
          assertAny(events[1]?.payload, eventPayload("e", 2));
        }));

      it("rejects a negative offset or limit with INVALID_ARGUMENT", () =>
        withStore(async (store) => {
          await assertCode(store.eventsByTag("t", -1, 10), Code.InvalidArgument);
          await assertCode(store.eventsByTag("t", 0, -1), Code.InvalidArgument);
        }));
    });

    describe("crdt state", () => {
      it("puts, overwrites, reads and deletes state", () =>
        withStore(async (store) => {
          assert.equal(await store.getCrdt("presence", "room1"), undefined);
          await store.putCrdt("presence", "room1", new Uint8Array([1, 2]));
          assertBytes(await store.getCrdt("presence", "room1"), [1, 2]);
          await store.putCrdt("presence", "room1", new Uint8Array([3]));
          assertBytes(await store.getCrdt("presence", "room1"), [3]);
          await store.putCrdt("presence", "room1", undefined);
          assert.equal(await store.getCrdt("presence", "room1"), undefined);
          await store.putCrdt("presence", "never", undefined);
          await store.putCrdt("presence", "room1", new Uint8Array([4]));
          assertBytes(await store.getCrdt("presence", "room1"), [4]);
        }));

      it("keeps empty state apart from no state", () =>
        withStore(async (store) => {
          await store.putCrdt("p", "e", new Uint8Array(0));
          assertBytes(await store.getCrdt("p", "e"), []);
        }));

      it("keeps persistence ids and entity ids apart, including ids with | and -", () =>
        withStore(async (store) => {
          await store.putCrdt("a", "b|c", new Uint8Array([1]));
          await store.putCrdt("a|b", "c", new Uint8Array([2]));
          await store.putCrdt("a-b", "c", new Uint8Array([3]));
          await store.putCrdt("a", "b-c", new Uint8Array([4]));
          assertBytes(await store.getCrdt("a", "b|c"), [1]);
          assertBytes(await store.getCrdt("a|b", "c"), [2]);
          assertBytes(await store.getCrdt("a-b", "c"), [3]);
          assertBytes(await store.getCrdt("a", "b-c"), [4]);
          await store.putCrdt("a", "b|c", undefined);
          assert.equal(await store.getCrdt("a", "b|c"), undefined);
          assertBytes(await store.getCrdt("a|b", "c"), [2]);
          // Value and CRDT state with the same key do not share storage.
          assert.equal(await store.getValue("a|b", "c"), undefined);
        }));

      it("copies bytes on the way in and out, and round-trips 1 MiB", () =>
        withStore(async (store) => {
          const state = new Uint8Array([5, 6]);
          const pending = store.putCrdt("p", "e", state);
          state.fill(0);
          await pending;
          const read = await store.getCrdt("p", "e");
          read?.fill(0);
          assertBytes(await store.getCrdt("p", "e"), [5, 6]);
          await store.putCrdt("p", "big", pattern(1024 * 1024, 11));
          assertBytesEqual(await store.getCrdt("p", "big"), pattern(1024 * 1024, 11));
        }));
    });

    describe("offsets", () => {
      it("starts at 0, saves, overwrites and keeps consumers apart", () =>
        withStore(async (store) => {
          assert.equal(await store.loadOffset("projection-a"), 0);
          await store.saveOffset("projection-a", 5);
          await store.saveOffset("projection-b", 9);
          assert.equal(await store.loadOffset("projection-a"), 5);
          await store.saveOffset("projection-a", 12);
          assert.equal(await store.loadOffset("projection-a"), 12);
          assert.equal(await store.loadOffset("projection-b"), 9);
          await store.saveOffset("projection-a", 0);
          assert.equal(await store.loadOffset("projection-a"), 0);
          await store.saveOffset("big", 2 ** 40 + 1);
          assert.equal(await store.loadOffset("big"), 2 ** 40 + 1);
        }));

      it("rejects a negative or fractional offset with INVALID_ARGUMENT", () =>
        withStore(async (store) => {
          await assertCode(store.saveOffset("c", -1), Code.InvalidArgument);
          await assertCode(store.saveOffset("c", 1.5), Code.InvalidArgument);
          assert.equal(await store.loadOffset("c"), 0);
        }));
    });

    fencingContractCases(withStore, options.cluster === true);

    topicContractCases(withStore);
    valueChangeContractCases(withStore);

    if (options.durable !== undefined) {
      reopenContractCase(options.durable);
      killContractCase(options.durable);
    }

    describe("lifecycle", () => {
      it("settles writes issued before close, then rejects every call with UNAVAILABLE", () =>
        withStore(async (store) => {
          const pending = [
            store.writeValue(update("p", "e", any("t/V", [1]))),
            store.append(appendOf("j", 1, 1)),
            store.putCrdt("p", "e", new Uint8Array([1])),
            store.saveOffset("c", 1),
          ];
          await store.close();
          await Promise.all(pending);
          await store.close(); // closing twice is harmless
          await assertCode(store.getValue("p", "e"), Code.Unavailable);
          await assertCode(store.writeValue(update("p", "e", any("t/V", [2]))), Code.Unavailable);
          await assertCode(store.loadSnapshot("j"), Code.Unavailable);
          await assertCode(store.readEvents("j", 0), Code.Unavailable);
          await assertCode(store.highestSeq("j"), Code.Unavailable);
          await assertCode(store.append(appendOf("j", 2, 1)), Code.Unavailable);
          await assertCode(store.eventsByTag("tag", 0, 10), Code.Unavailable);
          await assertCode(store.getCrdt("p", "e"), Code.Unavailable);
          await assertCode(store.putCrdt("p", "e", undefined), Code.Unavailable);
          await assertCode(store.loadOffset("c"), Code.Unavailable);
          await assertCode(store.saveOffset("c", 2), Code.Unavailable);
        }));
    });
  });
}

// ---- helpers ----

function any(typeUrl: string, bytes: readonly number[]): AnyValue {
  return { typeUrl, value: Uint8Array.from(bytes) };
}

function update(persistenceId: string, entityId: string, value: AnyValue, writer: WriterToken = LOCAL_WRITER) {
  return { kind: "update", persistenceId, entityId, value, writer } as const;
}

/** The payload of event `seq` of an append built by {@link appendOf} with `label`. */
function eventPayload(label: string, seq: number): AnyValue {
  return { typeUrl: `type.test/${label}`, value: new TextEncoder().encode(`${label}:${seq}`) };
}

/** An append of `count` events from `firstSeq`, tagged "tag", with payloads saying label and seq. */
function appendOf(journalId: string, firstSeq: number, count: number, label = "e", writer: WriterToken = LOCAL_WRITER): JournalAppend {
  return {
    journalId,
    tag: "tag",
    firstSeq,
    events: range(count).map((i) => eventPayload(label, firstSeq + i)),
    writer,
  };
}

function assertEvents(events: ReadonlyArray<{ seq: number; payload: AnyValue }>, journalId: string, fromSeq: number, toSeq: number, label = "e"): void {
  assert.deepEqual(
    events.map((e) => e.seq),
    range(toSeq - fromSeq + 1).map((i) => fromSeq + i),
    `seqs of ${journalId}`,
  );
  for (const e of events) assertAny(e.payload, eventPayload(label, e.seq), `${journalId}#${e.seq}`);
}

function assertAny(actual: AnyValue | undefined, expected: AnyValue, message?: string): void {
  assert.ok(actual !== undefined, message ?? "value is missing");
  assert.equal(actual.typeUrl, expected.typeUrl, message);
  assertBytesEqual(actual.value, expected.value, message);
}

function assertBytes(actual: Uint8Array | undefined, expected: readonly number[], message?: string): void {
  assertBytesEqual(actual, Uint8Array.from(expected), message);
}

function assertBytesEqual(actual: Uint8Array | undefined, expected: Uint8Array, message?: string): void {
  assert.ok(actual instanceof Uint8Array, message ?? "bytes are missing");
  assert.equal(actual.byteLength, expected.byteLength, message ?? "byte length");
  if (expected.byteLength <= 64) {
    assert.deepEqual(Array.from(actual), Array.from(expected), message);
  } else {
    assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), message ?? "bytes differ");
  }
}

async function assertCode(promise: Promise<unknown>, code: Code): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assertSwitchboardCode(err, code);
    return true;
  });
}

function assertSwitchboardCode(err: unknown, code: Code): void {
  assert.ok(err instanceof SwitchboardError, `expected a SwitchboardError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
}

/** `length` bytes of a repeating, non-trivial pattern (so an offset or truncation shows). */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
