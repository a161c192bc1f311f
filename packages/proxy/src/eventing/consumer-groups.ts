/**
 * Coordinates the topic consumers running in this process with changes to their stored
 * offset (a replay through the admin API): a consumer handles each batch inside
 * {@link ConsumerGroups.batch}, and {@link ConsumerGroups.reset} waits for the batch in
 * flight, stores the new offset, and makes the consumer start over from it, so the batch
 * in flight cannot overwrite the replayed offset with its own progress.
 */
export interface ConsumerGroups {
  /**
   * Runs one batch of the consumer of (`topic`, `group`); resets of that group wait for it.
   * `body` gets whether the group was reset since the consumer last asked (then it must
   * load the stored offset again before reading).
   */
  batch<T>(topic: string, group: string, body: (reset: boolean) => Promise<T>): Promise<T>;
  /** A signal aborted at the next reset of the group: cuts a consumer's wait for new messages short. */
  resetSignal(topic: string, group: string): AbortSignal;
  /**
   * Stores a new offset for the group (through `save`) once its batch in flight is done,
   * then makes its consumer start over from the stored offset; resolves with what `save` did.
   */
  reset<T>(topic: string, group: string, save: () => Promise<T>): Promise<T>;
}

interface GroupState {
  /** The tail of the chain of batches and resets: each waits for the one before. */
  tail: Promise<void>;
  /** Bumped by every reset. */
  generation: number;
  /** The generation the consumer saw last. */
  seen: number;
  reset: AbortController;
}

/** Creates the coordination of one proxy's topic consumers and replays. */
export function createConsumerGroups(): ConsumerGroups {
  // Two levels, so topic and group names need no separator.
  const states = new Map<string, Map<string, GroupState>>();

  function stateOf(topic: string, group: string): GroupState {
    let groups = states.get(topic);
    if (groups === undefined) {
      groups = new Map();
      states.set(topic, groups);
    }
    let state = groups.get(group);
    if (state === undefined) {
      state = { tail: Promise.resolve(), generation: 0, seen: 0, reset: new AbortController() };
      groups.set(group, state);
    }
    return state;
  }

  /** Runs `body` after everything queued on the group before it. */
  function serialize<T>(state: GroupState, body: () => Promise<T>): Promise<T> {
    const result = state.tail.then(body);
    state.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  return {
    batch(topic, group, body) {
      const state = stateOf(topic, group);
      return serialize(state, () => {
        const reset = state.seen !== state.generation;
        state.seen = state.generation;
        return body(reset);
      });
    },
    resetSignal: (topic, group) => stateOf(topic, group).reset.signal,
    reset(topic, group, save) {
      const state = stateOf(topic, group);
      return serialize(state, async () => {
        const saved = await save();
        state.generation++;
        const wake = state.reset;
        state.reset = new AbortController();
        wake.abort();
        return saved;
      });
    },
  };
}
