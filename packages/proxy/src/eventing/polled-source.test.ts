import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { MethodModel } from "../descriptors/service-model.js";
import { silentLogger } from "../observability/logger.js";
import type { Dispatcher } from "../router/types.js";
import { createMemoryStore } from "../store/memory/memory-store.js";
import { type PolledItem, startPolledSources } from "./polled-source.js";

const METHOD = { path: "/test.Consumer/Take" } as MethodModel;

/** Items of one batch: (offset, subject) pairs, the subject in the payload. */
function itemsOf(...pairs: [number, string][]): PolledItem[] {
  return pairs.map(([offset, subject]) => ({
    offset,
    subject,
    method: METHOD,
    payload: create(AnySchema, { typeUrl: "type.googleapis.com/test.Item", value: new TextEncoder().encode(`${subject}${offset}`) }),
    metadata: [],
  }));
}

/** A dispatcher whose deliveries wait until the test lets each go (or fails it). */
function heldDispatcher() {
  const started: string[] = [];
  const waiting = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  let released = false;
  const dispatcher: Dispatcher = {
    unary: () => Promise.reject(new Error("not used")),
    stream: () => {
      throw new Error("not used");
    },
    deliver(_method, payload) {
      const name = new TextDecoder().decode(payload.value);
      started.push(name);
      if (released) return Promise.resolve([]);
      return new Promise((resolve, reject) => waiting.set(name, { resolve: () => resolve([]), reject }));
    },
  };
  const settle = async (name: string, error?: Error) => {
    await until(() => waiting.has(name), `${name} started`);
    const held = waiting.get(name);
    waiting.delete(name);
    if (error === undefined) held?.resolve();
    else held?.reject(error);
  };
  /** Lets every delivery go, now and from now on (so the consumer can stop). */
  const releaseAll = () => {
    released = true;
    for (const held of waiting.values()) held.resolve();
    waiting.clear();
  };
  return { dispatcher, started, settle, releaseAll };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** One consumer ("g|t") on a memory store, delivering side by side by subject to a held dispatcher, reading what `read` gives after an offset. */
function startSideBySide(read: (after: number) => PolledItem[]) {
  const store = createMemoryStore();
  const held = heldDispatcher();
  const sources = startPolledSources({
    label: "test",
    noun: "item",
    subscriptions: [{ consumer: "g|t", tag: "t" }],
    read: async (_subscription, after) => read(after),
    orderedBy: (item) => item.subject ?? "",
    store,
    dispatcher: held.dispatcher,
    logger: silentLogger,
    pollIntervalMs: 50,
  });
  return { store, sources, started: held.started, settle: held.settle, releaseAll: held.releaseAll };
}

describe("polled sources delivering side by side (orderedBy)", () => {
  it("delivers different subjects at once and one subject's items in order, saving the offset after the whole batch", async () => {
    let reads = 0;
    const { store, started, settle, releaseAll, sources } = startSideBySide((after) =>
      after === 0 && reads++ === 0 ? itemsOf([1, "a"], [2, "b"], [3, "a"], [4, "c"]) : [],
    );
    try {
      // a1, b2 and c4 go at once; a3 waits for a1.
      await until(() => started.length === 3, "three deliveries in flight");
      assert.deepEqual([...started].sort(), ["a1", "b2", "c4"]);
      await settle("b2");
      await settle("c4");
      assert.equal(await store.loadOffset("g|t"), 0, "nothing saved while a1 is in flight");
      assert.ok(!started.includes("a3"));
      await settle("a1");
      await until(() => started.includes("a3"), "a3 after a1");
      await settle("a3");
      let saved = 0;
      for (let i = 0; i < 500 && saved !== 4; i++) {
        saved = await store.loadOffset("g|t");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(saved, 4);
    } finally {
      releaseAll();
      await sources.close();
    }
  });

  it("saves no offset past a batch with a failed delivery, and delivers the batch again", async () => {
    const { store, started, settle, releaseAll, sources } = startSideBySide((after) => (after === 0 ? itemsOf([1, "a"], [2, "b"]) : []));
    try {
      await settle("a1");
      await settle("b2", new Error("the user function failed"));
      assert.equal(await store.loadOffset("g|t"), 0);
      // Retried (after the consumer's backoff) from the last saved offset: both items again.
      await until(() => started.filter((name) => name === "b2").length === 2, "b2 delivered again");
    } finally {
      releaseAll();
      await sources.close();
    }
  });
});
