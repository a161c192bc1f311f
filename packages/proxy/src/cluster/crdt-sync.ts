import type { EntityServiceModel } from "../descriptors/service-model.js";
import { type CrdtState, mergeStates } from "../entities/crdt/state.js";
import { decodeCrdtState, encodeCrdtState } from "../entities/crdt/storage-format.js";
import type { Logger } from "../observability/logger.js";
import type { CrdtStore, Store } from "../store/types.js";
import type { CrdtReplicas, EntityHost, ReplicatedDelta } from "./types.js";

/**
 * What this node knows of every CRDT: the join of every change it published and every
 * change it received. A node's own entries in it never go back, whatever a racing write
 * of another node left in the shared stored state.
 */
export interface CrdtLedger {
  record(persistenceId: string, entityId: string, delta: Uint8Array): void;
  get(persistenceId: string, entityId: string): CrdtState | undefined;
}

const keyOf = (persistenceId: string, entityId: string) => `${persistenceId.length}:${persistenceId}${entityId}`;

/** An empty {@link CrdtLedger}. */
export function createCrdtLedger(logger: Logger): CrdtLedger {
  const states = new Map<string, CrdtState>();
  return {
    record(persistenceId, entityId, delta) {
      const key = keyOf(persistenceId, entityId);
      try {
        const incoming = decodeCrdtState(delta, `persistence id "${persistenceId}" entity "${entityId}"`);
        const known = states.get(key);
        states.set(key, known === undefined || known.kind !== incoming.kind ? incoming : mergeStates(known, incoming));
      } catch (error) {
        logger.warn("unreadable CRDT change not recorded", { persistenceId, entityId, error: (error as Error).message });
      }
    },
    get: (persistenceId, entityId) => states.get(keyOf(persistenceId, entityId)),
  };
}

/** The replicas as this node's entities use them: what they publish is recorded in `ledger` first. */
export function recordingReplicas(replicas: CrdtReplicas, ledger: CrdtLedger): CrdtReplicas {
  return {
    get nodeId() {
      return replicas.nodeId;
    },
    members: () => replicas.members(),
    publish(delta) {
      ledger.record(delta.persistenceId, delta.entityId, delta.delta);
      replicas.publish(delta);
    },
    onDelta: (listener) => replicas.onDelta(listener),
    awaitConsistency: (level, delta, signal) => replicas.awaitConsistency(level, delta, signal),
  };
}

/** Options of {@link syncCrdtReplicas}. */
export interface CrdtSyncOptions {
  readonly replicas: CrdtReplicas;
  /** A store whose `putCrdt` merges ({@link mergingCrdtStore}). */
  readonly store: CrdtStore;
  readonly ledger: CrdtLedger;
  readonly host: EntityHost;
  readonly logger: Logger;
}

/**
 * Applies the CRDT changes other replicas send to this node: the change is merged (by the
 * CRDT's own rules) into the stored state, and the entity, when it is active here, is
 * passivated first, so its next command starts from the merged state and its own last
 * write cannot overwrite the merge. Changes to one entity are applied one after another.
 * Returns a function that stops listening.
 */
export function syncCrdtReplicas(options: CrdtSyncOptions): () => void {
  const { replicas, store, host, logger, ledger } = options;
  const chains = new Map<string, Promise<void>>();

  async function apply(delta: ReplicatedDelta): Promise<void> {
    await host.passivate(
      (service: EntityServiceModel, entityId) => service.kind === "crdt" && service.persistenceId === delta.persistenceId && entityId === delta.entityId,
    );
    // `store` merges what it is given into what is stored (see mergingCrdtStore).
    await store.putCrdt(delta.persistenceId, delta.entityId, delta.delta);
  }

  return replicas.onDelta((delta) => {
    ledger.record(delta.persistenceId, delta.entityId, delta.delta);
    const key = keyOf(delta.persistenceId, delta.entityId);
    const next = (chains.get(key) ?? Promise.resolve())
      .then(() => apply(delta))
      .catch((error: unknown) => {
        logger.warn("could not apply a CRDT change from another replica; anti-entropy brings it again", {
          persistenceId: delta.persistenceId,
          entityId: delta.entityId,
          error: (error as Error).message,
        });
      })
      .finally(() => {
        if (chains.get(key) === next) chains.delete(key);
      });
    chains.set(key, next);
  });
}

/**
 * The store as the entities of a cluster node write through it: a CRDT state is merged
 * into the state stored for it (which other replicas' changes were merged into) instead of
 * replacing it, so one replica's write never takes back what another one stored.
 */
export function mergingCrdtStore(store: Store, logger: Logger, ledger: CrdtLedger): Store {
  const chains = new Map<string, Promise<void>>();
  /** `bytes` joined with what the ledger knows (undefined stays undefined when the ledger knows nothing). */
  const withLedger = (persistenceId: string, entityId: string, bytes: Uint8Array | undefined): Uint8Array | undefined => {
    const known = ledger.get(persistenceId, entityId);
    if (known === undefined) return bytes;
    if (bytes === undefined) return encodeCrdtState(known);
    try {
      const stored = decodeCrdtState(bytes, `persistence id "${persistenceId}" entity "${entityId}"`);
      return stored.kind === known.kind ? encodeCrdtState(mergeStates(stored, known)) : bytes;
    } catch {
      return bytes;
    }
  };
  const getCrdt = async (persistenceId: string, entityId: string): Promise<Uint8Array | undefined> =>
    withLedger(persistenceId, entityId, await store.getCrdt(persistenceId, entityId));
  const putCrdt = (persistenceId: string, entityId: string, state: Uint8Array | undefined): Promise<void> => {
    if (state === undefined) return store.putCrdt(persistenceId, entityId, state);
    const key = keyOf(persistenceId, entityId);
    const write = async () => {
      const where = `persistence id "${persistenceId}" entity "${entityId}"`;
      const stored = await store.getCrdt(persistenceId, entityId);
      let bytes = state;
      if (stored !== undefined) {
        try {
          bytes = encodeCrdtState(mergeStates(decodeCrdtState(stored, where), decodeCrdtState(state, where)));
        } catch (error) {
          // Another type under the same key (the entity was deleted and made again): the new state wins.
          logger.debug("stored CRDT state not merged", { persistenceId, entityId, error: (error as Error).message });
        }
      }
      await store.putCrdt(persistenceId, entityId, withLedger(persistenceId, entityId, bytes));
    };
    const next = (chains.get(key) ?? Promise.resolve()).then(write, write);
    const tracked = next.finally(() => {
      if (chains.get(key) === tracked) chains.delete(key);
    });
    chains.set(key, tracked);
    return next;
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === "putCrdt") return putCrdt;
      if (property === "getCrdt") return getCrdt;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
