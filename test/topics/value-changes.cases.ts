/**
 * Value-entity changes as an event source (Switchboard's own `(switchboard.eventing).in.value_entity`),
 * end to end through a real proxy process on a real store (a SQLite file in the eventing
 * suite, a PostgreSQL server in the postgres suite): a value entity's updates
 * and deletes reach the consuming action in order, which republishes them to a topic;
 * a second consumer group sees them independently; nothing acknowledged is lost when the
 * proxy is killed with SIGKILL in the middle; a consumer of a value entity the user
 * function does not have is refused at discovery.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { action, createServer } from "@switchboard/sdk";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { CounterFeed } from "./gen/switchboard/test/topics/counters_pb.js";
import { type CountersUserFunction, startCountersUserFunction } from "./support/counters-user-function.js";
import { readEvents, request, type TopicEvent } from "./support/topic-client.js";

const COUNTER = "/switchboard.test.topics.Counter";
const STATE_TYPE = "switchboard.test.topics.CounterState";

/** A change as republished to "counter-changes": the entity, its value ("deleted" for a delete) and its position. */
function change(event: TopicEvent): [string, string, string] {
  const data = event.data.data as { id?: string; value?: string; deleted?: boolean; position?: string };
  return [data.id ?? "", data.deleted === true ? "deleted" : (data.value ?? "0"), data.position ?? ""];
}

async function call(port: number, method: string, body: object): Promise<Record<string, unknown>> {
  const answer = await request(port, "POST", `${COUNTER}/${method}`, { "content-type": "application/json" }, JSON.stringify(body));
  assert.equal(answer.status, 200, `${method}: ${answer.body}`);
  return JSON.parse(answer.body) as Record<string, unknown>;
}

/** A durable store for the proxy: its `--store` value, and how to remove it afterwards. */
export interface ProxyStore {
  readonly store: string;
  /** How many changes the store's change log of `persistenceId` keeps now. */
  changesKept(persistenceId: string): Promise<number>;
  cleanup(): Promise<void>;
}

