/**
 * The storage ports of the proxy. Core code (entities, router, eventing) sees state
 * only through these interfaces; adapters under `store/<driver>/` implement them and
 * pass the shared contract suite in `store/contract.case.ts`.
 *
 * Every write method resolves only once the write is durable. Adapters are free to
 * batch concurrent writes into one transaction (group commit), and should.
 *
 * Failures are reported as {@link SwitchboardError}s: a concurrency conflict (another
 * writer took the same sequence number, or a version moved) is `Code.Aborted`, a store
 * that cannot be reached is `Code.Unavailable`, a row that cannot be decoded is
 * `Code.DataLoss`.
 */

/**
 * Who writes: the lease (an entity shard, e.g. `shard/17`) the writer holds and its
 * fencing token. A write whose `lease` is non-empty is accepted only while the store
 * holds that lease with exactly that token, unexpired on the store's clock; otherwise it
 * is refused with `Code.FailedPrecondition` (`stale writer: …`).
 */
export interface WriterToken {
  readonly lease: string;
  readonly token: number;
}

/** The writer of a proxy that is not part of a cluster: never refused. */
export const LOCAL_WRITER: WriterToken = Object.freeze({ lease: "", token: 0 });

/** A `google.protobuf.Any` exactly as the user function sent it. */
export interface AnyValue {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** One state change of a value entity, as a `kind` union. */
export type ValueWrite =
  | { readonly kind: "update"; readonly persistenceId: string; readonly entityId: string; readonly value: AnyValue }
  | { readonly kind: "delete"; readonly persistenceId: string; readonly entityId: string };

/** Value-entity state, keyed by (persistence id, entity id) in two columns. */
export interface ValueStore {
  /** The stored value, or undefined when there is none (never stored, or deleted). */
  getValue(persistenceId: string, entityId: string): Promise<AnyValue | undefined>;
  /** Applies an update or a delete; resolves once it is durable. */
  writeValue(write: ValueWrite): Promise<void>;
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

/** Everything a proxy needs from its storage, plus lifecycle. */
export interface Store extends ValueStore, JournalStore, CrdtStore, OffsetStore {
  /** Short description for logs, e.g. `sqlite:/var/lib/app.db`. */
  readonly description: string;
  /** Flushes pending writes and releases the connection. */
  close(): Promise<void>;
}
