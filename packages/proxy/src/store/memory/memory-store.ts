import { Code, SwitchboardError } from "../../errors/index.js";
import type { InspectableStore } from "../inspector.js";
import { createMemoryInspector } from "./memory-inspector.js";
import { createAppendListeners, isLocalWriter, staleWriter, validateHeartbeat, validateLeaseRequest, validateWriter } from "../fencing.js";
import type {
  AnyValue,
  ClusterStore,
  JournalAppend,
  JournalEvent,
  LeaseGrant,
  MemberInfo,
  MemberRecord,
  Snapshot,
  Store,
  TaggedEvent,
  TopicRecord,
  TopicStore,
  TopicTrim,
  ValueChange,
  ValueWrite,
  WriterToken,
} from "../types.js";
import { validateAppend, validateGroup, validateLimit, validateOffset, validatePublish, validateRetention, validateTime } from "../validate.js";

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The store's clock, in milliseconds, that leases and heartbeats are judged on
   * (default `Date.now`). Tests of a cluster in one process inject a fake one.
   */
  readonly clock?: { now(): number } | undefined;
}

/** The memory store: every port, cluster arbitration, and an inspector over its own maps (the admin API's entity listing). */
export type MemoryStore = Store & InspectableStore & { readonly cluster: ClusterStore; readonly topics: TopicStore };

/** A lease held in memory. */
interface HeldLease {
  owner: string;
  token: number;
  expiresAt: number;
}

/** One stored journal event, with the global offset it got when appended. */
interface StoredEvent {
  readonly seq: number;
  readonly offset: number;
  readonly journalId: string;
  readonly payload: AnyValue;
  /** When it was appended, on the store's clock (ms since epoch). */
  readonly writtenAt: number;
}

/** One journal: its events in seq order (seq n is at index n - 1) and its latest snapshot. */
interface StoredJournal {
  readonly events: StoredEvent[];
  snapshot: Snapshot | undefined;
}