/** The cases, against the store `makeStore` gives (one store for the whole suite). */
export function valueChangeCases(name: string, makeStore: () => Promise<ProxyStore>): void {
  describe(`value-entity changes as an event source (${name})`, () => {
    let uf: CountersUserFunction;
    let proxy: ProxyProcess;
    let store: ProxyStore;
    const start = () => startProxy({ userFunctionPort: uf.port, store: store.store });

    before(async () => {
      store = await makeStore();
      uf = await startCountersUserFunction();
      proxy = await start();
    });
    after(async () => {
      await proxy.stop();
      await uf.close();
      await store.cleanup();
    });

    it("delivers every update and delete, in order per entity, as the state (or Empty) with CloudEvents attributes, and republishes them to a topic", async () => {
      assert.match(proxy.stderr(), /value-change eventing started/);
      await call(proxy.port, "Add", { id: "c1", by: 1 });
      await call(proxy.port, "Add", { id: "c1", by: 2 });
      await call(proxy.port, "Add", { id: "c2", by: 5 });
      await call(proxy.port, "Add", { id: "c1", by: 3 });
      await call(proxy.port, "Remove", { id: "c1" });
      // Deleted: the entity starts again from the empty state.
      assert.deepEqual(await call(proxy.port, "Get", { id: "c1" }), { id: "", value: "0" });

      // Entities are delivered side by side, each entity's changes in order.
      const events = (await readEvents(proxy.port, "counter-changes", "from=0", 5)).map(change);
      assert.deepEqual(
        events.filter(([id]) => id === "c1"),
        [
          ["c1", "1", "1"],
          ["c1", "3", "2"],
          ["c1", "6", "4"],
          ["c1", "deleted", "5"],
        ],
      );
      assert.deepEqual(
        events.filter(([id]) => id === "c2"),
        [["c2", "5", "3"]],
      );
      const feed = uf.seen.filter((s) => s.method !== "Seen");
      assert.deepEqual(feed.map((s) => [s.method, s.type]).sort(), [
        ...Array.from({ length: 4 }, () => ["Changed", STATE_TYPE]),
        ["Deleted", "google.protobuf.Empty"],
      ]);

      // The audit group has no method for deletes: it sees the four updates, on its own.
      await eventually(() => uf.seen.filter((s) => s.method === "Seen").length === 4, 10_000, "the audit group's four updates");
      const audited = uf.seen.filter((s) => s.method === "Seen").map((s) => [s.id, s.value, s.position]);
      assert.deepEqual(
        audited.filter(([id]) => id === "c1"),
        [
          ["c1", 1n, "1"],
          ["c1", 3n, "2"],
          ["c1", 6n, "4"],
        ],
      );
      assert.deepEqual(
        audited.filter(([id]) => id === "c2"),
        [["c2", 5n, "3"]],
      );
      assert.match(proxy.stderr(), /DEBUG .*this group takes no deletes; skipping one.*entityId=c1/);
      for (const seen of uf.seen) {
        assert.equal(seen.source, "counters");
        assert.equal(seen.specVersion, "1.0");
        assert.ok(seen.time !== undefined && Math.abs(Date.parse(seen.time) - Date.now()) < 600_000, `ce-time ${seen.time}`);
      }
      // Both groups have every change: the log is pruned to its newest one (kept so positions keep counting).
      await eventually(async () => (await store.changesKept("counters")) === 1, 10_000, "the change log pruned");
    });

    it("resumes from the stored offset after a restart: nothing delivered twice, nothing missed", async () => {
      const before = uf.seen.filter((s) => s.method === "Changed").length;
      await proxy.stop();
      proxy = await start();
      await call(proxy.port, "Add", { id: "c2", by: 1 });
      const events = await readEvents(proxy.port, "counter-changes", "from=5", 1);
      assert.deepEqual(events.map(change), [["c2", "6", "6"]]);
      assert.deepEqual(
        uf.seen
          .filter((s) => s.method === "Changed")
          .slice(before)
          .map((s) => [s.id, s.value]),
        [["c2", 6n]],
      );
    });

    it("loses no acknowledged change when the proxy is killed with SIGKILL while changes stream, and keeps each entity's order", async (t) => {
      const ids = ["k0", "k1", "k2", "k3"];
      const acked = new Map<string, bigint[]>(ids.map((id) => [id, []]));
      let stop = false;
      let count = 0;
      const killed = (async () => {
        await eventually(() => count >= 80, 30_000, "80 acknowledged increments");
        stop = true;
        await proxy.kill();
      })();
      // One caller per counter, so each counter's increments are acknowledged in order.
      await Promise.all(
        ids.map(async (id) => {
          const port = proxy.port;
          while (!stop) {
            const answer = await request(port, "POST", `${COUNTER}/Add`, { "content-type": "application/json" }, JSON.stringify({ id, by: 1 })).catch(
              () => undefined,
            );
            if (answer?.status !== 200) break;
            acked.get(id)?.push(BigInt((JSON.parse(answer.body) as { value: string }).value));
            count++;
          }
        }),
      );
      await killed;
      proxy = await start();

      const highest = new Map(ids.map((id) => [id, acked.get(id)?.at(-1) ?? 0n]));
      const reachedAll = (events: readonly TopicEvent[]) =>
        ids.every((id) => events.some((e) => change(e)[0] === id && BigInt(change(e)[1]) >= (highest.get(id) ?? 0n)));
      const events = (await readEvents(proxy.port, "counter-changes", "from=6", reachedAll, 30_000)).map(change);
      let duplicates = 0;
      const positions = new Set<string>();
      for (const [, , position] of events) {
        if (positions.has(position)) duplicates++;
        positions.add(position);
      }
      for (const id of ids) {
        const values = events.filter(([changed]) => changed === id).map(([, value]) => BigInt(value));
        for (const value of acked.get(id) ?? []) assert.ok(values.includes(value), `${id}: acknowledged value ${value} never delivered`);
        // In order per entity: redeliveries repeat a tail, so the first sighting of each value comes in increasing order.
        const firsts = values.filter((value, i) => values.indexOf(value) === i);
        assert.deepEqual(
          firsts,
          [...firsts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
          `${id}: out of order`,
        );
      }
      t.diagnostic(`${count} increments acknowledged before the kill; ${events.length} changes delivered after it, ${duplicates} of them again`);
    });

    it("refuses at discovery a method that consumes a value entity the user function does not have", async () => {
      // CounterFeed alone: it consumes "counters", but no value entity has that persistence id.
      const lonely = action({
        service: CounterFeed,
        handlers: { changed: (state) => ({ id: state.id }), deleted: () => ({}) },
      });
      const server = await createServer({ entities: [lonely] }).listen({ host: "127.0.0.1", port: 0 });
      const refused = await startProxy({ userFunctionPort: server.port, waitFor: "spawn" });
      try {
        const [code] = (await once(refused.child, "exit")) as [number];
        assert.equal(code, 1);
        assert.match(
          refused.stderr(),
          /^switchboard: .*switchboard\.test\.topics\.CounterFeed\.Changed consumes the changes of value entity "counters" .*no value entity of this user function has that persistence id/m,
        );
      } finally {
        await refused.kill();
        await server.close();
      }
    });
  });
}
