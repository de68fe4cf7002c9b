/**
 * The envelope's `origin` (docs/contracts.md §4): which store numbered the messages. With persistence it
 * is derived from the store's `storeId` (kept in its directory for as long as the store exists), so after
 * a restart the same (origin, n) names the same message, and a wiped or new volume — a new store with
 * fresh sequence numbers — gets a new origin, so it can never overwrite readings sent from the old one.
 * Without persistence: a new one per start (nothing survives a restart then).
 */
import { createHash, randomBytes } from 'node:crypto';

/** 16 lowercase hex characters standing for a store id. */
export function originOf(storeId: string): string {
  return createHash('sha256').update(storeId, 'utf8').digest('hex').slice(0, 16);
}

export function newOrigin(): string {
  return randomBytes(8).toString('hex');
}
