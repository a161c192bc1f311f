import { Code, SwitchboardError } from "../../errors/index.js";

/**
 * Makes one entity's CRDT durable. CRDT commands run concurrently, so changes arrive
 * while a write is in flight; instead of queueing one store write per change, the
 * writer keeps at most one write in flight and then writes the latest state once for
 * every change made meanwhile (the store's group commit batches across entities; this
 * batches within one hot entity). Each change gets a version, and callers wait for
 * their version to be durable.
 */
export interface StateWriter {
  /** Records a change of the state; returns its version. */
  changed(): number;
  /** Resolves once every change up to `version` (default: the latest) is durable; rejects if a write failed. */
  durable(version?: number): Promise<void>;
  /** The latest version (0 before any change). */
  readonly version: number;
  /** Whether some change is not durable yet. */
  readonly busy: boolean;
}

/**
 * Creates a writer. `snapshot` serializes the current state (undefined: deleted) when a
 * write starts; `write` stores it and resolves once durable. After a failed write every
 * waiting and later `durable` call rejects with that error: the entity must stop.
 */
export function createStateWriter(snapshot: () => Uint8Array | undefined, write: (bytes: Uint8Array | undefined) => Promise<void>): StateWriter {
  let version = 0;
  let durableVersion = 0;
  let writing = false;
  let scheduled = false;
  let failure: SwitchboardError | undefined;
  const waiters: { version: number; resolve(): void; reject(error: SwitchboardError): void }[] = [];

  // In the order the changes were made, so callers are answered in that order too.
  const settle = () => {
    const waiting = waiters.splice(0);
    for (const waiter of waiting) {
      if (failure !== undefined) waiter.reject(failure);
      else if (waiter.version <= durableVersion) waiter.resolve();
      else waiters.push(waiter);
    }
  };

  const flush = () => {
    scheduled = false;
    if (writing || failure !== undefined || durableVersion >= version) return;
    writing = true;
    const target = version;
    let bytes: Uint8Array | undefined;
    try {
      bytes = snapshot();
    } catch (error) {
      writing = false;
      failure = SwitchboardError.from(error, Code.Internal);
      settle();
      return;
    }
    write(bytes).then(
      () => {
        writing = false;
        durableVersion = target;
        settle();
        flush();
      },
      (error: unknown) => {
        writing = false;
        failure = SwitchboardError.from(error, Code.Unavailable);
        settle();
      },
    );
  };

  return {
    changed() {
      version++;
      // Changes made in the same tick (several replies in one chunk) share one write.
      if (!scheduled && !writing) {
        scheduled = true;
        queueMicrotask(flush);
      }
      return version;
    },
    durable(upTo = version) {
      if (failure !== undefined) return Promise.reject(failure);
      if (upTo <= durableVersion) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ version: upTo, resolve, reject });
      });
    },
    get version() {
      return version;
    },
    get busy() {
      return durableVersion < version && failure === undefined;
    },
  };
}
