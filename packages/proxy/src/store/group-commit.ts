import { Code, SwitchboardError } from "../errors/index.js";

/** Counters of a group-commit queue, for tests, metrics and benchmarks. */
export interface GroupCommitStats {
  /** Batch transactions committed. */
  readonly transactions: number;
  /** Batch transactions that failed as a whole (every write in them rejected with `Code.Unavailable`). */
  readonly failedTransactions: number;
  /** Write operations taken into a batch, whether they then succeeded or not. */
  readonly writes: number;
  /** The most write operations one batch has held. */
  readonly largestBatch: number;
}

/** What every queued write carries: a name for error messages. */
export interface QueuedWrite {
  /** Names the journal or entity, e.g. `journal "cart|c1"`. */
  readonly context: string;
}

/**
 * The outcome of each write of a committed batch, by position: `undefined` for a write
 * that committed, its error for a write that failed alone (the others committed).
 */
export type BatchOutcomes = readonly (SwitchboardError | undefined)[];

/** Options of {@link createGroupCommit}. */
export interface GroupCommitOptions<W extends QueuedWrite> {
  /** The store, for error messages and logs (`sqlite:/var/lib/app.db`). */
  readonly description: string;
  /**
   * Commits a batch as one transaction and returns each write's outcome; throws (or
   * rejects) when the transaction failed as a whole. Only one batch runs at a time.
   */
  commit(batch: readonly W[]): BatchOutcomes | Promise<BatchOutcomes>;
  /** A batch takes at most this many writes; the rest wait for the next one (default: no limit). */
  readonly maxBatch?: number | undefined;
  /** Names the adapter in log lines, e.g. `sqlite store`. */
  readonly label: string;
  /** Receives a warning (`<label>: write batch failed`) when a batch fails as a whole. */
  readonly logger?: { warn(message: string, fields?: object): void } | undefined;
  /** Told of every committed batch: how long its transaction took, in seconds, and how many writes it held. */
  readonly onCommit?: CommitObserver | undefined;
}

/** Receives each committed batch's duration (seconds) and size, e.g. for the `switchboard_store_*` metrics. */
export type CommitObserver = (seconds: number, batchSize: number) => void;

/** A write queue that commits what has gathered as one transaction (group commit). */
export interface GroupCommit<W extends QueuedWrite> {
  /** Queues a write; the promise settles once its batch has committed (or failed). */
  enqueue(write: W): Promise<void>;
  /** A snapshot of the counters at the time of the call. */
  readonly stats: GroupCommitStats;
  /** Whether {@link close} was called: the queue takes no new writes. */
  readonly closed: boolean;
  /** Refuses new writes, then commits every write already accepted. Safe to call twice. */
  close(): Promise<void>;
}

/** A queued write with the promise it settles. */
interface Pending<W> {
  readonly write: W;
  readonly resolve: () => void;
  readonly reject: (error: SwitchboardError) => void;
}

/**
 * The group commit the durable stores share. Writes are queued; a batch starts on the
 * next turn of the event loop with everything queued so far, and while it commits the
 * writes that arrive wait and go out together in the next batch. One batch at a time
 * keeps writes to one journal or entity in call order and away from lock waits between
 * our own transactions, and it is what makes batches grow with load: a hundred
 * concurrent commands cost one durable flush rather than a hundred.
 *
 * A write's promise settles only after its batch's COMMIT has returned. A write that
 * failed alone rejects with its own error; if the batch fails as a whole every write of
 * it rejects with `Code.Unavailable` (even one that had failed on its own: a conflict it
 * saw may have been with a write of this batch, now rolled back too).
 */
export function createGroupCommit<W extends QueuedWrite>(options: GroupCommitOptions<W>): GroupCommit<W> {
  const { description, logger } = options;
  const maxBatch = options.maxBatch ?? Number.POSITIVE_INFINITY;
  let queue: Pending<W>[] = [];
  let immediate: NodeJS.Immediate | undefined;
  /** The batch being committed. */
  let inFlight: Promise<void> | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  const counters = { transactions: 0, failedTransactions: 0, writes: 0, largestBatch: 0 };

  function schedule(): void {
    if (inFlight === undefined && immediate === undefined && queue.length > 0) immediate = setImmediate(startBatch);
  }

  function startBatch(): void {
    immediate = undefined;
    if (inFlight !== undefined || queue.length === 0) return;
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
    inFlight = commitBatch(batch).finally(() => {
      inFlight = undefined;
      schedule();
    });
  }

  /** Commits one batch and settles every write in it; never rejects. */
  async function commitBatch(batch: readonly Pending<W>[]): Promise<void> {
    counters.writes += batch.length;
    counters.largestBatch = Math.max(counters.largestBatch, batch.length);
    let outcomes: BatchOutcomes;
    const started = performance.now();
    try {
      outcomes = await options.commit(batch.map((p) => p.write));
    } catch (err) {
      counters.failedTransactions += 1;
      const message = messageOf(err);
      const error = new SwitchboardError(`${description}: write batch of ${batch.length} failed: ${message}`, Code.Unavailable, { cause: err });
      logger?.warn(`${options.label}: write batch failed`, { store: description, writes: batch.length, error: message });
      for (const pending of batch) pending.reject(error);
      return;
    }
    counters.transactions += 1;
    if (options.onCommit !== undefined) {
      try {
        options.onCommit((performance.now() - started) / 1000, batch.length);
      } catch {
        // An observer's failure must never fail writes that are already durable.
      }
    }
    batch.forEach((pending, i) => {
      const failure = outcomes[i];
      if (failure === undefined) pending.resolve();
      else pending.reject(failure);
    });
  }

  async function drain(): Promise<void> {
    for (;;) {
      if (immediate !== undefined) {
        clearImmediate(immediate);
        immediate = undefined;
      }
      if (inFlight !== undefined) {
        await inFlight;
        continue;
      }
      if (queue.length === 0) return;
      startBatch();
    }
  }

  return {
    enqueue(write) {
      if (closed) return Promise.reject(new SwitchboardError(`${description}: store is closed`, Code.Unavailable));
      return new Promise<void>((resolve, reject) => {
        queue.push({ write, resolve, reject });
        schedule();
      });
    },
    get stats(): GroupCommitStats {
      return { ...counters };
    },
    get closed() {
      return closed;
    },
    close() {
      closed = true;
      closing ??= drain();
      return closing;
    },
  };
}

/** The message of anything thrown; an AggregateError (several connection attempts) lists them all. */
export function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(messageOf).join("; ");
  return err instanceof Error ? err.message : String(err);
}
