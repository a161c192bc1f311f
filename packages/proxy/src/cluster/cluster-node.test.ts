import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { EntityServiceModel, ServiceModel } from "../descriptors/service-model.js";
import type { EntityOutcome } from "../entities/shared/types.js";
import { Code, SwitchboardError } from "../errors/index.js";
import { createFakeClock, type FakeClock } from "../internal/clock.js";
import { createLogger, silentLogger } from "../observability/logger.js";
import { createMemoryStore } from "../store/memory/memory-store.js";
import type { ClusterStore, Store } from "../store/types.js";
import { createClusterNode, type ManagedClusterNode } from "./cluster-node.js";
import { rendezvousOwner } from "./rendezvous.js";
import { shardLease, shardOf } from "./shard.js";
import type { EntityHost, EntitySelector, PlacementDecision, RemoteCommand } from "./types.js";

const TTL = 1000;
const SHARDS = 16;

function service(name: string, persistenceId = name, kind: EntityServiceModel["kind"] = "value"): EntityServiceModel {
  return {
    name,
    kind,
    persistenceId,
    methods: new Map([["Do", { name: "Do", input: { typeName: `${name}In` }, output: { typeName: `${name}Out` } }]]),
  } as unknown as EntityServiceModel;
}

function model(...services: EntityServiceModel[]): ServiceModel {
  return { services: new Map(services.map((s) => [s.name, s])) } as unknown as ServiceModel;
}

const CART = service("shop.Cart", "cart");
const MODEL = model(CART);

/** Everything the nodes did, in order, to check causality (passivate before release, claim before serving). */
type Event = { node: string; what: "passivate" | "release" | "claim"; shards: number[] };

class World {
  readonly clock: FakeClock = createFakeClock(1_000_000);
  readonly store: Store & { readonly cluster: ClusterStore } = createMemoryStore({ clock: this.clock });
  readonly nodes = new Map<string, ManagedClusterNode>();
  readonly hosts = new Map<string, EntityHost & { active: Set<string>; handled: string[] }>();
  readonly events: Event[] = [];
  readonly logs: string[] = [];

  /** Adds a node; `null`: its user function is not discovered yet. */
  add(id: string, serviceModel: ServiceModel | null = MODEL): ManagedClusterNode {
    const events = this.events;
    const shardsOf = (leases: readonly string[]) => leases.filter((l) => l.startsWith("shard/")).map((l) => Number(l.slice(6)));
    const base = this.store.cluster;
    const store: ClusterStore = {
      heartbeat: (member, ttl) => base.heartbeat(member, ttl),
      leave: (nodeId) => base.leave(nodeId),
      listLeases: () => base.listLeases(),
      async claimLeases(owner, leases, ttl) {
        const grants = await base.claimLeases(owner, leases, ttl);
        events.push({ node: owner, what: "claim", shards: shardsOf(grants.map((g) => g.lease)) });
        return grants;
      },
      async releaseLeases(owner, leases) {
        events.push({ node: owner, what: "release", shards: shardsOf(leases) });
        return base.releaseLeases(owner, leases);
      },
    };
    const active = new Set<string>();
    const handled: string[] = [];
    const host = {
      active,
      handled,
      model: () => serviceModel ?? undefined,
      async handle(command: RemoteCommand): Promise<EntityOutcome> {
        const decision = await node.placement.locate(CART, command.entityId);
        if (decision.kind !== "local")
          throw new SwitchboardError(`${command.service} entity ${command.entityId} is not owned by this node (${decision.kind})`, Code.Unavailable);
        active.add(command.entityId);
        handled.push(command.entityId);
        return { kind: "reply", node: id } as unknown as EntityOutcome;
      },
      handleStreamed: () => {
        throw new Error("not used");
      },
      async passivate(select: EntitySelector) {
        const gone = [...active].filter((entity) => select(CART, entity));
        for (const entity of gone) active.delete(entity);
        events.push({ node: id, what: "passivate", shards: [...new Set(gone.map((e) => shardOf("cart", e, SHARDS)))] });
      },
    };
    const hosts = this.hosts;
    const logs = this.logs;
    const node = createClusterNode({
      nodeId: id,
      address: `${id}:7000`,
      store,
      host,
      transport: {
        async forward(target, command) {
          const to = hosts.get(target.nodeId);
          if (to === undefined) throw new SwitchboardError(`node ${target.nodeId} (${target.address}) is unavailable: connection refused`, Code.Unavailable);
          return to.handle(command);
        },
        forwardStreamed() {
          throw new Error("not used");
        },
      },
      leaseTtlMs: TTL,
      shardCount: SHARDS,
      roundIntervalMs: 100,
      clock: this.clock,
      logger: createLogger({ level: "info", write: (line) => logs.push(line) }),
    });
    this.nodes.set(id, node);
    this.hosts.set(id, host);
    return node;
  }

