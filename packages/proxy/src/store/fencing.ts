import { Code, SwitchboardError } from "../errors/index.js";
import type { WriterToken } from "./types.js";

/** Whether a write comes from a single node's writer, which no store ever refuses. */
export function isLocalWriter(writer: WriterToken): boolean {
  return writer.lease === "";
}

/** The error of a write whose writer does not hold its lease (any more): `Code.FailedPrecondition`. */
export function staleWriter(context: string, writer: WriterToken): SwitchboardError {
  return new SwitchboardError(
    `stale writer: ${context}: lease "${writer.lease}" is not held with token ${writer.token} (taken over, released or expired)`,
    Code.FailedPrecondition,
  );
}

/** Checks the shape of a writer token (`Code.InvalidArgument`); returns the error instead of throwing. */
export function validateWriter(writer: WriterToken | undefined, context: string): SwitchboardError | undefined {
  if (writer === undefined || typeof writer.lease !== "string") {
    return new SwitchboardError(`${context}: a write needs a writer token (LOCAL_WRITER on a single node)`, Code.InvalidArgument);
  }
  if (!Number.isSafeInteger(writer.token) || writer.token < 0) {
    return new SwitchboardError(`${context}: writer token must be a non-negative integer, got ${writer.token}`, Code.InvalidArgument);
  }
  return undefined;
}

/** Checks the arguments of a lease claim or release (`Code.InvalidArgument`); returns the error instead of throwing. */
export function validateLeaseRequest(owner: string, leases: readonly string[], ttlMs?: number): SwitchboardError | undefined {
  if (typeof owner !== "string" || owner === "") return new SwitchboardError("a lease owner must be a non-empty string", Code.InvalidArgument);
  const bad = leases.find((lease) => typeof lease !== "string" || lease === "");
  if (bad !== undefined) return new SwitchboardError(`lease names must be non-empty strings, got ${JSON.stringify(bad)}`, Code.InvalidArgument);
  if (ttlMs !== undefined && (!Number.isSafeInteger(ttlMs) || ttlMs < 1)) {
    return new SwitchboardError(`a lease ttl must be a positive integer of milliseconds, got ${ttlMs}`, Code.InvalidArgument);
  }
  return undefined;
}

/** Checks a heartbeat's ttl (`Code.InvalidArgument`). */
export function validateHeartbeat(nodeId: string, ttlMs: number): SwitchboardError | undefined {
  if (typeof nodeId !== "string" || nodeId === "") return new SwitchboardError("a member needs a non-empty node id", Code.InvalidArgument);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    return new SwitchboardError(`a heartbeat ttl must be a positive integer of milliseconds, got ${ttlMs}`, Code.InvalidArgument);
  }
  return undefined;
}

/** The listeners of {@link JournalStore.onAppended}, shared by the adapters. */
export interface AppendListeners {
  add(listener: (tag: string) => void): () => void;
  /** Tells every listener; a listener that throws does not stop the others. */
  notify(tag: string): void;
}

/** Creates an empty {@link AppendListeners}. */
export function createAppendListeners(): AppendListeners {
  const listeners = new Set<(tag: string) => void>();
  return {
    add(listener) {
      // A wrapper per registration, so the same function registered twice is called twice and removed once.
      const entry = (tag: string) => listener(tag);
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    notify(tag) {
      for (const listener of listeners) {
        try {
          listener(tag);
        } catch {
          // A listener's failure is its own; the append is durable either way.
        }
      }
    },
  };
}
