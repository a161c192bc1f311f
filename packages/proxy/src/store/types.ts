/**
 * The storage ports of the proxy. Core code (entities, router, eventing) sees state
 * only through these interfaces; adapters under `store/<driver>/` implement them and
 * pass the shared contract suite in `store/contract.case.ts`.
 *
 * Every write method resolves only once the write is durable. Adapters are free to
 * batch concurrent writes into one transaction (group commit), and should.
 *
 * Failures are reported as {@link SwitchboardError}s: a concurrency conflict (another
 * writer took the same sequence number, or a version moved) is `Code.Aborted`, a write
 * by a writer that no longer holds its lease is `Code.FailedPrecondition` (message
 * starting `stale writer:`), a store that cannot be reached is `Code.Unavailable`, a
 * row that cannot be decoded is `Code.DataLoss`.
 */

/**
 * Who makes a write: the lease the writer holds (`shard/<n>`, `consumer/<name>`) and the
 * fencing token it was granted with it. A store accepts a write whose `lease` is not
 * empty only while it holds that lease with exactly that token, unexpired on the
 * store's own clock; any other write is refused with `Code.FailedPrecondition`
 * (`stale writer: …`), in the same transaction as the write, so a writer that was
 * paused past its lease can never commit.
 */
export interface WriterToken {
  readonly lease: string;
  readonly token: number;
}

/** The writer of a single node: no lease, never refused. */
export const LOCAL_WRITER: WriterToken = Object.freeze({ lease: "", token: 0 });

