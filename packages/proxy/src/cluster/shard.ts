/**
 * The shard of an entity: a stable hash (32-bit FNV-1a over the UTF-16 code units of
 * `key`, a NUL, then `entityId`) modulo `shardCount`. Every node computes the same shard
 * for the same entity, whatever its platform. `key` is the service's persistence id, so
 * two services sharing state also share shards.
 */
export function shardOf(key: string, entityId: string, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new RangeError(`shard count must be a positive integer, got ${shardCount}`);
  return fnv1aPair(key, entityId) % shardCount;
}

/** 32-bit FNV-1a over the UTF-16 code units of `first`, a NUL, then `second` (unsigned). */
export function fnv1aPair(first: string, second: string): number {
  let hash = 0x811c9dc5;
  const mix = (unit: number) => {
    hash ^= unit;
    hash = Math.imul(hash, 0x01000193);
  };
  for (let i = 0; i < first.length; i++) mix(first.charCodeAt(i));
  mix(0);
  for (let i = 0; i < second.length; i++) mix(second.charCodeAt(i));
  return hash >>> 0;
}

/** The lease name of a shard, as the store's lease port knows it. */
export function shardLease(shard: number): string {
  return `shard/${shard}`;
}
