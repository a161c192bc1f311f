import type { EntityServiceModel } from "../descriptors/service-model.js";
import type { EntityOutcome } from "../entities/shared/types.js";
import { Code, SwitchboardError } from "../errors/index.js";
import { type Clock, systemClock } from "../internal/clock.js";
import type { Logger } from "../observability/logger.js";
import { LOCAL_WRITER, type ClusterStore, type LeaseRecord, type MemberRecord } from "../store/types.js";
import { rendezvousOwner } from "./rendezvous.js";
import { servicesFingerprint } from "./services-fingerprint.js";
import { shardLease, shardOf } from "./shard.js";
import type {
  ClusterNode,
  ConsumerLeases,
  CrdtReplicas,
  EntityHost,
  Forwarder,
  HeldConsumerLease,
  LocateOptions,
  Placement,
  PlacementDecision,
  RemoteCommand,
  RemoteNode,
} from "./types.js";
import type { CallSignal } from "../internal/call-signal.js";

/** The number of shards every node of a cluster uses; fixed, since it decides where every entity lives. */
export const DEFAULT_SHARD_COUNT = 128;

/** Options of {@link createClusterNode}. */
export interface ClusterNodeOptions {
  readonly nodeId: string;
  /** This node's cluster port as other members reach it (`host:port`). */
  readonly address: string;
  /** Membership and leases, judged on the store's clock. */
  readonly store: ClusterStore;
  /** This node's entities. */
  readonly host: EntityHost;
  /** The transport to other nodes. Commands it reports as not delivered are placed again and retried. */
  readonly transport: Forwarder;
  /** Builds the CRDT replicas, given the live members (default: replicas that know only the members). */
  readonly replicas?: (members: () => readonly RemoteNode[]) => CrdtReplicas;
  readonly leaseTtlMs: number;
  readonly shardCount?: number;
  /** Time between rounds (heartbeat, lease claims, lease table); default ttl/10, 100-500 ms. */
  readonly roundIntervalMs?: number;
  /** Monotonic time for lease validity and waiting (default: the system clock). */
  readonly clock?: Clock;
  readonly logger: Logger;
}

/** A cluster node as its owner drives it. */
export interface ManagedClusterNode extends ClusterNode {
  readonly nodeId: string;
  readonly consumers: ConsumerLeases;
  ready(): boolean;
  drain(): Promise<void>;
  /** Starts the rounds (the first one at once). */
  start(): void;
  /** Runs one round now (tests drive rounds by hand with a fake clock). */
  round(): Promise<void>;
  /** The live members that serve the cluster's services, this one included. */
  members(): readonly RemoteNode[];
  /** The shards this node holds a valid lease for, sorted. */
  ownedShards(): number[];
}

interface HeldLease {
  token: number;
  /** Monotonic time until which this node may act on the lease: sent time + ttl − margin. */
  validUntil: number;
  /** Being handed over: no new local work. */
  releasing: boolean;
}

interface ConsumerState {
  /** Waiters for the lease; resolved once it is held. */
  readonly waiters: Set<(held: HeldConsumerLease) => void>;
  /** The consumer currently running under the lease. */
  running?: { readonly controller: AbortController; readonly stopped: Promise<void> } | undefined;
}

interface View {
  /** Live members, by node id (any status). */
  readonly members: ReadonlyMap<string, MemberRecord>;
  /** Members that get shards: up, discovered, serving the cluster's services. Sorted ids. */
  readonly eligible: readonly string[];
  /** The lease table, with when it was read (monotonic). */
  readonly leases: ReadonlyMap<string, LeaseRecord>;
  readonly readAt: number;
}

const NOT_OWNED = "is not owned by this node";

/**
 * A cluster member on a shared {@link ClusterStore}: heartbeats its membership, spreads a
 * fixed number of shards over the live members by rendezvous hashing, holds the leases
 * of its own shards (renewed every round, with the store's fencing token), and answers
 * placement from what it holds and from the lease table. A shard it gives up (a member
 * joined, or it is leaving) has its entities passivated before its lease is released;
 * a shard it takes is served only once its lease is granted. Event-log consumers get
 * leases of their own, spread the same way.
 */