/** A `google.protobuf.Any` exactly as the user function sent it. */
export interface AnyValue {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/**
 * One state change of a value entity, as a `kind` union. With `recordChange` the store
 * also records the change for the consumers of its persistence id's changes
 * ({@link ValueChangeStore}), in the same transaction as the write itself.
 */
export type ValueWrite =
  | {
      readonly kind: "update";
      readonly persistenceId: string;
      readonly entityId: string;
      readonly value: AnyValue;
      readonly writer: WriterToken;
      readonly recordChange?: boolean;
    }
  | { readonly kind: "delete"; readonly persistenceId: string; readonly entityId: string; readonly writer: WriterToken; readonly recordChange?: boolean };

/** Value-entity state, keyed by (persistence id, entity id) in two columns. */
export interface ValueStore {
  /** The stored value, or undefined when there is none (never stored, or deleted). */
  getValue(persistenceId: string, entityId: string): Promise<AnyValue | undefined>;
  /** Applies an update or a delete; resolves once it is durable. */
  writeValue(write: ValueWrite): Promise<void>;
}

/** One recorded change of a value entity (a write made with `recordChange`). */
export interface ValueChange {
  /** Position among the recorded changes of its persistence id: 1, 2, 3…, gap-free, in commit order. */
  readonly position: number;
  readonly entityId: string;
  /** The value written; undefined for a delete. */
  readonly value: AnyValue | undefined;
  /** When it was written, in ms since the epoch (the store's clock). */
  readonly changedAt: number;
}

/**
 * The recorded changes of value entities, one log per persistence id: the source of
 * methods that consume value-entity changes. A change is recorded in the transaction
 * of the value write itself, so a change is in the log exactly when its value is stored.
 */
export interface ValueChangeStore {
  /** Changes of `persistenceId` at positions > afterPosition, in position order, at most `limit`. */
  valueChanges(persistenceId: string, afterPosition: number, limit: number): Promise<ValueChange[]>;
  /**
   * Removes the changes of `persistenceId` at positions ≤ `upTo` (every consumer has
   * them), always keeping the newest change so positions keep counting; resolves once durable.
   */
  pruneValueChanges(persistenceId: string, upTo: number): Promise<void>;
  /**
   * Calls `listener` with the persistence id of every recorded change once it is durable
   * (before the write's own promise settles for its caller). Returns a function that
   * removes the listener. A listener that throws is ignored.
   */
  onValueChanged(listener: (persistenceId: string) => void): () => void;
}

/** One journal event with its sequence number (1-based, gap-free per journal). */
export interface JournalEvent {
  readonly seq: number;
  readonly payload: AnyValue;
}

/** A snapshot: the state after event `seq`. */
export interface Snapshot {
  readonly seq: number;
  readonly payload: AnyValue;
}

/** The events (and optional snapshot) of one command, appended atomically. */
export interface JournalAppend {
  /** `<persistence_id>|<entity_id>`. */
  readonly journalId: string;
  /** The tag every event gets: the entity's persistence id. */
  readonly tag: string;
  /** Sequence number of the first event; must be the journal's highest + 1. */
  readonly firstSeq: number;
  /** At least one event. */
  readonly events: readonly AnyValue[];
  /** Optional snapshot taken after the last of `events` (its seq is firstSeq + events.length - 1). */
  readonly snapshot?: AnyValue;
  /** Who appends; checked in the append's own transaction. */
  readonly writer: WriterToken;
}

/** A journal event as seen by a tag subscriber (eventing). */
export interface TaggedEvent extends JournalEvent {
  /** Global, increasing position of the event across all journals. */
  readonly offset: number;
  readonly journalId: string;
}

/** The event-sourcing journal and snapshots. */
export interface JournalStore {
  /** The latest snapshot of a journal, if any. */
  loadSnapshot(journalId: string): Promise<Snapshot | undefined>;
  /** Events with seq > afterSeq, in order. */
  readEvents(journalId: string, afterSeq: number): Promise<JournalEvent[]>;
  /** Highest stored sequence number (0 when empty). */
  highestSeq(journalId: string): Promise<number>;
  /**
   * Appends events (and the snapshot) in one transaction; resolves once durable.
   * Rejects with `Code.Aborted` if any sequence number is already taken.
   */
  append(append: JournalAppend): Promise<void>;
  /** Events carrying `tag` with offset > afterOffset, in offset order, at most `limit`. */
  eventsByTag(tag: string, afterOffset: number, limit: number): Promise<TaggedEvent[]>;
  /**
   * Calls `listener` with the tag of every append once it is durable (before the
   * append's own promise settles for its caller). Returns a function that removes the
   * listener. A listener that throws is ignored.
   */
  onAppended(listener: (tag: string) => void): () => void;
}

/** Opaque serialized CRDT state, keyed by (persistence id, entity id). */
export interface CrdtStore {
  getCrdt(persistenceId: string, entityId: string): Promise<Uint8Array | undefined>;
  /** Stores the full state (bytes), or deletes it when `state` is undefined; resolves once durable. */
  putCrdt(persistenceId: string, entityId: string, state: Uint8Array | undefined): Promise<void>;
}

/** Consumer offsets for eventing projections. */
export interface OffsetStore {
  loadOffset(consumer: string): Promise<number>;
  saveOffset(consumer: string, offset: number): Promise<void>;
}

/**
 * One message for a topic: the payload as an `Any` and its CloudEvents attributes
 * (`id`, `source`, `type`, `specversion`, `subject`, `time`, extensions), without `data`.
 */
export interface TopicMessage {
  readonly payload: AnyValue;
  /** Attribute name (without a `ce-` prefix) to value. */
  readonly attributes: Readonly<Record<string, string>>;
}

/** A stored topic message with its position. */
export interface TopicRecord extends TopicMessage {
  /** Position in its topic: 1 for the first message, then one more for each, gap-free. */
  readonly offset: number;
  /** When it was stored, in ms since the epoch (the store's clock). */
  readonly publishedAt: number;
}

/**
 * The embedded broker's topics: an append-only log per topic and the stored progress
 * of each consumer group. Topics need no declaring; an unknown one reads as empty.
 */
export interface TopicStore {
  /**
   * Appends messages to a topic in one transaction, in order; resolves with their
   * offsets once durable. Rejects with `Code.InvalidArgument` for an empty list or topic.
   */
  publish(topic: string, messages: readonly TopicMessage[]): Promise<number[]>;
  /** Messages with offset > afterOffset, in offset order, at most `limit`. */
  readTopic(topic: string, afterOffset: number, limit: number): Promise<TopicRecord[]>;
  /** The offset a group has consumed the topic up to (0: nothing yet). */
  loadGroupOffset(topic: string, group: string): Promise<number>;
  /** Stores a group's progress; resolves once durable. */
  saveGroupOffset(topic: string, group: string, offset: number): Promise<void>;
  /**
   * Retention: removes, in every topic, the messages published before
   * `limits.publishedBefore` and the oldest ones beyond `limits.maxBytes` per topic
   * (payload plus attributes), always keeping each topic's newest message so its offsets
   * keep counting. Only a prefix of a topic is ever removed, so the retained offsets stay
   * gap-free. Resolves with the topics that lost messages once durable.
   */
  trimTopics(limits: TopicRetention): Promise<TopicTrim[]>;
  /**
   * The offset just before the first message of `topic` published at or after `time`
   * (ms since the epoch): a group set to it next reads the messages from that time on.
   * The topic's last offset when every message is older; one before the first retained
   * message when every message is newer; 0 for an empty topic.
   */
  offsetAtTime(topic: string, time: number): Promise<number>;
}

/** What {@link TopicStore.trimTopics} removes; an absent limit removes nothing. */
export interface TopicRetention {
  /** Remove messages published before this time (ms since the epoch). */
  readonly publishedBefore?: number;
  /** Keep at most this many bytes of messages per topic (the newest ones). */
  readonly maxBytes?: number;
}

/** The messages {@link TopicStore.trimTopics} removed from one topic. */
export interface TopicTrim {
  readonly topic: string;
  /** How many messages were removed. */
  readonly removed: number;
  /** The topic's first retained offset afterwards. */
  readonly firstOffset: number;
}

/** A lease granted (or renewed) by {@link LeaseStore.claimLeases}. */
export interface LeaseGrant {
  readonly lease: string;
  /** The fencing token: unchanged on renewal, one more than before on a change of owner. */
  readonly token: number;
  readonly ttlMs: number;
}

/** A lease as the store holds it. */
export interface LeaseRecord {
  readonly lease: string;
  readonly owner: string;
  readonly token: number;
  /** Time left before it expires on the store's clock; 0 when expired or released. */
  readonly remainingMs: number;
}

/** Leases with fencing tokens, judged on the store's clock (cluster mode). */
export interface LeaseStore {
  /**
   * Acquire or renew: a free, expired or already-owned lease is granted to `owner` (a
   * change of owner gets token+1, a renewal keeps the token); leases held by another
   * live owner are not. Returns the grants, in no particular order.
   */
  claimLeases(owner: string, leases: readonly string[], ttlMs: number): Promise<LeaseGrant[]>;
  /** Ends `owner`'s hold of these leases at once (leases it does not hold are left alone); its writes under them are refused from then on. */
  releaseLeases(owner: string, leases: readonly string[]): Promise<void>;
  /** Every lease the store knows, by name. */
  listLeases(): Promise<LeaseRecord[]>;
}

/** What a cluster member says about itself with each heartbeat. */
export interface MemberInfo {
  readonly nodeId: string;
  /** Where other members reach its cluster port (`host:port`). */
  readonly address: string;
  readonly status: "up" | "leaving";
  /** A hash of the services its user function offers, to spot members that disagree. */
  readonly servicesHash: string;
}

/** A member as last heard from. */
export interface MemberRecord extends MemberInfo {
  /** Time since its last heartbeat, on the store's clock. */
  readonly heartbeatAgeMs: number;
}

/** Cluster membership by heartbeats on the store's clock. */
export interface MembershipStore {
  /** Upserts this member with a heartbeat on the store's clock; returns members heard from within ttlMs (this one included), by node id. */
  heartbeat(member: MemberInfo, ttlMs: number): Promise<MemberRecord[]>;
  /** Forgets a member at once (graceful leave). */
  leave(nodeId: string): Promise<void>;
}

/** The ports a store offers to a cluster of proxies. */
export type ClusterStore = LeaseStore & MembershipStore;

/** Everything a proxy needs from its storage, plus lifecycle. */
export interface Store extends ValueStore, ValueChangeStore, JournalStore, CrdtStore, OffsetStore {
  /** Short description for logs, e.g. `sqlite:/var/lib/app.db`. */
  readonly description: string;
  /** Leases and membership, when the store can arbitrate a cluster (PostgreSQL, memory); absent otherwise (SQLite). */
  readonly cluster?: ClusterStore;
  /** The embedded broker's topics, when the adapter keeps them (memory, SQLite, PostgreSQL). */
  readonly topics?: TopicStore;
  /**
   * Why the store can serve no call any more (a reason for logs and readiness), or
   * undefined while it can. Absent: the store never fails that way.
   */
  failed?(): string | undefined;
  /** Flushes pending writes and releases the connection. */
  close(): Promise<void>;
}
