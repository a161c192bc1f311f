/**
 * The store's read-only introspection port, used by the admin API and `switchboard
 * inspect`: which entities a persistence id holds, and a journal with the time each
 * event was written. Kept apart from the `Store` ports the entities use, so inspection
 * never sits on the write path. Adapters: `sqlite/sqlite-inspector.ts`,
 * `postgres/postgres-inspector.ts`, `memory/memory-inspector.ts`; all pass
 * `inspector-contract.case.ts`.
 */
import type { AnyValue } from "./types.js";

/** Where an entity kind keeps its state. */
export type EntityTable = "value" | "journal" | "crdt";

/** One page of an entity listing. */
export interface EntityIdQuery {
  /** Only ids starting with this (empty: all). */
  readonly prefix: string;
  /** Only ids after this one (the last id of the previous page), in code-point order. */
  readonly after?: string | undefined;
  /** At most this many ids (1–1000). */
  readonly limit: number;
}

/** A journal event with the time it was committed. */
export interface InspectedEvent {
  readonly seq: number;
  readonly payload: AnyValue;
  /** When the event was written (ms since epoch), when the store records it. */
  readonly writtenAt: number | undefined;
}

/** Read-only introspection of stored entities. */
export interface StoreInspector {
  /** Entity ids with stored state under `persistenceId`, sorted in code-point order, one page at a time. */
  listEntityIds(table: EntityTable, persistenceId: string, query: EntityIdQuery): Promise<string[]>;
  /** Events of a journal (`<persistence id>|<entity id>`) with seq ≥ fromSeq, in order, at most `limit`. */
  readJournal(journalId: string, fromSeq: number, limit: number): Promise<InspectedEvent[]>;
  /** Releases what the inspector opened. */
  close(): Promise<void>;
}

/** A store that inspects itself (the memory store: nothing outside the process can read it). */
export interface InspectableStore {
  /** An inspector over this store's own state. */
  openInspector(): StoreInspector;
}

/** Whether `store` carries its own inspector. */
export function isInspectableStore(store: object): store is InspectableStore {
  return typeof (store as Partial<InspectableStore>).openInspector === "function";
}

/** The separator between persistence id and entity id in a journal id. */
export const JOURNAL_ID_SEPARATOR = "|";
