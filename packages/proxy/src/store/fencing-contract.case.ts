import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, SwitchboardError } from "../errors/index.js";
import { type AnyValue, type ClusterStore, type JournalAppend, LOCAL_WRITER, type Store, type WriterToken } from "./types.js";

/**
 * The contract cases of writer tokens, leases, membership and the append event, part of
 * `runStoreContract`. Stores with `cluster` ports (PostgreSQL, memory) must fence writes
 * on their leases; a store without them (SQLite) must refuse every fenced write.
 *
 * Expiry is waited for on the store's own clock (polling `listLeases` or `heartbeat`),
 * never with a fixed sleep, so the cases hold on a loaded machine.
 */
export function fencingContractCases(withStore: (body: (store: Store) => Promise<void>) => Promise<void>, cluster: boolean): void {
  /** Runs `body` with a store that has cluster ports; fails when the store under test has none. */
  const withCluster = (body: (store: Store, cluster: ClusterStore) => Promise<void>) =>
    withStore(async (store) => {
      assert.ok(store.cluster !== undefined, `${store.description} offers no cluster ports`);
      await body(store, store.cluster);
    });

  if (!cluster) {
    it("offers no cluster ports", () =>
      withStore(async (store) => {
        assert.equal(store.cluster, undefined);
      }));
  }

  describe("append event", () => {
    it("tells listeners the tag of each durable append, not of a refused one, until they unsubscribe", () =>
      withStore(async (store) => {
        const heard: string[] = [];
        const stop = store.onAppended((tag) => heard.push(tag));
        const throwing = store.onAppended(() => {
          throw new Error("a listener's bug");
        });
        await store.append({ ...appendOf("j1", 1), tag: "alpha" });
        // The event comes before the append's promise settles for its caller.
        assert.deepEqual(heard, ["alpha"]);
        await assertCode(store.append({ ...appendOf("j1", 1), tag: "beta" }), Code.Aborted);
        await store.append({ ...appendOf("j2", 1), tag: "beta" });
        assert.deepEqual(heard, ["alpha", "beta"]);
        stop();
        throwing();
        await store.append({ ...appendOf("j1", 2), tag: "alpha" });
        assert.deepEqual(heard, ["alpha", "beta"]);
      }));
  });

  describe("writer tokens", () => {
    it("rejects a malformed writer token with INVALID_ARGUMENT", () =>
      withStore(async (store) => {
        await assertCode(
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", 1), writer: { lease: "shard/1", token: -1 } }),
          Code.InvalidArgument,
        );
        await assertCode(store.append(appendOf("j", 1, { lease: "shard/1", token: 1.5 })), Code.InvalidArgument);
        assert.equal(await store.highestSeq("j"), 0);
      }));

    it("refuses writes under a lease the store never granted as stale (FAILED_PRECONDITION), writing nothing", () =>
      withStore(async (store) => {
        const stranger: WriterToken = { lease: "shard/7", token: 1 };
        await assertStale(store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", 1), writer: stranger }));
        await assertStale(store.writeValue({ kind: "delete", persistenceId: "p", entityId: "e", writer: stranger }));
        await assertStale(store.append(appendOf("j", 1, stranger)));
        assert.equal(await store.getValue("p", "e"), undefined);
        assert.equal(await store.highestSeq("j"), 0);
        // The local writer is never refused.
        await store.append(appendOf("j", 1, LOCAL_WRITER));
        assert.equal(await store.highestSeq("j"), 1);
      }));
  });

  if (!cluster) return;

  describe("leases", () => {
    it("grants a free lease, renews it keeping the token, and refuses it to another owner while it lives", () =>
      withCluster(async (_store, cluster) => {
        const [first, ...more] = await cluster.claimLeases("node-a", ["shard/1", "shard/2"], 60_000);
        assert.equal(more.length, 1);
        assert.ok(first !== undefined && first.token >= 1 && first.ttlMs === 60_000);
        const tokens = new Map((await cluster.claimLeases("node-a", ["shard/1", "shard/2"], 60_000)).map((g) => [g.lease, g.token]));
        assert.deepEqual(tokens, new Map([...[first, ...more]].map((g) => [g.lease, g.token])));
        assert.deepEqual(await cluster.claimLeases("node-b", ["shard/1", "shard/2"], 60_000), []);
        const b = await cluster.claimLeases("node-b", ["shard/2", "shard/3"], 60_000);
        assert.deepEqual(
          b.map((g) => g.lease),
          ["shard/3"],
        );
        const records = await cluster.listLeases();
        assert.deepEqual(
          records.map((r) => [r.lease, r.owner, r.token]),
          [
            ["shard/1", "node-a", tokens.get("shard/1")],
            ["shard/2", "node-a", tokens.get("shard/2")],
            ["shard/3", "node-b", b[0]?.token],
          ],
        );
        for (const r of records) assert.ok(r.remainingMs > 50_000 && r.remainingMs <= 60_000, `${r.lease} has ${r.remainingMs} ms left`);
      }));

    it("hands an expired lease to a new owner with token + 1", () =>
      withCluster(async (_store, cluster) => {
        const [a] = await cluster.claimLeases("node-a", ["shard/1"], 100);
        assert.ok(a !== undefined);
        await expired(cluster, "shard/1");
        const [b] = await cluster.claimLeases("node-b", ["shard/1"], 60_000);
        assert.deepEqual(b, { lease: "shard/1", token: a.token + 1, ttlMs: 60_000 });
        assert.deepEqual(await cluster.claimLeases("node-a", ["shard/1"], 60_000), []);
      }));

    it("frees a released lease at once for another owner (token + 1), and ignores a release by a non-owner", () =>
      withCluster(async (_store, cluster) => {
        const [a] = await cluster.claimLeases("node-a", ["consumer/audit"], 60_000);
        assert.ok(a !== undefined);
        await cluster.releaseLeases("node-b", ["consumer/audit"]);
        assert.deepEqual(await cluster.claimLeases("node-b", ["consumer/audit"], 60_000), []);
        await cluster.releaseLeases("node-a", ["consumer/audit", "consumer/never-held"]);
        const [record] = await cluster.listLeases();
        assert.deepEqual(record, { lease: "consumer/audit", owner: "node-a", token: a.token, remainingMs: 0 });
        assert.deepEqual(await cluster.claimLeases("node-b", ["consumer/audit"], 60_000), [{ lease: "consumer/audit", token: a.token + 1, ttlMs: 60_000 }]);
      }));

    it("rejects an empty owner, an empty lease name or a ttl below 1 ms with INVALID_ARGUMENT", () =>
      withCluster(async (_store, cluster) => {
        await assertCode(cluster.claimLeases("", ["shard/1"], 1000), Code.InvalidArgument);
        await assertCode(cluster.claimLeases("node-a", [""], 1000), Code.InvalidArgument);
        await assertCode(cluster.claimLeases("node-a", ["shard/1"], 0), Code.InvalidArgument);
        await assertCode(cluster.claimLeases("node-a", ["shard/1"], 1.5), Code.InvalidArgument);
        await assertCode(cluster.releaseLeases("", ["shard/1"]), Code.InvalidArgument);
        assert.deepEqual(await cluster.listLeases(), []);
      }));
  });

  describe("fenced writes", () => {
    it("accepts value writes and appends from the lease holder with its token", () =>
      withCluster(async (store, cluster) => {
        const writer = await grant(cluster, "node-a", "shard/1");
        await store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", 1), writer });
        assertAny(await store.getValue("p", "e"), any("t/V", 1));
        await store.append(appendOf("j", 1, writer, true));
        assert.equal(await store.highestSeq("j"), 1);
        assert.equal((await store.loadSnapshot("j"))?.seq, 1);
        await store.writeValue({ kind: "delete", persistenceId: "p", entityId: "e", writer });
        assert.equal(await store.getValue("p", "e"), undefined);
      }));

    it("refuses the old owner's writes after a takeover (FAILED_PRECONDITION, stale writer), accepts the new owner's", () =>
      withCluster(async (store, cluster) => {
        const old = await grant(cluster, "node-a", "shard/1", 100);
        await store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", 1), writer: old });
        await store.append(appendOf("j", 1, old));
        await expired(cluster, "shard/1");
        const next = await grant(cluster, "node-b", "shard/1");
        assert.equal(next.token, old.token + 1);
        await assertStale(store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", 2), writer: old }));
        await assertStale(store.writeValue({ kind: "delete", persistenceId: "p", entityId: "e", writer: old }));
        await assertStale(store.append(appendOf("j", 2, old, true)));
        // Nothing of the refused writes is stored, and no append event was raised for them.
        assertAny(await store.getValue("p", "e"), any("t/V", 1));
        assert.equal(await store.highestSeq("j"), 1);
        assert.equal(await store.loadSnapshot("j"), undefined);
        await store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", 3), writer: next });
        await store.append(appendOf("j", 2, next));
        assertAny(await store.getValue("p", "e"), any("t/V", 3));
        assert.equal(await store.highestSeq("j"), 2);
      }));

    it("refuses writes under an expired lease nobody took over, and accepts them again once the owner renews", () =>
      withCluster(async (store, cluster) => {
        const writer = await grant(cluster, "node-a", "shard/1", 100);
        await expired(cluster, "shard/1");
        await assertStale(store.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", 1), writer }));
        await assertStale(store.append(appendOf("j", 1, writer)));
        assert.equal(await store.getValue("p", "e"), undefined);
        // Nobody else wrote meanwhile, so the renewal keeps the token and the writer may go on.
        assert.deepEqual(await grant(cluster, "node-a", "shard/1"), writer);
        await store.append(appendOf("j", 1, writer));
        assert.equal(await store.highestSeq("j"), 1);
      }));

    it("refuses a released lease's writes, and a token that does not match the lease's", () =>
      withCluster(async (store, cluster) => {
        const writer = await grant(cluster, "node-a", "shard/1");
        await assertStale(store.append(appendOf("j", 1, { lease: writer.lease, token: writer.token + 1 })));
        await assertStale(store.append(appendOf("j", 1, { lease: "shard/2", token: writer.token })));
        await cluster.releaseLeases("node-a", ["shard/1"]);
        await assertStale(store.append(appendOf("j", 1, writer)));
        assert.equal(await store.highestSeq("j"), 0);
      }));

    it("fails only the stale writes of writes issued together, and checks the writer before the sequence", () =>
      withCluster(async (store, cluster) => {
        const stale = await grant(cluster, "node-a", "shard/1", 100);
        await expired(cluster, "shard/1");
        const live = await grant(cluster, "node-b", "shard/1");
        await store.append(appendOf("j", 1, live));
        const results = await Promise.allSettled([
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "live-1", value: any("t/V", 1), writer: live }),
          store.append(appendOf("j", 1, stale)), // both stale and a taken seq: stale wins
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "stale", value: any("t/V", 2), writer: stale }),
          store.append(appendOf("j", 2, live)),
          store.append(appendOf("j", 2, live)), // a taken seq from the live writer: Aborted
          store.writeValue({ kind: "update", persistenceId: "p", entityId: "local", value: any("t/V", 3), writer: LOCAL_WRITER }),
        ]);
        assert.deepEqual(
          results.map((r) => (r.status === "fulfilled" ? "ok" : r.reason instanceof SwitchboardError ? r.reason.code : String(r.reason))),
          ["ok", Code.FailedPrecondition, Code.FailedPrecondition, "ok", Code.Aborted, "ok"],
        );
        assertAny(await store.getValue("p", "live-1"), any("t/V", 1));
        assert.equal(await store.getValue("p", "stale"), undefined);
        assertAny(await store.getValue("p", "local"), any("t/V", 3));
        assert.equal(await store.highestSeq("j"), 2);
      }));
  });

  describe("membership", () => {
    it("lists the members heard from within the ttl, with what they said, and forgets one that leaves", () =>
      withCluster(async (_store, cluster) => {
        const a = { nodeId: "node-a", address: "10.0.0.1:7000", status: "up", servicesHash: "h1" } as const;
        const b = { nodeId: "node-b", address: "10.0.0.2:7000", status: "up", servicesHash: "h1" } as const;
        const [alone] = await cluster.heartbeat(a, 60_000);
        assert.deepEqual(alone, { ...a, heartbeatAgeMs: 0 });
        const both = await cluster.heartbeat({ ...b, status: "leaving", servicesHash: "h2" }, 60_000);
        assert.deepEqual(
          both.map((m) => [m.nodeId, m.address, m.status, m.servicesHash]),
          [
            ["node-a", a.address, "up", "h1"],
            ["node-b", b.address, "leaving", "h2"],
          ],
        );
        for (const m of both) assert.ok(m.heartbeatAgeMs >= 0 && m.heartbeatAgeMs < 60_000);
        await cluster.leave("node-b");
        assert.deepEqual(
          (await cluster.heartbeat(a, 60_000)).map((m) => m.nodeId),
          ["node-a"],
        );
      }));

    it("drops a member whose last heartbeat is older than the ttl, and takes it back when it beats again", () =>
      withCluster(async (_store, cluster) => {
        const a = { nodeId: "node-a", address: "a:1", status: "up", servicesHash: "h" } as const;
        const b = { nodeId: "node-b", address: "b:1", status: "up", servicesHash: "h" } as const;
        await cluster.heartbeat(a, 100);
        // Only node-b keeps beating; node-a falls out once 100 ms passed on the store's clock.
        await until(async () => (await cluster.heartbeat(b, 100)).every((m) => m.nodeId !== "node-a"), "node-a to age past the ttl");
        const seen = await cluster.heartbeat(a, 100);
        assert.ok(seen.some((m) => m.nodeId === "node-a" && m.heartbeatAgeMs === 0));
        assert.ok(
          (await cluster.heartbeat(b, 60_000)).some((m) => m.nodeId === "node-a"),
          "a longer ttl sees node-a again",
        );
      }));

    it("rejects an empty node id or a ttl below 1 ms with INVALID_ARGUMENT", () =>
      withCluster(async (_store, cluster) => {
        await assertCode(cluster.heartbeat({ nodeId: "", address: "a:1", status: "up", servicesHash: "h" }, 1000), Code.InvalidArgument);
        await assertCode(cluster.heartbeat({ nodeId: "n", address: "a:1", status: "up", servicesHash: "h" }, 0), Code.InvalidArgument);
      }));
  });
}