export function createClusterNode(options: ClusterNodeOptions): ManagedClusterNode {
  const { nodeId, address, store, host, transport, logger } = options;
  const clock = options.clock ?? systemClock;
  const ttl = options.leaseTtlMs;
  const shardCount = options.shardCount ?? DEFAULT_SHARD_COUNT;
  const interval = options.roundIntervalMs ?? Math.min(500, Math.max(100, Math.floor(ttl / 10)));
  // A lease is acted on only until well before the store would expire it, on our own monotonic clock.
  const margin = Math.max(Math.floor(ttl / 5), interval);
  // How long a command waits for its shard to get a reachable owner when the call sets no deadline.
  const maxWaitMs = 2 * ttl + 4 * interval;

  const held = new Map<string, HeldLease>();
  const consumers = new Map<string, ConsumerState>();
  let view: View | undefined;
  let leaving = false;
  let closed = false;
  let mismatch = false;
  let running: Promise<void> | undefined;
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  let viewWaiters: Array<() => void> = [];
  const replicaMembers = (): readonly RemoteNode[] => eligibleNodes();
  const replicas = options.replicas?.(replicaMembers) ?? membersOnlyReplicas(nodeId, replicaMembers);

  function eligibleNodes(): RemoteNode[] {
    if (view === undefined) return [{ nodeId, address }];
    const current = view;
    return current.eligible.map((id) => ({ nodeId: id, address: current.members.get(id)?.address ?? "" }));
  }

  function fingerprint(): string {
    const model = host.model();
    return model === undefined ? "" : servicesFingerprint(model);
  }

  /** The services fingerprint the cluster runs: the one whose members hold the most live leases, then the most members. */
  function clusterFingerprint(up: readonly MemberRecord[], leases: ReadonlyMap<string, LeaseRecord>): string | undefined {
    const score = new Map<string, { leases: number; members: number }>();
    for (const member of up) {
      const s = score.get(member.servicesHash) ?? { leases: 0, members: 0 };
      s.members++;
      score.set(member.servicesHash, s);
    }
    const hashOf = new Map(up.map((m) => [m.nodeId, m.servicesHash]));
    for (const lease of leases.values()) {
      const hash = lease.remainingMs > 0 ? hashOf.get(lease.owner) : undefined;
      if (hash !== undefined) (score.get(hash) as { leases: number }).leases++;
    }
    let best: string | undefined;
    let bestScore = { leases: -1, members: -1 };
    for (const [hash, s] of [...score].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (s.leases > bestScore.leases || (s.leases === bestScore.leases && s.members > bestScore.members)) {
        best = hash;
        bestScore = s;
      }
    }
    return best;
  }

  function isShardLease(lease: string): boolean {
    return lease.startsWith("shard/");
  }

  function consumerLease(consumer: string): string {
    return `consumer/${consumer}`;
  }

  function shardSelector(shards: ReadonlySet<number>) {
    return (service: EntityServiceModel, entityId: string) => service.kind !== "crdt" && shards.has(shardOf(service.persistenceId, entityId, shardCount));
  }

  async function giveUp(leases: readonly string[], why: string): Promise<void> {
    if (leases.length === 0) return;
    for (const lease of leases) {
      const h = held.get(lease);
      if (h !== undefined) h.releasing = true;
    }
    const shards = new Set(leases.filter(isShardLease).map((l) => Number(l.slice("shard/".length))));
    if (shards.size > 0) {
      try {
        await host.passivate(shardSelector(shards));
      } catch (error) {
        logger.warn("passivating the entities of handed-over shards failed", { error: (error as Error).message });
      }
    }
    await Promise.all(leases.filter((l) => !isShardLease(l)).map((lease) => stopConsumer(lease.slice("consumer/".length))));
    try {
      await store.releaseLeases(nodeId, leases);
    } catch (error) {
      // Not released: they expire after the ttl instead, and our tokens are refused from then on.
      logger.warn("releasing leases failed; they expire by themselves", { error: (error as Error).message });
    }
    for (const lease of leases) held.delete(lease);
    logger.info("leases handed over", { reason: why, shards: [...shards].sort((a, b) => a - b).join(",") || undefined, count: leases.length });
  }

  async function stopConsumer(consumer: string): Promise<void> {
    const state = consumers.get(consumer);
    const run = state?.running;
    if (state === undefined || run === undefined) return;
    run.controller.abort();
    // A consumer finishes the delivery in flight and saves its offset; do not wait past the lease for it.
    await Promise.race([run.stopped, new Promise<void>((resolve) => clock.setTimeout(resolve, ttl))]);
    state.running = undefined;
  }

  function startConsumer(consumer: string): void {
    const state = consumers.get(consumer);
    if (state === undefined || state.running !== undefined || state.waiters.size === 0) return;
    const controller = new AbortController();
    let done!: () => void;
    const stopped = new Promise<void>((resolve) => {
      done = resolve;
    });
    state.running = { controller, stopped };
    const waiter = state.waiters.values().next().value as (held: HeldConsumerLease) => void;
    state.waiters.delete(waiter);
    waiter({
      lost: controller.signal,
      done: () => {
        done();
        if (state.running?.controller === controller) state.running = undefined;
      },
    });
  }

  async function round(): Promise<void> {
    if (closed) return;
    const sentAt = clock.now();
    const mine = fingerprint();
    let members: MemberRecord[];
    let table: LeaseRecord[];
    try {
      members = await store.heartbeat({ nodeId, address, status: leaving ? "leaving" : "up", servicesHash: mine }, ttl);
      table = await store.listLeases();
    } catch (error) {
      logger.warn("cluster round failed: cannot reach the store", { error: (error as Error).message });
      return;
    }
    const leases = new Map(table.map((l) => [l.lease, l]));
    const up = members.filter((m) => m.status === "up" && m.servicesHash !== "");
    const agreed = clusterFingerprint(up, leases);
    const disagrees = mine !== "" && agreed !== undefined && agreed !== mine;
    if (disagrees !== mismatch) {
      mismatch = disagrees;
      if (disagrees) {
        logger.error("this node's user function offers a different set of services than the cluster; taking no shards and staying not ready until they match", {
          node: nodeId,
          services: mine,
          cluster: agreed,
        });
      } else {
        logger.info("this node's services match the cluster again", { node: nodeId });
      }
    }
    const eligible = up
      .filter((m) => m.servicesHash === agreed)
      .map((m) => m.nodeId)
      .sort();

    // What this node should hold now: its rendezvous share, unless it is leaving or cannot serve.
    const desired = new Set<string>();
    if (!leaving && !mismatch && mine !== "" && eligible.includes(nodeId)) {
      for (let shard = 0; shard < shardCount; shard++) {
        const lease = shardLease(shard);
        if (rendezvousOwner(lease, eligible) === nodeId) desired.add(lease);
      }
      for (const [consumer, state] of consumers) {
        const lease = consumerLease(consumer);
        if ((state.waiters.size > 0 || state.running !== undefined) && rendezvousOwner(lease, eligible) === nodeId) desired.add(lease);
      }
    }
    await giveUp(
      [...held.keys()].filter((lease) => !desired.has(lease)),
      leaving ? "leaving" : "rebalance",
    );

    let granted = new Map<string, number>();
    if (desired.size > 0) {
      try {
        const grants = await store.claimLeases(nodeId, [...desired], ttl);
        granted = new Map(grants.map((g) => [g.lease, g.token]));
      } catch (error) {
        logger.warn("claiming leases failed", { error: (error as Error).message });
      }
    }
    const validUntil = sentAt + ttl - margin;
    const lost: string[] = [];
    for (const lease of desired) {
      const token = granted.get(lease);
      const before = held.get(lease);
      if (token === undefined) {
        // Another live owner still holds it (it has not handed it over yet), or the claim failed.
        if (before !== undefined) lost.push(lease);
        continue;
      }
      if (before !== undefined && before.token !== token) lost.push(lease);
      else held.set(lease, { token, validUntil, releasing: false });
    }
    if (lost.length > 0) {
      // We held these and no longer do (expired while we were away): what is active under them must go.
      logger.warn("lost leases", { count: lost.length });
      await giveUp(lost, "lost");
    }
    for (const lease of held.keys()) {
      if (!isShardLease(lease)) startConsumer(lease.slice("consumer/".length));
    }
    // The table as read, with our own grants of this round folded in.
    for (const [lease, token] of granted) leases.set(lease, { lease, owner: nodeId, token, remainingMs: ttl });
    view = { members: new Map(members.map((m) => [m.nodeId, m])), eligible, leases, readAt: sentAt };
    const waiters = viewWaiters;
    viewWaiters = [];
    for (const wake of waiters) wake();
    const took = clock.now() - sentAt;
    // A round that takes a good part of the ttl means renewals are late: leases may run out under a live node.
    if (took > ttl / 3) logger.warn("cluster round was slow; leases may run out", { tookMs: Math.round(took), leaseTtlMs: ttl });
  }

  function runRound(): Promise<void> {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(): void {
    if (closed) return;
    timer = clock.setTimeout(() => {
      void runRound().finally(schedule);
    }, interval);
  }

  /** Resolves after the next round (or at `until`, or when `signal` aborts). */
  function nextView(until: number, signal: CallSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const wait = Math.max(0, until - clock.now());
      let t: ReturnType<Clock["setTimeout"]> | undefined;
      const done = () => {
        clock.clearTimeout(t);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      t = clock.setTimeout(done, wait);
      signal?.addEventListener("abort", done, { once: true });
      viewWaiters.push(done);
    });
  }

  /** What placement can say right now, or undefined when it must wait for a later view. */
  function decide(lease: string): PlacementDecision | undefined {
    const mine = held.get(lease);
    if (mine !== undefined && !mine.releasing && clock.now() < mine.validUntil) return { kind: "local", writer: { lease, token: mine.token } };
    if (view === undefined) return undefined;
    const record = view.leases.get(lease);
    if (record === undefined || record.owner === nodeId) return undefined;
    if (record.remainingMs - (clock.now() - view.readAt) <= 0) return undefined;
    const member = view.members.get(record.owner);
    if (member === undefined) return undefined;
    return { kind: "remote", nodeId: member.nodeId, address: member.address };
  }

  function waitBound(options: LocateOptions | undefined): number {
    const fromDeadline = options?.deadline === undefined ? Number.POSITIVE_INFINITY : options.deadline - Date.now();
    return clock.now() + Math.max(0, Math.min(maxWaitMs, fromDeadline));
  }

  async function locateShard(shard: number, options: LocateOptions | undefined): Promise<PlacementDecision> {
    const lease = shardLease(shard);
    const until = waitBound(options);
    for (;;) {
      const decision = decide(lease);
      if (decision !== undefined) return decision;
      if (clock.now() >= until || options?.signal?.aborted || closed) {
        return { kind: "unavailable", reason: `shard ${shard} has no reachable owner right now (being handed over or its owner failed); try again` };
      }
      await nextView(until, options?.signal);
    }
  }

  const placement: Placement = {
    locate(service, entityId, options) {
      // Every node hosts a replica of every CRDT: no owner, and CRDT state carries no writer.
      if (service.kind === "crdt") return { kind: "local", writer: LOCAL_WRITER };
      const shard = shardOf(service.persistenceId, entityId, shardCount);
      const decision = decide(shardLease(shard));
      return decision ?? locateShard(shard, options);
    },
  };

  /** Whether a failed forward certainly did not run the command, so placing it again is safe. */
  function notRun(error: unknown): boolean {
    if (!(error instanceof SwitchboardError) || error.code !== Code.Unavailable) return false;
    // The owner refused it before running it, or the transport never reached the owner (nothing was sent).
    return error.rawMessage.includes(NOT_OWNED) || /ECONNREFUSED|connection refused|is unreachable:|not delivered/.test(error.rawMessage);
  }

  async function forward(target: RemoteNode, command: RemoteCommand): Promise<EntityOutcome> {
    const until = waitBound(command);
    let to = target;
    for (;;) {
      try {
        return await transport.forward(to, command);
      } catch (error) {
        if (!notRun(error) || clock.now() >= until || command.signal?.aborted) throw error;
        await nextView(until, command.signal);
        const service = host.model()?.services.get(command.service);
        if (service === undefined) throw error;
        const decision = await placement.locate(service, command.entityId, {
          ...(command.deadline !== undefined ? { deadline: command.deadline } : {}),
          ...(command.signal ? { signal: command.signal } : {}),
        });
        if (decision.kind === "local") return host.handle(command);
        if (decision.kind === "unavailable") throw new SwitchboardError(decision.reason, Code.Unavailable);
        to = decision;
      }
    }
  }

  const forwarder: Forwarder = {
    forward,
    forwardStreamed: (target, command) => transport.forwardStreamed(target, command),
  };

  const consumerLeases: ConsumerLeases = {
    acquire(consumer, signal) {
      return new Promise<HeldConsumerLease | undefined>((resolve) => {
        if (signal.aborted || closed) {
          resolve(undefined);
          return;
        }
        let state = consumers.get(consumer);
        if (state === undefined) {
          state = { waiters: new Set() };
          consumers.set(consumer, state);
        }
        const entry = (heldLease: HeldConsumerLease) => {
          signal.removeEventListener("abort", onAbort);
          resolve(heldLease);
        };
        const onAbort = () => {
          state.waiters.delete(entry);
          resolve(undefined);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        state.waiters.add(entry);
        // Already held (a consumer stopped and asks again): run at once.
        const mine = held.get(consumerLease(consumer));
        if (mine !== undefined && !mine.releasing) startConsumer(consumer);
      });
    },
  };

  let draining: Promise<void> | undefined;
  return {
    nodeId,
    placement,
    forwarder,
    replicas,
    consumers: consumerLeases,
    members: replicaMembers,
    ready: () => view !== undefined && !mismatch && !leaving && fingerprint() !== "",
    ownedShards: () =>
      [...held.entries()]
        .filter(([lease, h]) => isShardLease(lease) && !h.releasing && clock.now() < h.validUntil)
        .map(([lease]) => Number(lease.slice("shard/".length)))
        .sort((a, b) => a - b),
    start() {
      void runRound().finally(schedule);
    },
    round: runRound,
    drain() {
      draining ??= (async () => {
        leaving = true;
        await running;
        await runRound();
      })();
      return draining;
    },
    async close() {
      if (closed) return;
      leaving = true;
      await running;
      closed = true;
      clock.clearTimeout(timer);
      if (held.size > 0) await giveUp([...held.keys()], "closing");
      for (const wake of viewWaiters) wake();
      viewWaiters = [];
      for (const state of consumers.values()) state.running?.controller.abort();
      try {
        await store.leave(nodeId);
      } catch (error) {
        logger.warn("leaving the membership failed; the heartbeat expires by itself", { error: (error as Error).message });
      }
    },
  };
}

/** Replicas of a node without a gossip transport: deltas stay here, but `members` (Vote) sees the cluster. */
function membersOnlyReplicas(nodeId: string, members: () => readonly RemoteNode[]): CrdtReplicas {
  return {
    nodeId,
    members: () => members().map((m) => m.nodeId),
    publish() {},
    onDelta: () => () => {},
    awaitConsistency: () => Promise.resolve(),
  };
}

export { NOT_OWNED };
