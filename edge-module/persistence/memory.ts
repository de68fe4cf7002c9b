/** The in-memory Store: same contract as DiskStore without durability (unit tests, the contract suite). */
import { randomUUID } from 'node:crypto';
import type { Store, StoreOptions, StoredRecord } from './store.js';
import { StoreFullError } from './store.js';

export class MemoryStore implements Store {
  /** Lives as long as this object: a memory store does not survive a restart, and neither do its ids. */
  readonly storeId = randomUUID();
  private records: StoredRecord[] = [];
  private nextSeq = 1;
  private committed = 0;
  private used = 0;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: StoreOptions) {
    this.now = options.now ?? Date.now;
  }

  async append(data: Uint8Array): Promise<number> {
    if (this.closed) throw new Error('store is closed');
    if (this.used + data.byteLength > this.options.maxBytes) {
      throw new StoreFullError(this.used, this.options.maxBytes, data.byteLength);
    }
    const seq = this.nextSeq++;
    this.records.push({ seq, appendedAt: this.now(), data: Uint8Array.from(data) });
    this.used += data.byteLength;
    return seq;
  }

  async read(from: number): Promise<StoredRecord[]> {
    const oldest = this.options.ttlMs > 0 ? this.now() - this.options.ttlMs : -Infinity;
    return this.records.filter((r) => r.seq >= from && r.seq > this.committed && r.appendedAt >= oldest);
  }

  async commit(upTo: number): Promise<void> {
    if (upTo <= this.committed) return;
    this.committed = upTo;
    const keep: StoredRecord[] = [];
    for (const r of this.records) {
      if (r.seq <= upTo) this.used -= r.data.byteLength;
      else keep.push(r);
    }
    this.records = keep;
  }

  lastSeq(): number {
    return this.nextSeq - 1;
  }

  usedBytes(): number {
    return this.used;
  }

  unreadableRecords(): number {
    return 0;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
