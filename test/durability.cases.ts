import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { eventsourced, valueentity } from "@switchboard/protocol/tck";
import { createTestClient, eventually } from "./support/grpc-client.js";
import { startModelUserFunction } from "./support/model-user-function.js";
import { startProxy } from "./support/proxy-process.js";

/**
 * Acknowledged writes survive `kill -9` of the proxy: a driver keeps concurrent writes
 * going, the proxy is killed mid-load several times and restarted on the same SQLite
 * file, and afterwards every acknowledged write is there — for value entities (last
 * acknowledged value or a later one) and event-sourced entities (every acknowledged
 * event in order, no gaps, no duplicates).
 */
/**
 * The kill -9 case against one durable store (`--store` value, and any further proxy
 * flags in `args`, whose effect `logs` finds in the proxy's log); `cleanup` runs at the end.
 */
export function durabilityCase(name: string, makeStore: () => Promise<{ store: string; args?: string[]; logs?: RegExp; cleanup(): Promise<void> }>): void {
  describe(`durability under kill -9 (${name})`, () => {
    it("keeps every acknowledged value-entity update and event across repeated kills", async () => {
      const { store, args, logs, cleanup } = await makeStore();
      const extraArgs = args ?? [];
      const uf = await startModelUserFunction();
      const acknowledgedValue = new Map<string, number>(); // entity -> highest acknowledged counter
      const acknowledgedEvents = new Map<string, string[]>(); // entity -> acknowledged event values, in order
      const attempted = new Map<string, string[]>();
      const ackedEvents = () => [...acknowledgedEvents.values()].reduce((n, l) => n + l.length, 0);
      try {
        for (let round = 0; round < 3; round++) {
          const proxy = await startProxy({ userFunctionPort: uf.port, store, extraArgs });
          if (logs !== undefined) assert.match(proxy.stderr(), logs);
          const client = createTestClient(proxy.port);
          let stop = false;
          const workers = Array.from({ length: 16 }, async (_, w) => {
            let i = 0;
            while (!stop) {
              i++;
              const ve = `ve-${w}`;
              const es = `es-${w}`;
              const counter = round * 1_000_000 + i;
              const value = `${round}.${i};`;
              attempted.set(es, [...(attempted.get(es) ?? []), value]);
              const [v, e] = await Promise.all([
                client.unary("/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process", valueentity.RequestSchema, valueentity.ResponseSchema, {
                  id: ve,
                  actions: [{ action: { case: "update", value: { value: String(counter) } } }],
                }),
                client.unary("/cloudstate.tck.model.EventSourcedTckModel/Process", eventsourced.RequestSchema, eventsourced.ResponseSchema, {
                  id: es,
                  actions: [{ action: { case: "emit", value: { value } } }],
                }),
              ]);
              if (v.code === grpc.status.OK) acknowledgedValue.set(ve, Math.max(acknowledgedValue.get(ve) ?? 0, counter));
              if (e.code === grpc.status.OK) acknowledgedEvents.set(es, [...(acknowledgedEvents.get(es) ?? []), value]);
              if (v.code !== grpc.status.OK || e.code !== grpc.status.OK) break;
            }
          });
          // Kill mid-load once this round has enough acknowledged writes (bounded in time on a busy machine).
          const target = ackedEvents() + 60;
          await eventually(() => ackedEvents() >= target, 20_000, "acknowledged writes before the kill");
          await proxy.kill();
          stop = true;
          await Promise.all(workers);
          client.close();
        }
        assert.ok(ackedEvents() >= 180, "enough acknowledged writes to mean something");

        const proxy = await startProxy({ userFunctionPort: uf.port, store, extraArgs });
        const client = createTestClient(proxy.port);
        try {
          for (const [id, counter] of acknowledgedValue) {
            const r = await client.unary(
              "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process",
              valueentity.RequestSchema,
              valueentity.ResponseSchema,
              { id },
            );
            assert.ok(Number(r.messages[0]?.message) >= counter, `${id}: stored ${r.messages[0]?.message}, acknowledged ${counter}`);
          }
          for (const [id, events] of acknowledgedEvents) {
            const r = await client.unary("/cloudstate.tck.model.EventSourcedTckModel/Process", eventsourced.RequestSchema, eventsourced.ResponseSchema, { id });
            const stored = r.messages[0]?.message ?? "";
            // Every acknowledged event is there, in order. Events persisted but not acknowledged
            // (the kill came between commit and reply) may stand between them: never duplicates.
            const storedEvents = stored
              .split(";")
              .filter(Boolean)
              .map((e) => `${e};`);
            let at = 0;
            for (const e of storedEvents) if (e === events[at]) at++;
            assert.equal(at, events.length, `${id}: journal replay ${stored} lacks acknowledged ${events.slice(at).join("")}`);
            assert.equal(new Set(storedEvents).size, storedEvents.length, `${id}: duplicate events`);
            const tried = attempted.get(id) ?? [];
            for (const e of storedEvents) assert.ok(tried.includes(e), `${id}: unknown event ${e}`);
          }
        } finally {
          client.close();
          await proxy.stop();
        }
      } finally {
        await uf.close();
        await cleanup();
      }
    });
  });
}