// ---- helpers ----

/** The writer token of a fresh grant of `lease` to `owner`. */
async function grant(cluster: ClusterStore, owner: string, lease: string, ttlMs = 60_000): Promise<WriterToken> {
  const [granted] = await cluster.claimLeases(owner, [lease], ttlMs);
  assert.ok(granted !== undefined && granted.lease === lease, `${owner} was not granted ${lease}`);
  return { lease, token: granted.token };
}

/** Waits until `lease` has expired on the store's clock. */
async function expired(cluster: ClusterStore, lease: string): Promise<void> {
  await until(async () => (await cluster.listLeases()).some((r) => r.lease === lease && r.remainingMs === 0), `${lease} to expire`);
}

/** Polls `condition` every 20 ms for up to 10 s. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function any(typeUrl: string, byte: number): AnyValue {
  return { typeUrl, value: Uint8Array.of(byte) };
}

function appendOf(journalId: string, firstSeq: number, writer: WriterToken = LOCAL_WRITER, withSnapshot = false): JournalAppend {
  return {
    journalId,
    tag: "tag",
    firstSeq,
    events: [any("t/E", firstSeq)],
    writer,
    ...(withSnapshot ? { snapshot: any("t/S", firstSeq) } : {}),
  };
}

function assertAny(actual: AnyValue | undefined, expected: AnyValue): void {
  assert.ok(actual !== undefined, "a value is stored");
  assert.equal(actual.typeUrl, expected.typeUrl);
  assert.deepEqual([...actual.value], [...expected.value]);
}

async function assertCode(promise: Promise<unknown>, code: Code): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SwitchboardError, `expected a SwitchboardError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

async function assertStale(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SwitchboardError, `expected a SwitchboardError, got ${String(err)}`);
    assert.equal(err.code, Code.FailedPrecondition, err.message);
    assert.match(err.rawMessage, /^stale writer: /);
    return true;
  });
}
