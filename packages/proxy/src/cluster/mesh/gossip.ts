import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { mesh } from "@switchboard/protocol/cluster";
import { decodeCrdtState, encodeCrdtState } from "../../entities/crdt/storage-format.js";
import { type CrdtState, mergeStates } from "../../entities/crdt/state.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import { type Clock, type ClockTimer, systemClock } from "../../internal/clock.js";
import type { Logger } from "../../observability/logger.js";
import type { CrdtReplicas, RemoteNode, ReplicatedDelta, WriteConsistency } from "../types.js";
import { createMeshClient, type MeshClient } from "./client.js";
import type { CrdtStateSource, EntityRef, ExchangeAnswer, MeshReplicaSink, StateDigest } from "./types.js";
import { MESH_PATHS } from "./wire.js";

/** Options of {@link createGossipReplicas}. */
export interface GossipReplicasOptions {
  /** This node's id (stable across restarts: its CRDT entries are its own). */
  readonly nodeId: string;
  /** The live members with their internal addresses; this node may be among them. */
  readonly members: () => readonly RemoteNode[];
  readonly logger: Logger;
  /** Timers (default: the system clock). */
  readonly clock?: Clock;
  /** The mesh client to send with (share the forwarder's: one session per peer); default: one of its own. */
  readonly client?: MeshClient;
  /**
   * Where anti-entropy reads this replica's full states (default: the replicas' own
   * record, the join of every delta published here or received).
   */
  readonly source?: CrdtStateSource;
  /** How often one peer is picked for an anti-entropy exchange (default 2000 ms; 0: never). */
  readonly antiEntropyIntervalMs?: number;
  /** How long `majority`/`all` writes wait for acknowledgements when no signal ends them sooner (default 5000 ms). */
  readonly consistencyTimeoutMs?: number;
  /** Bound on the deltas (bytes) of one gossip message (default 1 MiB). */
  readonly maxBatchBytes?: number;
  /** Deltas kept per unreachable peer before the oldest are dropped (anti-entropy repairs them; default 10000). */
  readonly maxQueuedPerPeer?: number;
  /** First delay before a failed send to a peer is retried; doubles up to 16 times this (default 250 ms). */
  readonly retryDelayMs?: number;
  /** Deadline of one gossip or exchange call (default 5000 ms). */
  readonly requestTimeoutMs?: number;
}

/** The gossip replicas: this node's {@link CrdtReplicas}, the server's {@link MeshReplicaSink}, and `close`. */
export type GossipReplicas = CrdtReplicas & MeshReplicaSink & { close(): void };

/** A published delta and who holds it. */
interface DeltaRecord {
  readonly delta: ReplicatedDelta;
  readonly size: number;
  /** Nodes that acknowledged it (this node from the start). */
  readonly acked: Set<string>;
  /** Nodes it is queued for or was sent to. */
  readonly sentTo: Set<string>;
}

interface Waiter {
  readonly record: DeltaRecord;
  readonly level: WriteConsistency;
  resolve(): void;
  reject(error: SwitchboardError): void;
}

interface Outbox {
  queue: DeltaRecord[];
  sending: boolean;
  timer: ClockTimer | undefined;
  backoff: number;
}

interface LedgerEntry {
  readonly persistenceId: string;
  readonly entityId: string;
  state: CrdtState;
  bytes: Uint8Array | undefined;
}

const keyOf = (persistenceId: string, entityId: string) => `${persistenceId.length}:${persistenceId}${entityId}`;
const hashOf = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest().subarray(0, 16);
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
/** Replicas `level` asks for among `n` members. */
const needed = (level: WriteConsistency, n: number) => (level === "all" ? n : level === "majority" ? Math.floor(n / 2) + 1 : 1);
/** Failures worth sending again later; anything else (a refused batch) would fail again. */
const retryable = (code: Code) => code === Code.Unavailable || code === Code.DeadlineExceeded || code === Code.Canceled || code === Code.ResourceExhausted;