/**
 * Creates the in-memory store: every storage port held in plain maps, for tests and
 * as the reference behaviour of the store contract (`store/contract.case.ts`).
 *
 * Writes apply synchronously when called and resolve right away, so the first of
 * several concurrent appends to one journal wins, as with a real store. Byte arrays
 * are copied on the way in and out, so neither side can change what is stored by
 * mutating a buffer later. Nothing survives the process.
 *
 * It also arbitrates a cluster of proxies in one process (`cluster`): leases and
 * heartbeats are judged on `options.clock`, and fenced writes are checked against the
 * leases when they are applied.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const clock = options.clock ?? Date;
  // Two-level maps keep (persistence id, entity id) apart without a separator that
  // an id could contain.
  const values = new Map<string, Map<string, AnyValue>>();
  const crdts = new Map<string, Map<string, Uint8Array>>();
  const journals = new Map<string, StoredJournal>();
  // Events per tag in offset order; offsets only grow, so appending keeps them sorted.
  const tags = new Map<string, StoredEvent[]>();
  const offsets = new Map<string, number>();
  const leases = new Map<string, HeldLease>();
  const members = new Map<string, { info: MemberInfo; heardAt: number }>();
  const appended = createAppendListeners();
  // Recorded value-entity changes per persistence id, in position order (pruning keeps the newest, so the last one gives the next position).
  const changes = new Map<string, ValueChange[]>();
  const changed = createAppendListeners();
  let lastOffset = 0;
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new SwitchboardError("memory store is closed", Code.Unavailable);
  }

  /** Throws unless `writer` may write now: local, or holding its lease with that token, unexpired. */
  function checkWriter(writer: WriterToken, context: string): void {
    const invalid = validateWriter(writer, context);
    if (invalid !== undefined) throw invalid;
    if (isLocalWriter(writer)) return;
    const held = leases.get(writer.lease);
    if (held === undefined || held.token !== writer.token || held.expiresAt <= clock.now()) throw staleWriter(context, writer);
  }

  const cluster: ClusterStore = {
    async claimLeases(owner, names, ttlMs) {
      ensureOpen();
      const invalid = validateLeaseRequest(owner, names, ttlMs);
      if (invalid !== undefined) throw invalid;
      const now = clock.now();
      const grants: LeaseGrant[] = [];
      for (const lease of new Set(names)) {
        const held = leases.get(lease);
        if (held === undefined) {
          leases.set(lease, { owner, token: 1, expiresAt: now + ttlMs });
        } else if (held.owner === owner) {
          held.expiresAt = now + ttlMs;
        } else if (held.expiresAt <= now) {
          held.owner = owner;
          held.token += 1;
          held.expiresAt = now + ttlMs;
        } else {
          continue;
        }
        grants.push({ lease, token: leases.get(lease)?.token ?? 0, ttlMs });
      }
      return grants;
    },

    async releaseLeases(owner, names) {
      ensureOpen();
      const invalid = validateLeaseRequest(owner, names);
      if (invalid !== undefined) throw invalid;
      const now = clock.now();
      for (const lease of names) {
        const held = leases.get(lease);
        if (held !== undefined && held.owner === owner) held.expiresAt = Math.min(held.expiresAt, now);
      }
    },

    async listLeases() {
      ensureOpen();
      const now = clock.now();
      return [...leases.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([lease, held]) => ({ lease, owner: held.owner, token: held.token, remainingMs: Math.max(0, held.expiresAt - now) }));
    },

    async heartbeat(member, ttlMs) {
      ensureOpen();
      const invalid = validateHeartbeat(member.nodeId, ttlMs);
      if (invalid !== undefined) throw invalid;
      const now = clock.now();
      members.set(member.nodeId, {
        info: { nodeId: member.nodeId, address: member.address, status: member.status, servicesHash: member.servicesHash },
        heardAt: now,
      });
      const live: MemberRecord[] = [];
      for (const { info, heardAt } of members.values()) {
        if (now - heardAt < ttlMs) live.push({ ...info, heartbeatAgeMs: now - heardAt });
      }
      return live.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    },

    async leave(nodeId) {
      ensureOpen();
      members.delete(nodeId);
    },
  };

  // Topic logs (offset n at index n - 1 - removed, `removed` counting the messages
  // retention took off the front) and group progress, two-level so names need no separator.
  const topicLogs = new Map<string, { records: TopicRecord[]; removed: number }>();
  const groupOffsets = new Map<string, Map<string, number>>();
  const topics: TopicStore = {
    async publish(topic, messages) {
      ensureOpen();
      const invalid = validatePublish(topic, messages.length);
      if (invalid !== undefined) throw invalid;
      let log = topicLogs.get(topic);
      if (log === undefined) {
        log = { records: [], removed: 0 };
        topicLogs.set(topic, log);
      }
      const publishedAt = clock.now();
      const offsets: number[] = [];
      for (const message of messages) {
        const offset = log.removed + log.records.length + 1;
        log.records.push({ offset, publishedAt, payload: copyAny(message.payload), attributes: { ...message.attributes } });
        offsets.push(offset);
      }
      return offsets;
    },

    async readTopic(topic, afterOffset, limit) {
      ensureOpen();
      const invalid = validateOffset(afterOffset, "afterOffset") ?? validateLimit(limit);
      if (invalid !== undefined) throw invalid;
      const log = topicLogs.get(topic);
      if (log === undefined) return [];
      const start = Math.max(0, afterOffset - log.removed);
      return log.records.slice(start, start + limit).map((record) => ({ ...record, payload: copyAny(record.payload), attributes: { ...record.attributes } }));
    },

    async loadGroupOffset(topic, group) {
      ensureOpen();
      const invalid = validateGroup(topic, group);
      if (invalid !== undefined) throw invalid;
      return groupOffsets.get(topic)?.get(group) ?? 0;
    },

    async saveGroupOffset(topic, group, offset) {
      ensureOpen();
      const invalid = validateGroup(topic, group) ?? validateOffset(offset, "offset");
      if (invalid !== undefined) throw invalid;
      let groups = groupOffsets.get(topic);
      if (groups === undefined) {
        groups = new Map();
        groupOffsets.set(topic, groups);
      }
      groups.set(group, offset);
    },

    async trimTopics(limits) {
      ensureOpen();
      const invalid = validateRetention(limits);
      if (invalid !== undefined) throw invalid;
      const trims: TopicTrim[] = [];
      for (const [topic, log] of topicLogs) {
        // Going back from the newest message (which always stays), the first one too old
        // or beyond the byte budget goes, with everything before it.
        let cut = -1;
        let newer = 0;
        for (let i = log.records.length - 1; i >= 0; i--) {
          const record = log.records[i]!;
          newer += record.payload.value.byteLength + Buffer.byteLength(JSON.stringify(record.attributes));
          if (i === log.records.length - 1) continue;
          const tooOld = limits.publishedBefore !== undefined && record.publishedAt < limits.publishedBefore;
          if (tooOld || (limits.maxBytes !== undefined && newer > limits.maxBytes)) {
            cut = i;
            break;
          }
        }
        if (cut < 0) continue;
        log.records.splice(0, cut + 1);
        log.removed += cut + 1;
        trims.push({ topic, removed: cut + 1, firstOffset: log.removed + 1 });
      }
      return trims;
    },

    async offsetAtTime(topic, time) {
      ensureOpen();
      const invalid = validateTime(topic, time);
      if (invalid !== undefined) throw invalid;
      const log = topicLogs.get(topic);
      if (log === undefined) return 0;
      const first = log.records.find((record) => record.publishedAt >= time);
      return first === undefined ? log.removed + log.records.length : first.offset - 1;
    },
  };

  return {
    description: "memory",
    cluster,
    topics,

    openInspector() {
      return createMemoryInspector({ values, crdts, journals });
    },

    onAppended(listener) {
      return appended.add(listener);
    },

    async getValue(persistenceId, entityId) {
      ensureOpen();
      const value = values.get(persistenceId)?.get(entityId);
      return value === undefined ? undefined : copyAny(value);
    },

    async writeValue(write: ValueWrite) {
      ensureOpen();
      checkWriter(write.writer, `value entity "${write.persistenceId}" id "${write.entityId}"`);
      switch (write.kind) {
        case "update":
          nested(values, write.persistenceId).set(write.entityId, copyAny(write.value));
          break;
        case "delete":
          values.get(write.persistenceId)?.delete(write.entityId);
          break;
        default:
          return assertNever(write);
      }
      if (write.recordChange === true) {
        let log = changes.get(write.persistenceId);
        if (log === undefined) changes.set(write.persistenceId, (log = []));
        const position = (log.at(-1)?.position ?? 0) + 1;
        const value = write.kind === "update" ? copyAny(write.value) : undefined;
        log.push({ position, entityId: write.entityId, value, changedAt: clock.now() });
        changed.notify(write.persistenceId);
      }
    },

    async valueChanges(persistenceId, afterPosition, limit) {
      ensureOpen();
      const invalid = validateOffset(afterPosition, "afterPosition") ?? validateLimit(limit);
      if (invalid !== undefined) throw invalid;
      const log = changes.get(persistenceId) ?? [];
      const out: ValueChange[] = [];
      for (const change of log) {
        if (change.position <= afterPosition) continue;
        if (out.length >= limit) break;
        out.push({ ...change, value: change.value === undefined ? undefined : copyAny(change.value) });
      }
      return out;
    },

    async pruneValueChanges(persistenceId, upTo) {
      ensureOpen();
      const invalid = validateOffset(upTo, "upTo");
      if (invalid !== undefined) throw invalid;
      const log = changes.get(persistenceId);
      if (log === undefined) return;
      const newest = log.length - 1;
      let cut = 0;
      while (cut < newest && (log[cut]?.position ?? Number.POSITIVE_INFINITY) <= upTo) cut++;
      log.splice(0, cut);
    },

    onValueChanged(listener) {
      return changed.add(listener);
    },

    async loadSnapshot(journalId) {
      ensureOpen();
      const snapshot = journals.get(journalId)?.snapshot;
      return snapshot === undefined ? undefined : { seq: snapshot.seq, payload: copyAny(snapshot.payload) };
    },

    async readEvents(journalId, afterSeq) {
      ensureOpen();
      const events = journals.get(journalId)?.events ?? [];
      // seq n sits at index n - 1, so slicing skips the first afterSeq events.
      const start = Math.max(0, Math.floor(afterSeq));
      return events.slice(start).map((e): JournalEvent => ({ seq: e.seq, payload: copyAny(e.payload) }));
    },

    async highestSeq(journalId) {
      ensureOpen();
      return journals.get(journalId)?.events.length ?? 0;
    },

    async append(append: JournalAppend) {
      ensureOpen();
      const invalid = validateAppend(append);
      if (invalid !== undefined) throw invalid;
      checkWriter(append.writer, `journal "${append.journalId}"`);
      let journal = journals.get(append.journalId);
      const highest = journal?.events.length ?? 0;
      if (append.firstSeq !== highest + 1) {
        throw conflict(append.journalId, highest, append.firstSeq);
      }
      // Validation passed, so nothing below can fail: the append is all or nothing.
      if (journal === undefined) {
        journal = { events: [], snapshot: undefined };
        journals.set(append.journalId, journal);
      }
      let tagged = tags.get(append.tag);
      if (tagged === undefined) {
        tagged = [];
        tags.set(append.tag, tagged);
      }
      const writtenAt = clock.now();
      append.events.forEach((payload, i) => {
        lastOffset += 1;
        const event: StoredEvent = {
          seq: append.firstSeq + i,
          offset: lastOffset,
          journalId: append.journalId,
          payload: copyAny(payload),
          writtenAt,
        };
        journal.events.push(event);
        tagged.push(event);
      });
      if (append.snapshot !== undefined) {
        journal.snapshot = { seq: append.firstSeq + append.events.length - 1, payload: copyAny(append.snapshot) };
      }
      appended.notify(append.tag);
    },

    async eventsByTag(tag, afterOffset, limit) {
      ensureOpen();
      const invalid = validateOffset(afterOffset, "afterOffset") ?? validateLimit(limit);
      if (invalid !== undefined) throw invalid;
      const tagged = tags.get(tag) ?? [];
      const result: TaggedEvent[] = [];
      for (let i = firstAfter(tagged, afterOffset); i < tagged.length && result.length < limit; i++) {
        const e = tagged[i];
        if (e === undefined) break;
        result.push({ offset: e.offset, journalId: e.journalId, seq: e.seq, payload: copyAny(e.payload) });
      }
      return result;
    },

    async getCrdt(persistenceId, entityId) {
      ensureOpen();
      const state = crdts.get(persistenceId)?.get(entityId);
      return state === undefined ? undefined : new Uint8Array(state);
    },

    async putCrdt(persistenceId, entityId, state) {
      ensureOpen();
      if (state === undefined) {
        crdts.get(persistenceId)?.delete(entityId);
      } else {
        nested(crdts, persistenceId).set(entityId, new Uint8Array(state));
      }
    },

    async loadOffset(consumer) {
      ensureOpen();
      return offsets.get(consumer) ?? 0;
    },

    async saveOffset(consumer, offset) {
      ensureOpen();
      const invalid = validateOffset(offset, "offset");
      if (invalid !== undefined) throw invalid;
      offsets.set(consumer, offset);
    },

    async close() {
      closed = true;
    },
  };
}

/** The error of an append whose first seq is not the journal's highest + 1. */
function conflict(journalId: string, highest: number, firstSeq: number): SwitchboardError {
  return new SwitchboardError(`journal "${journalId}": append at seq ${firstSeq} conflicts, highest stored seq is ${highest}`, Code.Aborted);
}

/** The inner map for `key`, created on first use. */
function nested<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = outer.get(key);
  if (inner === undefined) {
    inner = new Map();
    outer.set(key, inner);
  }
  return inner;
}

/** A deep copy of an Any; `new Uint8Array(view)` copies the bytes into a fresh buffer. */
function copyAny(value: AnyValue): AnyValue {
  return { typeUrl: value.typeUrl, value: new Uint8Array(value.value) };
}

/** Index of the first event with offset > afterOffset (binary search over sorted offsets). */
function firstAfter(events: readonly StoredEvent[], afterOffset: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = events[mid];
    if (e !== undefined && e.offset <= afterOffset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function assertNever(value: never): never {
  throw new SwitchboardError(`unknown value write ${JSON.stringify(value)}`, Code.Internal);
}
