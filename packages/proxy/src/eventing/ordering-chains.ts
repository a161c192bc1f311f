/**
 * Splits a batch into chains by ordering key, each chain in batch order, chains in the
 * order their keys first appear: what a consumer delivers one after the other (one key)
 * or side by side (different keys).
 */
export function chainsByKey<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const chains = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const chain = chains.get(key);
    if (chain === undefined) chains.set(key, [item]);
    else chain.push(item);
  }
  return [...chains.values()];
}