/**
 * This node as one CRDT replica among the cluster's members, replicating over the mesh.
 * `publish` queues a delta for every other member and returns at once; a peer's queue is
 * sent as one `Gossip` message (bounded by `maxBatchBytes`) whenever no send to it is in
 * flight, so deltas made while one batch travels go together in the next. A peer
 * acknowledges a batch once it holds it, which is what `awaitConsistency` counts
 * (`majority`: more than half of the current members, `all`: every one, this node
 * included); a send that fails is retried with backoff while the peer is a member.
 * Periodically one peer is picked for anti-entropy (`Exchange`): digests of every full
 * state go out, states that differ come back and are sent back, so replicas converge
 * after lost deltas, a partition or a restart. Received deltas and states go to the
 * `onDelta` listeners (the CRDT runtime merges them by the CRDT rules).
 */
export function createGossipReplicas(options: GossipReplicasOptions): GossipReplicas {
  const { nodeId } = options;
  const logger = options.logger.child({ component: "crdt-gossip", nodeId });
  const clock = options.clock ?? systemClock;
  const ownClient = options.client === undefined;
  const client = options.client ?? createMeshClient({ logger });
  const antiEntropyIntervalMs = options.antiEntropyIntervalMs ?? 2000;
  const consistencyTimeoutMs = options.consistencyTimeoutMs ?? 5000;
  const maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
  const maxQueued = options.maxQueuedPerPeer ?? 10_000;
  const retryDelayMs = options.retryDelayMs ?? 250;
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;

  const listeners = new Set<(delta: ReplicatedDelta) => void>();
  const records = new WeakMap<ReplicatedDelta, DeltaRecord>();
  const outboxes = new Map<string, Outbox>();
  const waiters = new Set<Waiter>();
  const ledger = new Map<string, LedgerEntry>();
  let closed = false;
  let antiEntropyTimer: ClockTimer | undefined;
  let membershipTimer: ClockTimer | undefined;
  let exchangeRound = 0;

  /** The current members other than this node, by id. */
  const peers = (): Map<string, RemoteNode> => {
    const out = new Map<string, RemoteNode>();
    for (const member of options.members()) if (member.nodeId !== nodeId) out.set(member.nodeId, member);
    return out;
  };
  const memberIds = (): string[] => {
    const ids = options.members().map((m) => m.nodeId);
    return ids.includes(nodeId) ? ids : [nodeId, ...ids];
  };

  /** Joins a delta (or full state) into the replicas' own record; false when it cannot be read. */
  function record(delta: ReplicatedDelta): boolean {
    let state: CrdtState;
    try {
      state = decodeCrdtState(delta.delta, `persistence id "${delta.persistenceId}" entity "${delta.entityId}"`);
    } catch (error) {
      logger.warn("unreadable CRDT delta", { persistenceId: delta.persistenceId, entityId: delta.entityId, error: (error as Error).message });
      return false;
    }
    const key = keyOf(delta.persistenceId, delta.entityId);
    const entry = ledger.get(key);
    if (entry === undefined) {
      ledger.set(key, { persistenceId: delta.persistenceId, entityId: delta.entityId, state, bytes: undefined });
      return true;
    }
    try {
      entry.state = mergeStates(entry.state, state);
      entry.bytes = undefined;
    } catch (error) {
      logger.warn("CRDT delta of another type", { persistenceId: delta.persistenceId, entityId: delta.entityId, error: (error as Error).message });
      return false;
    }
    return true;
  }

  const ledgerSource: CrdtStateSource = {
    *states() {
      for (const entry of ledger.values()) {
        entry.bytes ??= encodeCrdtState(entry.state);
        yield { persistenceId: entry.persistenceId, entityId: entry.entityId, delta: entry.bytes };
      }
    },
  };
  const source = options.source ?? ledgerSource;

  // ---- sending deltas ----

  function outboxOf(peer: string): Outbox {
    let outbox = outboxes.get(peer);
    if (outbox === undefined) {
      outbox = { queue: [], sending: false, timer: undefined, backoff: retryDelayMs };
      outboxes.set(peer, outbox);
    }
    return outbox;
  }

  function enqueue(peer: string, rec: DeltaRecord): void {
    const outbox = outboxOf(peer);
    rec.sentTo.add(peer);
    outbox.queue.push(rec);
    if (outbox.queue.length > maxQueued) {
      const dropped = outbox.queue.splice(0, outbox.queue.length - maxQueued);
      for (const old of dropped) old.sentTo.delete(peer);
      logger.warn("gossip queue full: oldest deltas dropped (anti-entropy repairs them)", { peer, dropped: dropped.length });
    }
    schedule(peer, outbox, 0);
  }

  function schedule(peer: string, outbox: Outbox, delayMs: number): void {
    if (closed || outbox.sending || outbox.timer !== undefined) return;
    outbox.timer = clock.setTimeout(() => {
      outbox.timer = undefined;
      void flush(peer, outbox);
    }, delayMs);
  }

  async function flush(peer: string, outbox: Outbox): Promise<void> {
    if (closed || outbox.sending || outbox.queue.length === 0) return;
    const target = peers().get(peer);
    if (target === undefined) {
      // No longer a member: what was queued for it is moot.
      for (const rec of outbox.queue) rec.sentTo.delete(peer);
      outboxes.delete(peer);
      return;
    }
    let bytes = 0;
    let count = 0;
    for (const rec of outbox.queue) {
      if (count > 0 && bytes + rec.size > maxBatchBytes) break;
      bytes += rec.size;
      count++;
    }
    const batch = outbox.queue.splice(0, count);
    outbox.sending = true;
    try {
      await client.unary(
        target,
        MESH_PATHS.gossip,
        mesh.DeltaBatchSchema,
        create(mesh.DeltaBatchSchema, { from: nodeId, deltas: batch.map((r) => r.delta) }),
        mesh.GossipAckSchema,
        { deadline: Date.now() + requestTimeoutMs },
      );
      outbox.backoff = retryDelayMs;
      for (const rec of batch) rec.acked.add(peer);
      checkWaiters();
    } catch (error) {
      const e = SwitchboardError.from(error);
      if (retryable(e.code) && !closed) {
        outbox.queue.unshift(...batch);
        if (outbox.queue.length > maxQueued) {
          const dropped = outbox.queue.splice(0, outbox.queue.length - maxQueued);
          for (const old of dropped) old.sentTo.delete(peer);
        }
        logger.debug("gossip to a peer failed; retrying", { peer, error: e.rawMessage, retryInMs: outbox.backoff });
        outbox.sending = false;
        schedule(peer, outbox, outbox.backoff);
        outbox.backoff = Math.min(outbox.backoff * 2, retryDelayMs * 16);
        return;
      }
      for (const rec of batch) rec.sentTo.delete(peer);
      logger.error("gossip batch refused by a peer", { peer, error: e.rawMessage, deltas: batch.length });
    }
    outbox.sending = false;
    if (outbox.queue.length > 0) schedule(peer, outbox, 0);
  }

  // ---- write consistency ----

  /** Settles the waiters whose level is met; queues their deltas for members that joined since. */
  function checkWaiters(): void {
    if (waiters.size === 0) return;
    const ids = memberIds();
    const current = peers();
    for (const waiter of waiters) {
      const { record: rec, level } = waiter;
      let held = 0;
      for (const id of ids) if (rec.acked.has(id)) held++;
      if (held >= needed(level, ids.length)) {
        waiters.delete(waiter);
        waiter.resolve();
        continue;
      }
      for (const id of current.keys()) if (!rec.sentTo.has(id) && !rec.acked.has(id)) enqueue(id, rec);
    }
    watchMembership();
  }

  /** While writes wait, membership changes (a member leaving lowers the bar) are noticed. */
  function watchMembership(): void {
    if (closed || waiters.size === 0 || membershipTimer !== undefined) return;
    membershipTimer = clock.setTimeout(() => {
      membershipTimer = undefined;
      checkWaiters();
    }, 100);
  }

  // ---- anti-entropy ----

  async function digestsOf(): Promise<{ digests: StateDigest[]; states: Map<string, ReplicatedDelta> }> {
    const states = new Map<string, ReplicatedDelta>();
    const digests: StateDigest[] = [];
    for (const state of await source.states()) {
      states.set(keyOf(state.persistenceId, state.entityId), state);
      digests.push({ entity: { persistenceId: state.persistenceId, entityId: state.entityId }, hash: hashOf(state.delta) });
    }
    return { digests, states };
  }

  /** Sends full states to a peer in bounded batches (what an exchange said it wants). */
  async function push(target: RemoteNode, states: readonly ReplicatedDelta[]): Promise<void> {
    let batch: ReplicatedDelta[] = [];
    let bytes = 0;
    const send = async () => {
      if (batch.length === 0) return;
      const deltas = batch;
      batch = [];
      bytes = 0;
      await client.unary(target, MESH_PATHS.gossip, mesh.DeltaBatchSchema, create(mesh.DeltaBatchSchema, { from: nodeId, deltas }), mesh.GossipAckSchema, {
        deadline: Date.now() + requestTimeoutMs,
      });
    };
    for (const state of states) {
      if (batch.length > 0 && bytes + state.delta.byteLength > maxBatchBytes) await send();
      batch.push(state);
      bytes += state.delta.byteLength;
    }
    await send();
  }

  /** One anti-entropy round with `target`: digests out, differing states back and forth. */
  async function exchangeWith(target: RemoteNode): Promise<void> {
    const { digests, states } = await digestsOf();
    const reply = await client.unary(
      target,
      MESH_PATHS.exchange,
      mesh.StateDigestsSchema,
      create(mesh.StateDigestsSchema, { from: nodeId, digests: digests.map((d) => create(mesh.StateDigestSchema, d)) }),
      mesh.ExchangeReplySchema,
      { deadline: Date.now() + requestTimeoutMs },
    );
    if (reply.states.length > 0) await deliver(target.nodeId, reply.states);
    const wanted = reply.wanted.flatMap((ref) => {
      const state = states.get(keyOf(ref.persistenceId, ref.entityId));
      return state === undefined ? [] : [state];
    });
    if (wanted.length > 0) await push(target, wanted);
    if (reply.states.length > 0 || wanted.length > 0) {
      logger.debug("anti-entropy exchange", { peer: target.nodeId, received: reply.states.length, sent: wanted.length });
    }
  }

  function scheduleAntiEntropy(): void {
    if (closed || antiEntropyIntervalMs <= 0) return;
    antiEntropyTimer = clock.setTimeout(() => {
      antiEntropyTimer = undefined;
      const others = [...peers().values()];
      const target = others[exchangeRound++ % Math.max(1, others.length)];
      if (target === undefined) {
        scheduleAntiEntropy();
        return;
      }
      exchangeWith(target).then(
        () => scheduleAntiEntropy(),
        (error: unknown) => {
          logger.debug("anti-entropy exchange failed", { peer: target.nodeId, error: (error as Error).message });
          scheduleAntiEntropy();
        },
      );
    }, antiEntropyIntervalMs);
  }

  // ---- receiving ----

  /** Hands received deltas or states to the listeners; resolves once every listener took them. */
  async function deliver(from: string, deltas: readonly ReplicatedDelta[]): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const delta of deltas) {
      if (!record(delta)) {
        throw new SwitchboardError(
          `unreadable CRDT delta from node ${from} for persistence id "${delta.persistenceId}" entity "${delta.entityId}"`,
          Code.InvalidArgument,
        );
      }
      for (const listener of listeners) {
        const result: unknown = listener(delta);
        if (result instanceof Promise) pending.push(result);
      }
    }
    await Promise.all(pending);
  }

  function publish(delta: ReplicatedDelta): void {
    if (closed) return;
    record(delta);
    const rec: DeltaRecord = {
      delta,
      size: delta.delta.byteLength + delta.persistenceId.length + delta.entityId.length,
      acked: new Set([nodeId]),
      sentTo: new Set(),
    };
    records.set(delta, rec);
    for (const peer of peers().keys()) enqueue(peer, rec);
  }

  scheduleAntiEntropy();

  return {
    nodeId,
    members: memberIds,
    publish,
    onDelta(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    awaitConsistency(level, delta, signal) {
      if (level === "local") return Promise.resolve();
      let rec = records.get(delta);
      if (rec === undefined) {
        // Not published here yet (published while this node was alone): publish it now.
        publish(delta);
        rec = records.get(delta);
        if (rec === undefined) return Promise.reject(new SwitchboardError("the CRDT replicas are closed", Code.Unavailable));
      }
      const held = rec;
      return new Promise<void>((resolve, reject) => {
        let timer: ClockTimer | undefined;
        const done = () => {
          clock.clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        };
        const waiter: Waiter = {
          record: held,
          level,
          resolve: () => {
            done();
            resolve();
          },
          reject: (error) => {
            done();
            reject(error);
          },
        };
        const fail = (error: SwitchboardError) => {
          if (!waiters.delete(waiter)) return;
          waiter.reject(error);
        };
        const onAbort = () =>
          fail(
            signal?.reason instanceof SwitchboardError
              ? signal.reason
              : new SwitchboardError("the write was cancelled while waiting for other replicas", Code.Canceled),
          );
        if (signal?.aborted) {
          onAbort();
          return;
        }
        signal?.addEventListener("abort", onAbort, { once: true });
        timer = clock.setTimeout(() => {
          const ids = memberIds();
          const acks = ids.filter((id) => held.acked.has(id)).length;
          fail(
            new SwitchboardError(
              `write consistency ${level.toUpperCase()} not reached for CRDT "${delta.persistenceId}" entity "${delta.entityId}": ` +
                `${acks} of the ${needed(level, ids.length)} replicas needed (${ids.length} members) acknowledged within ${consistencyTimeoutMs} ms`,
              Code.DeadlineExceeded,
            ),
          );
        }, consistencyTimeoutMs);
        waiters.add(waiter);
        checkWaiters();
      });
    },
    receive(from, deltas) {
      if (closed) return Promise.reject(new SwitchboardError("the CRDT replicas of this node are closed", Code.Unavailable));
      return deliver(from, deltas);
    },
    async exchange(_from, digests): Promise<ExchangeAnswer> {
      if (closed) throw new SwitchboardError("the CRDT replicas of this node are closed", Code.Unavailable);
      const theirs = new Map<string, { ref: EntityRef; hash: Uint8Array }>();
      for (const digest of digests) {
        if (digest.entity === undefined) throw new SwitchboardError("an anti-entropy digest names no entity", Code.InvalidArgument);
        theirs.set(keyOf(digest.entity.persistenceId, digest.entity.entityId), { ref: digest.entity, hash: digest.hash });
      }
      const states: ReplicatedDelta[] = [];
      const wanted: EntityRef[] = [];
      let bytes = 0;
      const mine = new Set<string>();
      for (const state of await source.states()) {
        const key = keyOf(state.persistenceId, state.entityId);
        mine.add(key);
        const their = theirs.get(key);
        const same = their !== undefined && sameBytes(their.hash, hashOf(state.delta));
        if (same) continue;
        if (their !== undefined) wanted.push(their.ref);
        // Bounded: what does not fit goes in a later round.
        if (bytes + state.delta.byteLength <= maxBatchBytes || states.length === 0) {
          states.push(state);
          bytes += state.delta.byteLength;
        }
      }
      for (const [key, their] of theirs) if (!mine.has(key)) wanted.push(their.ref);
      return {
        states: states.map((s) => create(mesh.ReplicatedDeltaSchema, s)),
        wanted: wanted.map((w) => create(mesh.EntityRefSchema, { persistenceId: w.persistenceId, entityId: w.entityId })),
      };
    },
    close() {
      if (closed) return;
      closed = true;
      clock.clearTimeout(antiEntropyTimer);
      clock.clearTimeout(membershipTimer);
      for (const outbox of outboxes.values()) clock.clearTimeout(outbox.timer);
      outboxes.clear();
      for (const waiter of [...waiters]) {
        waiters.delete(waiter);
        waiter.reject(new SwitchboardError("the CRDT replicas of this node closed before the write reached enough replicas", Code.Unavailable));
      }
      if (ownClient) client.close();
    },
  };
}
