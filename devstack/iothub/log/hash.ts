/**
 * Partition choice for a device: FNV-1a (32 bit) over the UTF-8 bytes of the key, mod the partition count.
 * Stable across processes and restarts, so a device's events always land on the same partition and keep
 * their publish order. (Not the service's own hash: nothing may assume a particular device → partition map.)
 */
const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(key: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

export function partitionForKey(key: string, partitionCount: number): number {
  return fnv1a32(key) % partitionCount;
}
