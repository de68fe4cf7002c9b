/**
 * Store-and-forward: the interface both stores implement, shaped like a checkpoint store.
 *
 * Invariants (test/contracts/store.contract.ts checks them for every implementation):
 * - `append` resolves only once the record is safe (on disk, fsynced, for DiskStore) and returns a
 *   sequence number strictly greater than any before it, also across reopen; it rejects when the record
 *   could not be made safe (for DiskStore: a failed or short write or fsync, after which every append
 *   rejects until the store is opened again);
 * - `storeId` names this store for as long as it exists (DiskStore: generated when the store is created,
 *   kept in its directory), so `storeId` + `seq` identifies a record across restarts;
 * - `read(from)` returns the uncommitted, unexpired records with seq ≥ from, in append order;
 * - `commit(upTo)` says every record ≤ upTo has its final status: they may be deleted and are never
 *   returned again;
 * - over `maxBytes` of uncommitted records, `append` rejects with StoreFullError (nothing is written).
 */
export interface StoredRecord {
  readonly seq: number;
  /** Epoch ms when it was appended (the time-to-live counts from here). */
  readonly appendedAt: number;
  readonly data: Uint8Array;
}

export interface Store {
  /** Stable for the store's life (a UUID); with a record's `seq` it names that record across restarts. */
  readonly storeId: string;
  /** Resolves with the record's sequence number once it is safe. */
  append(data: Uint8Array): Promise<number>;
  read(from: number): Promise<StoredRecord[]>;
  commit(upTo: number): Promise<void>;
  /** The highest sequence number appended so far (0 when none). */
  lastSeq(): number;
  /** Bytes of uncommitted records (what counts against the quota). */
  usedBytes(): number;
  /** Records found damaged on disk and skipped since the store was opened (0 for memory). */
  unreadableRecords(): number;
  close(): Promise<void>;
}

export class StoreFullError extends Error {
  constructor(readonly usedBytes: number, readonly maxBytes: number, readonly recordBytes: number) {
    super(
      `persistence is full: ${usedBytes} of PERSISTENCE_MAX_BYTES=${maxBytes} bytes used, a ${recordBytes}-byte record does not fit`,
    );
    this.name = 'StoreFullError';
  }
}

export interface StoreOptions {
  /** Quota for uncommitted records, bytes. */
  readonly maxBytes: number;
  /** Records older than this are not returned by read(); 0 = keep forever. */
  readonly ttlMs: number;
  /** Epoch ms. */
  readonly now?: () => number;
}
