import { fnv1aPair } from "./shard.js";

/**
 * Rendezvous (highest random weight) hashing: the owner of `key` is the member whose
 * weight for `key` is highest. Every node that sees the same members picks the same
 * owner, and when a member joins or leaves only the keys it wins or held move.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const weight = weightOf(key, member);
    // Ties (vanishingly rare) go to the smaller id, so every node still agrees.
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}

/** A well-mixed 32-bit weight of (key, member): FNV-1a over both, then the murmur3 finaliser. */
export function weightOf(key: string, member: string): number {
  let hash = fnv1aPair(key, member);
  // FNV alone spreads similar inputs ("shard/1"/"node-a" vs "shard/2"/"node-a") poorly in its high bits.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
