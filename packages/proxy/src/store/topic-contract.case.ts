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
      }));
  });
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
