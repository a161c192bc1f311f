import type { RecordedChanges } from "../shared/types.js";

/** Creates an empty {@link RecordedChanges}: no value entity records its changes until a deployment says so. */
export function createRecordedChanges(): RecordedChanges {
  let ids = new Set<string>();
  return {
    has: (persistenceId) => ids.has(persistenceId),
    set(persistenceIds) {
      ids = new Set(persistenceIds);
    },
  };
}
