import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, SwitchboardError } from "../errors/index.js";
import type { Store, TopicMessage, TopicStore } from "./types.js";

/**
 * The topic cases of the store contract (the embedded broker's log and group offsets),
 * run by `runStoreContract` for every adapter. Each case gets a fresh store.
 */
export function topicContractCases(withStore: (body: (store: Store) => Promise<void>) => Promise<void>): void {
  const withTopics = (body: (topics: TopicStore, store: Store) => Promise<void>) =>
    withStore(async (store) => {
      assert.ok(store.topics !== undefined, "the store keeps topics");
      await body(store.topics, store);
    });

  describe("topics", () => {
    it("reads an unknown topic as empty and numbers messages 1, 2, 3 per topic", () =>
      withTopics(async (topics) => {
        assert.deepEqual(await topics.readTopic("orders", 0, 10), []);
        assert.deepEqual(await topics.publish("orders", [message("a"), message("b")]), [1, 2]);
        assert.deepEqual(await topics.publish("shipments", [message("x")]), [1]);
        assert.deepEqual(await topics.publish("orders", [message("c")]), [3]);
        const read = await topics.readTopic("orders", 0, 10);
        assert.deepEqual(
          read.map((r) => [r.offset, text(r.payload.value), r.payload.typeUrl, r.attributes.id]),
          [
            [1, "a", "type.googleapis.com/test.Order", "id-a"],
            [2, "b", "type.googleapis.com/test.Order", "id-b"],
            [3, "c", "type.googleapis.com/test.Order", "id-c"],
          ],
        );
        assert.deepEqual(read[0]?.attributes, message("a").attributes);
        for (const record of read) assert.ok(Number.isSafeInteger(record.publishedAt) && record.publishedAt > 0, "publishedAt");
        assert.deepEqual(
          (await topics.readTopic("shipments", 0, 10)).map((r) => text(r.payload.value)),
          ["x"],
        );
      }));

    it("reads after an offset, at most limit messages, so a consumer can page", () =>
      withTopics(async (topics) => {
        await topics.publish(
          "t",
          ["1", "2", "3", "4", "5"].map((m) => message(m)),
        );
        assert.deepEqual(
          (await topics.readTopic("t", 2, 2)).map((r) => r.offset),
          [3, 4],
        );
        assert.deepEqual(
          (await topics.readTopic("t", 4, 10)).map((r) => r.offset),
          [5],
        );
        assert.deepEqual(await topics.readTopic("t", 5, 10), []);
        assert.deepEqual(await topics.readTopic("t", 0, 0), []);
      }));

    it("gives concurrent publishes distinct, gap-free offsets in call order", () =>
      withTopics(async (topics) => {
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => topics.publish("busy", [message(`m${i}`), message(`n${i}`)])));
        assert.deepEqual(
          results.flat(),
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
        const read = await topics.readTopic("busy", 0, 100);
        assert.deepEqual(
          read.map((r) => text(r.payload.value)),
          Array.from({ length: 20 }, (_, i) => [`m${i}`, `n${i}`]).flat(),
        );
      }));

    it("keeps topics apart, including names with | and .", () =>
      withTopics(async (topics) => {
        await topics.publish("a|b", [message("1")]);
        await topics.publish("a", [message("2")]);
        await topics.publish("a.dead-letter", [message("3")]);
        assert.deepEqual(
          (await topics.readTopic("a|b", 0, 10)).map((r) => text(r.payload.value)),
          ["1"],
        );
        assert.deepEqual(
          (await topics.readTopic("a", 0, 10)).map((r) => text(r.payload.value)),
          ["2"],
        );
        assert.deepEqual(
          (await topics.readTopic("a.dead-letter", 0, 10)).map((r) => text(r.payload.value)),
          ["3"],
        );
      }));

    it("copies bytes on the way in and out, and keeps empty payloads", () =>
      withTopics(async (topics) => {
        const bytes = Uint8Array.of(1, 2, 3);
        const publishing = topics.publish("t", [
          { payload: { typeUrl: "t/A", value: bytes }, attributes: {} },
          { payload: { typeUrl: "t/B", value: new Uint8Array() }, attributes: {} },
        ]);
        bytes[0] = 9;
        await publishing;
        const [first, second] = await topics.readTopic("t", 0, 10);
        assert.deepEqual(Array.from(first?.payload.value ?? []), [1, 2, 3]);
        first?.payload.value.fill(7);
        assert.deepEqual(Array.from((await topics.readTopic("t", 0, 1))[0]?.payload.value ?? []), [1, 2, 3]);
        assert.equal(second?.payload.value.byteLength, 0);
        assert.deepEqual(second?.attributes, {});
      }));

    it("stores group offsets per topic and group, starting at 0", () =>
      withTopics(async (topics) => {
        assert.equal(await topics.loadGroupOffset("orders", "billing"), 0);
        await topics.saveGroupOffset("orders", "billing", 3);
        await topics.saveGroupOffset("orders", "shipping", 7);
        await topics.saveGroupOffset("returns", "billing", 1);
        assert.equal(await topics.loadGroupOffset("orders", "billing"), 3);
        assert.equal(await topics.loadGroupOffset("orders", "shipping"), 7);
        assert.equal(await topics.loadGroupOffset("returns", "billing"), 1);
        await topics.saveGroupOffset("orders", "billing", 4);
        assert.equal(await topics.loadGroupOffset("orders", "billing"), 4);
      }));

    it("keeps group offsets apart from event-log consumer offsets", () =>
      withTopics(async (topics, store) => {
        await store.saveOffset("g|t", 5);
        await topics.saveGroupOffset("t", "g", 2);
        assert.equal(await store.loadOffset("g|t"), 5);
        assert.equal(await topics.loadGroupOffset("t", "g"), 2);
      }));

    it("rejects an empty publish, an empty topic or group, and bad offsets with INVALID_ARGUMENT", () =>
      withTopics(async (topics) => {
        await assertCode(topics.publish("t", []), Code.InvalidArgument);
        await assertCode(topics.publish("", [message("a")]), Code.InvalidArgument);
        await assertCode(topics.readTopic("t", -1, 10), Code.InvalidArgument);
        await assertCode(topics.readTopic("t", 0, -1), Code.InvalidArgument);
        await assertCode(topics.saveGroupOffset("t", "", 1), Code.InvalidArgument);
        await assertCode(topics.saveGroupOffset("t", "g", -1), Code.InvalidArgument);
        await assertCode(topics.saveGroupOffset("t", "g", 1.5), Code.InvalidArgument);
        await assertCode(topics.loadGroupOffset("t", ""), Code.InvalidArgument);
        assert.deepEqual(await topics.readTopic("t", 0, 10), []);
      }));

    it("settles publishes issued before close, then rejects topic calls with UNAVAILABLE", () =>
      withTopics(async (topics, store) => {
        const pending = [topics.publish("t", [message("a")]), topics.saveGroupOffset("t", "g", 1)];
        await store.close();
        assert.deepEqual(await pending[0], [1]);
        await pending[1];
        await assertCode(topics.publish("t", [message("b")]), Code.Unavailable);
        await assertCode(topics.readTopic("t", 0, 10), Code.Unavailable);
        await assertCode(topics.loadGroupOffset("t", "g"), Code.Unavailable);
        await assertCode(topics.saveGroupOffset("t", "g", 2), Code.Unavailable);
        await assertCode(topics.trimTopics({ maxBytes: 0 }), Code.Unavailable);
        await assertCode(topics.offsetAtTime("t", 0), Code.Unavailable);
      }));

    it("retention by age removes a prefix, keeps each topic's newest message, and offsets keep counting", () =>
      withTopics(async (topics) => {
        await topics.publish("old", [message("a"), message("b")]);
        await topics.publish("other", [message("x")]);
        await topics.saveGroupOffset("old", "g", 1);
        await pause(30);
        const mark = Date.now();
        await pause(30);
        await topics.publish("old", [message("c"), message("d")]);
        assert.deepEqual(await topics.trimTopics({}), [], "no limits remove nothing");
        const trims = await topics.trimTopics({ publishedBefore: mark });
        // "other" holds one message, its newest: kept although it is old.
        assert.deepEqual(trims, [{ topic: "old", removed: 2, firstOffset: 3 }]);
        assert.deepEqual(
          (await topics.readTopic("old", 0, 10)).map((r) => [r.offset, text(r.payload.value)]),
          [
            [3, "c"],
            [4, "d"],
          ],
        );
        // Reading after a removed offset starts at the first retained one: the gap shows what went.
        assert.deepEqual(
          (await topics.readTopic("old", 1, 10)).map((r) => r.offset),
          [3, 4],
        );
        assert.deepEqual(
          (await topics.readTopic("other", 0, 10)).map((r) => text(r.payload.value)),
          ["x"],
        );
        assert.equal(await topics.loadGroupOffset("old", "g"), 1, "retention leaves group offsets alone");
        // Everything old: only the newest stays, and the next publish continues the numbering.
        const all = await topics.trimTopics({ publishedBefore: Date.now() + 60_000 });
        assert.deepEqual(all, [{ topic: "old", removed: 1, firstOffset: 4 }]);
        assert.deepEqual(await topics.publish("old", [message("e")]), [5]);
        assert.deepEqual(
          (await topics.readTopic("old", 0, 10)).map((r) => r.offset),
          [4, 5],
        );
      }));

    it("retention by size keeps the newest messages that fit in the byte budget per topic", () =>
      withTopics(async (topics) => {
        const sized = (n: number): TopicMessage => ({ payload: { typeUrl: "t/Blob", value: new Uint8Array(100).fill(n) }, attributes: {} });
        // Each message counts 100 payload bytes + 2 for its attributes ("{}").
        await topics.publish(
          "blobs",
          [1, 2, 3, 4, 5].map((n) => sized(n)),
        );
        await topics.publish("small", [sized(9)]);
        assert.deepEqual(await topics.trimTopics({ maxBytes: 1000 }), []);
        assert.deepEqual(await topics.trimTopics({ maxBytes: 250 }), [{ topic: "blobs", removed: 3, firstOffset: 4 }]);
        assert.deepEqual(
          (await topics.readTopic("blobs", 0, 10)).map((r) => [r.offset, r.payload.value[0]]),
          [
            [4, 4],
            [5, 5],
          ],
        );
        assert.deepEqual(await topics.trimTopics({ maxBytes: 0 }), [{ topic: "blobs", removed: 1, firstOffset: 5 }]);
        assert.deepEqual(
          (await topics.readTopic("small", 0, 10)).map((r) => r.offset),
          [1],
        );
        assert.deepEqual(await topics.publish("blobs", [sized(6)]), [6]);
      }));

    it("finds the offset before the first message published at or after a time", () =>
      withTopics(async (topics) => {
        assert.equal(await topics.offsetAtTime("none", Date.now()), 0);
        const start = Date.now();
        await topics.publish("t", [message("a"), message("b")]);
        await pause(30);
        const mark = Date.now();
        await pause(30);
        await topics.publish("t", [message("c")]);
        assert.equal(await topics.offsetAtTime("t", 0), 0);
        assert.equal(await topics.offsetAtTime("t", start - 1000), 0);
        assert.equal(await topics.offsetAtTime("t", mark), 2);
        assert.equal(await topics.offsetAtTime("t", Date.now() + 60_000), 3);
        // After retention, an early time lands before the first retained message.
        await topics.trimTopics({ publishedBefore: mark });
        assert.equal(await topics.offsetAtTime("t", 0), 2);
      }));

    it("rejects bad retention limits and times with INVALID_ARGUMENT", () =>
      withTopics(async (topics) => {
        await assertCode(topics.trimTopics({ maxBytes: -1 }), Code.InvalidArgument);
        await assertCode(topics.trimTopics({ publishedBefore: 1.5 }), Code.InvalidArgument);
        await assertCode(topics.offsetAtTime("t", -5), Code.InvalidArgument);
        await assertCode(topics.offsetAtTime("t", Number.NaN), Code.InvalidArgument);
      }));
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function message(body: string): TopicMessage {
  return {
    payload: { typeUrl: "type.googleapis.com/test.Order", value: new TextEncoder().encode(body) },
    attributes: { id: `id-${body}`, source: "test", type: "test.Order", specversion: "1.0", "x-note": 'ä|"quoted"' },
  };
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

async function assertCode(promise: Promise<unknown>, code: Code): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SwitchboardError, `expected a SwitchboardError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}
