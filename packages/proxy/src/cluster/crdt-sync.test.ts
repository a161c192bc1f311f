import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EntityServiceModel } from "../descriptors/service-model.js";
import type { GCounterState } from "../entities/crdt/counters.js";
import { decodeCrdtState, encodeCrdtState } from "../entities/crdt/storage-format.js";
import { silentLogger } from "../observability/logger.js";
import { createMemoryStore } from "../store/memory/memory-store.js";
import { singleNodeReplicas } from "./single-node.js";
import { createCrdtLedger, mergingCrdtStore, recordingReplicas, syncCrdtReplicas } from "./crdt-sync.js";
import type { EntityHost, EntitySelector, ReplicatedDelta } from "./types.js";

const gcounter = (counts: Record<string, bigint>) => encodeCrdtState({ kind: "gcounter", counts: new Map(Object.entries(counts)) });
const counts = (bytes: Uint8Array | undefined) => Object.fromEntries((decodeCrdtState(bytes ?? new Uint8Array(), "test") as GCounterState).counts);

describe("CRDT states across replicas", () => {
  it("merges writes into the stored state, so one replica's write never takes back another's entries", async () => {
    const base = createMemoryStore();
    const ledger = createCrdtLedger(silentLogger);
    const store = mergingCrdtStore(base, silentLogger, ledger);
    await base.putCrdt("p", "e", gcounter({ b: 7n }));
    await store.putCrdt("p", "e", gcounter({ a: 3n }));
    assert.deepEqual(counts(await base.getCrdt("p", "e")), { a: 3n, b: 7n });
    // Another node's racing write took a's entry back: reading through the ledger restores what this node published.
    const replicas = recordingReplicas(singleNodeReplicas("a"), ledger);
    replicas.publish({ persistenceId: "p", entityId: "e", delta: gcounter({ a: 5n }) });
    await base.putCrdt("p", "e", gcounter({ a: 1n, b: 9n }));
    assert.deepEqual(counts(await store.getCrdt("p", "e")), { a: 5n, b: 9n });
    await store.putCrdt("p", "e", undefined);
    assert.equal(await base.getCrdt("p", "e"), undefined, "a delete is not merged");
  });

  it("applies a change from another replica: the active entity is passivated first, then the change is merged into the stored state", async () => {
    const base = createMemoryStore();
    const ledger = createCrdtLedger(silentLogger);
    const store = mergingCrdtStore(base, silentLogger, ledger);
    await base.putCrdt("p", "e", gcounter({ a: 2n }));
    const listeners: ((delta: ReplicatedDelta) => void)[] = [];
    const order: string[] = [];
    const replicas = {
      ...singleNodeReplicas("a"),
      onDelta(listener: (delta: ReplicatedDelta) => void) {
        listeners.push(listener);
        return () => {};
      },
    };
    const host = {
      async passivate(select: EntitySelector) {
        const service = { kind: "crdt", persistenceId: "p" } as EntityServiceModel;
        if (select(service, "e") && !select(service, "other")) order.push("passivated e");
        const before = counts(await base.getCrdt("p", "e"));
        order.push(
          `stored before: ${Object.entries(before)
            .map(([node, n]) => `${node}=${n}`)
            .join(",")}`,
        );
      },
    } as unknown as EntityHost;
    syncCrdtReplicas({ replicas, store, host, logger: silentLogger, ledger });
    for (const listener of listeners) listener({ persistenceId: "p", entityId: "e", delta: gcounter({ b: 4n }) });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, ["passivated e", "stored before: a=2"]);
    assert.deepEqual(counts(await base.getCrdt("p", "e")), { a: 2n, b: 4n });
  });
});