  /** One round on every node (in order), then time moves on by `ms`. */
  async rounds(times = 1, ms = 100, only?: readonly string[]): Promise<void> {
    for (let i = 0; i < times; i++) {
      for (const [id, node] of this.nodes) if (only === undefined || only.includes(id)) await node.round();
      this.clock.advance(ms);
    }
  }

  /** Who owns each shard according to each node's own placement. */
  async owners(): Promise<Map<number, string>> {
    const owners = new Map<number, string>();
    for (const [id, node] of this.nodes)
      for (const shard of node.ownedShards()) {
        assert.ok(!owners.has(shard), `shard ${shard} owned by ${owners.get(shard)} and ${id}`);
        owners.set(shard, id);
      }
    return owners;
  }
}

/** An entity id that falls in `shard`. */
function entityIn(shard: number): string {
  for (let i = 0; ; i++) if (shardOf("cart", `e${i}`, SHARDS) === shard) return `e${i}`;
}

describe("cluster node", () => {
  it("spreads every shard to exactly one live member by rendezvous hashing, and every node places alike", async () => {
    const world = new World();
    for (const id of ["a", "b", "c"]) world.add(id);
    await world.rounds(3);
    const owners = await world.owners();
    assert.equal(owners.size, SHARDS);
    for (const [shard, owner] of owners) assert.equal(owner, rendezvousOwner(shardLease(shard), ["a", "b", "c"]));
    assert.equal(new Set(owners.values()).size, 3, "all three get shards");
    const leases = new Map((await world.store.cluster.listLeases()).map((l) => [l.lease, l]));
    for (let shard = 0; shard < SHARDS; shard++) {
      const entity = entityIn(shard);
      const owner = owners.get(shard) as string;
      for (const [id, node] of world.nodes) {
        const decision = await node.placement.locate(CART, entity);
        if (id === owner) assert.deepEqual(decision, { kind: "local", writer: { lease: shardLease(shard), token: leases.get(shardLease(shard))?.token } });
        else assert.deepEqual(decision, { kind: "remote", nodeId: owner, address: `${owner}:7000` });
      }
    }
    for (const node of world.nodes.values()) assert.ok(node.ready());
  });

  it("places CRDTs on every node with the local writer (each node is a replica)", async () => {
    const world = new World();
    world.add("a");
    world.add("b");
    await world.rounds(2);
    for (const node of world.nodes.values()) assert.equal((await node.placement.locate(service("x.Crdt", "crdt", "crdt"), "k")).kind, "local");
  });

  it("on a join, the old owner passivates a moving shard before releasing it and the new owner serves it only once granted", async () => {
    const world = new World();
    world.add("a");
    world.add("b");
    await world.rounds(3);
    const before = await world.owners();
    // Activate an entity in every shard on its owner.
    for (let shard = 0; shard < SHARDS; shard++)
      await world.hosts.get(before.get(shard) as string)?.handle({ service: "shop.Cart", method: "Do", entityId: entityIn(shard), payload: create(AnySchema) });
    world.events.length = 0;
    const c = world.add("c");
    await world.rounds(4);
    const after = await world.owners();
    const moved = [...after].filter(([, owner]) => owner === "c").map(([shard]) => shard);
    assert.ok(moved.length > 0, "c took shards");
    for (const shard of moved) {
      const from = before.get(shard) as string;
      const passivated = world.events.findIndex((e) => e.node === from && e.what === "passivate" && e.shards.includes(shard));
      const released = world.events.findIndex((e) => e.node === from && e.what === "release" && e.shards.includes(shard));
      const claimed = world.events.findIndex((e) => e.node === "c" && e.what === "claim" && e.shards.includes(shard));
      assert.ok(passivated >= 0 && passivated < released, `shard ${shard}: passivated (${passivated}) before released (${released})`);
      assert.ok(released < claimed, `shard ${shard}: released (${released}) before c's claim was granted (${claimed})`);
      assert.ok(!world.hosts.get(from)?.active.has(entityIn(shard)), "the old owner's entity is passive");
      assert.equal((await c.placement.locate(CART, entityIn(shard))).kind, "local");
    }
    assert.equal(after.size, SHARDS);
  });

  it("after a member dies, the survivors take its shards with a newer token once its leases expire, and its writes are refused", async () => {
    const world = new World();
    for (const id of ["a", "b", "c"]) world.add(id);
    await world.rounds(3);
    const owners = await world.owners();
    const bShard = [...owners].find(([, o]) => o === "b")?.[0] as number;
    const bWriter = (await world.nodes.get("b")?.placement.locate(CART, entityIn(bShard))) as Extract<PlacementDecision, { kind: "local" }>;
    assert.equal(bWriter.kind, "local");
    // b stops (kill -9): no more rounds.
    world.hosts.delete("b");
    let rounds = 0;
    while ((await world.owners()).get(bShard) === "b" || !(await world.owners()).has(bShard)) {
      await world.rounds(1, 100, ["a", "c"]);
      assert.ok(++rounds < 40, "its shards are taken over");
    }
    const taken = await world.owners();
    assert.equal(taken.size, SHARDS);
    assert.ok(![...taken.values()].includes("b"));
    const newOwner = world.nodes.get(taken.get(bShard) as string) as ManagedClusterNode;
    const decision = (await newOwner.placement.locate(CART, entityIn(bShard))) as Extract<PlacementDecision, { kind: "local" }>;
    assert.ok(decision.writer.token > bWriter.writer.token, "a newer fencing token");
    // b's late write with its old token is refused by the store.
    await assert.rejects(
      world.store.writeValue({
        kind: "update",
        persistenceId: "cart",
        entityId: entityIn(bShard),
        value: { typeUrl: "t", value: new Uint8Array() },
        writer: bWriter.writer,
      }),
      (error: unknown) => error instanceof SwitchboardError && error.code === Code.FailedPrecondition,
    );
    await world.store.writeValue({
      kind: "update",
      persistenceId: "cart",
      entityId: entityIn(bShard),
      value: { typeUrl: "t", value: new Uint8Array() },
      writer: decision.writer,
    });
    // b itself no longer places its old shards here once its own validity has run out.
    assert.notEqual((await world.nodes.get("b")?.placement.locate(CART, entityIn(bShard), { deadline: Date.now() }))?.kind, "local");
  });

  it("a forward to a node that is gone is placed again and reaches the new owner", async () => {
    const world = new World();
    for (const id of ["a", "b"]) world.add(id);
    await world.rounds(3);
    const owners = await world.owners();
    const bShard = [...owners].find(([, o]) => o === "b")?.[0] as number;
    const a = world.nodes.get("a") as ManagedClusterNode;
    const target = (await a.placement.locate(CART, entityIn(bShard))) as Extract<PlacementDecision, { kind: "remote" }>;
    assert.equal(target.kind, "remote");
    world.hosts.delete("b");
    const forwarded = a.forwarder.forward(target, { service: "shop.Cart", method: "Do", entityId: entityIn(bShard), payload: create(AnySchema) });
    // Keep a's rounds going while the forward waits for b's leases to expire.
    let settled = false;
    void forwarded.finally(() => {
      settled = true;
    });
    for (let i = 0; i < 40 && !settled; i++) await world.rounds(1, 100, ["a"]);
    const outcome = (await forwarded) as unknown as { node: string };
    assert.equal(outcome.node, "a", "answered by the new owner");
  });

  it("with no owner a command waits within its deadline, then is UNAVAILABLE naming the shard", async () => {
    const world = new World();
    const a = world.add("a", null);
    await world.rounds(2);
    const pending = a.placement.locate(CART, entityIn(3), { deadline: Date.now() + 300 });
    world.clock.advance(400);
    const decision = await pending;
    assert.equal(decision.kind, "unavailable");
    assert.match((decision as { reason: string }).reason, /shard 3 has no reachable owner/);
  });

  it("a node whose user function offers different services takes no shards, stays not ready and says so", async () => {
    const world = new World();
    world.add("a");
    world.add("b");
    await world.rounds(3);
    const odd = world.add("c", model(CART, service("shop.Extra")));
    await world.rounds(4);
    assert.equal(odd.ready(), false);
    assert.deepEqual(odd.ownedShards(), []);
    assert.ok(!([...(await world.owners()).values()] as string[]).includes("c"));
    assert.ok(
      world.logs.some((l) => /different set of services than the cluster/.test(l)),
      world.logs.join("\n"),
    );
    assert.ok(world.nodes.get("a")?.ready());
    // It still forwards: placement names the owners.
    assert.equal((await odd.placement.locate(CART, entityIn(0))).kind, "remote");
  });

  it("is not ready before its first view, nor before its user function is discovered", async () => {
    const world = new World();
    const a = world.add("a");
    assert.equal(a.ready(), false);
    await a.round();
    assert.equal(a.ready(), true);
    const b = world.add("b", null);
    await b.round();
    assert.equal(b.ready(), false);
    assert.deepEqual(b.ownedShards(), []);
  });

  it("drain hands every shard over (passivated, released) and leaves", async () => {
    const world = new World();
    for (const id of ["a", "b"]) world.add(id);
    await world.rounds(3);
    const b = world.nodes.get("b") as ManagedClusterNode;
    const bShards = b.ownedShards();
    for (const shard of bShards)
      await world.hosts.get("b")?.handle({ service: "shop.Cart", method: "Do", entityId: entityIn(shard), payload: create(AnySchema) });
    await b.drain();
    assert.deepEqual(b.ownedShards(), []);
    assert.equal(b.ready(), false);
    assert.equal(world.hosts.get("b")?.active.size, 0, "b's entities are passive");
    await world.rounds(2, 100, ["a"]);
    assert.deepEqual(
      world.nodes.get("a")?.ownedShards(),
      Array.from({ length: SHARDS }, (_, i) => i),
    );
    // Calls reaching b while it still accepts them go to a.
    await world.rounds(1, 100, ["b"]);
    assert.deepEqual(await b.placement.locate(CART, entityIn(bShards[0] as number)), { kind: "remote", nodeId: "a", address: "a:7000" });
    await b.close();
    const members = await world.store.cluster.heartbeat({ nodeId: "a", address: "a:7000", status: "up", servicesHash: "x" }, TTL);
    assert.deepEqual(
      members.map((m) => m.nodeId),
      ["a"],
    );
  });

  it("runs each consumer on exactly one node and moves it, after it stopped, when its node leaves", async () => {
    const world = new World();
    for (const id of ["a", "b", "c"]) world.add(id);
    const stop = new AbortController();
    const running = new Map<string, string>();
    const log: string[] = [];
    const consume = (id: string) =>
      (async () => {
        const node = world.nodes.get(id) as ManagedClusterNode;
        for (;;) {
          const lease = await node.consumers.acquire("orders", stop.signal);
          if (lease === undefined) return;
          assert.equal(running.get("orders"), undefined, `orders already runs on ${running.get("orders")}`);
          running.set("orders", id);
          log.push(`start ${id}`);
          await new Promise<void>((resolve) => lease.lost.addEventListener("abort", () => resolve(), { once: true }));
          running.delete("orders");
          log.push(`stop ${id}`);
          lease.done();
        }
      })();
    const loops = ["a", "b", "c"].map(consume);
    await world.rounds(3);
    const first = running.get("orders") as string;
    assert.ok(first !== undefined, "runs somewhere");
    assert.equal(first, rendezvousOwner("consumer/orders", ["a", "b", "c"]));
    log.length = 0;
    await world.nodes.get(first)?.drain();
    await world.rounds(
      3,
      100,
      ["a", "b", "c"].filter((n) => n !== first),
    );
    const second = running.get("orders");
    assert.ok(second !== undefined && second !== first, `moved from ${first} (now ${second})`);
    assert.deepEqual(log, [`stop ${first}`, `start ${second}`]);
    stop.abort();
    for (const node of world.nodes.values()) await node.close();
    await Promise.all(loops);
  });

  it("passes every round quietly with a silent logger (smoke)", async () => {
    const clock = createFakeClock();
    const store = createMemoryStore({ clock });
    const host: EntityHost = { model: () => MODEL, handle: () => Promise.reject(new Error("x")), handleStreamed: () => [] as never, passivate: async () => {} };
    const node = createClusterNode({
      nodeId: "solo",
      address: "solo:1",
      store: store.cluster,
      host,
      transport: { forward: () => Promise.reject(new Error("x")), forwardStreamed: () => [] as never },
      leaseTtlMs: TTL,
      clock,
      logger: silentLogger,
    });
    node.start();
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) {
      clock.advance(200);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(node.ownedShards().length, 128);
    await node.close();
    assert.equal(clock.pendingTimers, 0);
  });
});
