import type { EntityIdQuery, EntityTable, InspectedEvent, StoreInspector } from "../inspector.js";
import { JOURNAL_ID_SEPARATOR } from "../inspector.js";
import type { AnyValue } from "../types.js";

/** What the memory store lets its inspector read: its maps, never written through this view. */
export interface MemoryStoreView {
  readonly values: ReadonlyMap<string, ReadonlyMap<string, AnyValue>>;
  readonly crdts: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>;
  /** Journals by journal id (`<persistence id>|<entity id>`), events in seq order. */
  readonly journals: ReadonlyMap<string, { readonly events: readonly { readonly seq: number; readonly payload: AnyValue; readonly writtenAt: number }[] }>;
}

/** Code-point order, as the durable stores sort (not `localeCompare`). */
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One page of `ids` (any order) under `query`. */
function page(ids: Iterable<string>, query: EntityIdQuery): string[] {
  const after = query.after;
  const matching: string[] = [];
  for (const id of ids) {
    if (id.startsWith(query.prefix) && (after === undefined || id > after)) matching.push(id);
  }
  return matching.sort(byCodePoint).slice(0, query.limit);
}

/**
 * A {@link StoreInspector} over the memory store's maps. Listing sorts the ids of one
 * persistence id on every call, which is fine for the sizes a memory store holds.
 * Payloads are copied out, so a caller cannot change what is stored.
 */
export function createMemoryInspector(view: MemoryStoreView): StoreInspector {
  return {
    async listEntityIds(table: EntityTable, persistenceId: string, query: EntityIdQuery) {
      switch (table) {
        case "value":
          return page(view.values.get(persistenceId)?.keys() ?? [], query);
        case "crdt":
          return page(view.crdts.get(persistenceId)?.keys() ?? [], query);
        case "journal": {
          const head = `${persistenceId}${JOURNAL_ID_SEPARATOR}`;
          const ids: string[] = [];
          for (const [journalId, journal] of view.journals) {
            if (journalId.startsWith(head) && journal.events.length > 0) ids.push(journalId.slice(head.length));
          }
          return page(ids, query);
        }
        default: {
          const never: never = table;
          throw new Error(`unknown table ${String(never)}`);
        }
      }
    },
    async readJournal(journalId, fromSeq, limit): Promise<InspectedEvent[]> {
      const events = view.journals.get(journalId)?.events ?? [];
      // seq n sits at index n - 1.
      const start = Math.max(0, Math.floor(fromSeq) - 1);
      return events.slice(start, start + Math.max(0, limit)).map((e) => ({
        seq: e.seq,
        payload: { typeUrl: e.payload.typeUrl, value: new Uint8Array(e.payload.value) },
        writtenAt: e.writtenAt,
      }));
    },
    async close() {},
  };
}
