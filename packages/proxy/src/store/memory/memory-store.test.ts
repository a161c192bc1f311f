import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, SwitchboardError } from "../../errors/index.js";
import { runStoreContract } from "../contract.case.js";
import { runInspectorContract } from "../inspector-contract.case.js";
import { createMemoryStore } from "./memory-store.js";

runStoreContract(
  "memory",
  async () => {
    const store = createMemoryStore();
    return { store, cleanup: () => store.close() };
  },
  { cluster: true },
);

runInspectorContract("memory", async () => {
  const store = createMemoryStore();
  return { store, openInspector: async () => store.openInspector(), cleanup: () => store.close() };
});

describe("memory store on an injected clock", () => {
  it("judges leases, fenced writes and heartbeats on the clock it was given, to the millisecond", async () => {
    let now = 1_000;
    const store = createMemoryStore({ clock: { now: () => now } });
    const [grant] = await store.cluster.claimLeases("node-a", ["shard/0"], 500);
    assert.deepEqual(grant, { lease: "shard/0", token: 1, ttlMs: 500 });
    const writer = { lease: "shard/0", token: 1 };
    await store.cluster.heartbeat({ nodeId: "node-a", address: "a:1", status: "up", servicesHash: "h" }, 500);

    now = 1_499; // 1 ms left
    await store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: { typeUrl: "t/V", value: Uint8Array.of(1) }, writer });
    assert.deepEqual(
      (await store.cluster.listLeases()).map((l) => l.remainingMs),
      [1],
    );
    assert.deepEqual(await store.cluster.claimLeases("node-b", ["shard/0"], 500), []);
    const [member] = await store.cluster.heartbeat({ nodeId: "node-b", address: "b:1", status: "up", servicesHash: "h" }, 500);
    assert.deepEqual([member?.nodeId, member?.heartbeatAgeMs], ["node-a", 499]);

    now = 1_500; // expired
    await assert.rejects(
      store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: { typeUrl: "t/V", value: Uint8Array.of(2) }, writer }),
      (err: unknown) => err instanceof SwitchboardError && err.code === Code.FailedPrecondition && err.rawMessage.startsWith("stale writer:"),
    );
    assert.deepEqual(
      (await store.cluster.heartbeat({ nodeId: "node-b", address: "b:1", status: "up", servicesHash: "h" }, 500)).map((m) => m.nodeId),
      ["node-b"],
    );
    assert.deepEqual(await store.cluster.claimLeases("node-b", ["shard/0"], 500), [{ lease: "shard/0", token: 2, ttlMs: 500 }]);
    assert.deepEqual((await store.getValue("p", "e"))?.value, Uint8Array.of(1));
  });
});
