/**
 * The Store contract (edge-module/persistence/store.ts), run against every implementation: pass a
 * factory that opens a store over a given state (a fresh temp dir), with an injectable clock.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../edge-module/persistence/store.js';
import { StoreFullError } from '../../edge-module/persistence/store.js';

export interface StoreFactoryOptions {
  readonly maxBytes?: number;
  readonly ttlMs?: number;
  readonly now?: () => number;
}

export interface StoreHarness {
  /** Open a store on a fresh state. */
  fresh(options?: StoreFactoryOptions): Promise<Store>;
  /** Close `store` and open it again on the same state (undefined: the implementation is not durable). */
  reopen?: (store: Store, options?: StoreFactoryOptions) => Promise<Store>;
}

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const texts = (records: { data: Uint8Array }[]): string[] => records.map((r) => Buffer.from(r.data).toString('utf8'));

export function storeContract(name: string, harness: StoreHarness): void {
  describe(`Store contract: ${name}`, () => {
    it('append returns strictly increasing sequence numbers', async () => {
      const store = await harness.fresh();
      const seqs = await Promise.all(['a', 'b', 'c'].map((t) => store.append(bytes(t))));
      expect(seqs[0]).toBeGreaterThan(0);
      expect(seqs[1]).toBeGreaterThan(seqs[0] as number);
      expect(seqs[2]).toBeGreaterThan(seqs[1] as number);
      await store.close();
    });

    it('read returns uncommitted records from a sequence number on, in append order, bytes intact', async () => {
      const store = await harness.fresh();
      const payloads = ['one', 'two', '\u00e9\u0000binary', 'four'];
      const seqs: number[] = [];
      for (const p of payloads) seqs.push(await store.append(bytes(p)));
      expect(texts(await store.read(0))).toEqual(payloads);
      expect(texts(await store.read(seqs[2] as number))).toEqual(payloads.slice(2));
      expect((await store.read(0)).map((r) => r.seq)).toEqual(seqs);
      await store.close();
    });

    it('commit(upTo) removes every record up to and including upTo, and only those', async () => {
      const store = await harness.fresh();
      const seqs: number[] = [];
      for (const p of ['a', 'b', 'c', 'd']) seqs.push(await store.append(bytes(p)));
      await store.commit(seqs[1] as number);
      expect(texts(await store.read(0))).toEqual(['c', 'd']);
      await store.commit(seqs[0] as number); // going back is a no-op
      expect(texts(await store.read(0))).toEqual(['c', 'd']);
      await store.commit(seqs[3] as number);
      expect(await store.read(0)).toEqual([]);
      expect(store.usedBytes()).toBe(0);
      await store.close();
    });

    it('over the byte quota append rejects with StoreFullError and stores nothing; commit frees room', async () => {
      const store = await harness.fresh({ maxBytes: 10 });
      const first = await store.append(bytes('12345678'));
      await expect(store.append(bytes('abc'))).rejects.toBeInstanceOf(StoreFullError);
      expect(texts(await store.read(0))).toEqual(['12345678']);
      expect(store.usedBytes()).toBe(8);
      await store.commit(first);
      await store.append(bytes('abc'));
      expect(texts(await store.read(0))).toEqual(['abc']);
      await store.close();
    });

    it('records older than the time-to-live are not returned', async () => {
      let now = 1_000_000;
      const store = await harness.fresh({ ttlMs: 1000, now: () => now });
      await store.append(bytes('old'));
      now += 600;
      await store.append(bytes('young'));
      now += 600;
      expect(texts(await store.read(0))).toEqual(['young']);
      await store.close();
    });

    it('storeId is a non-empty string that stays the same while the store is open', async () => {
      const store = await harness.fresh();
      const id = store.storeId;
      expect(id).toMatch(/\S/);
      await store.append(bytes('a'));
      expect(store.storeId).toBe(id);
      expect((await harness.fresh()).storeId).not.toBe(id);
      await store.close();
    });

    it('a closed store refuses appends', async () => {
      const store = await harness.fresh();
      await store.close();
      await expect(store.append(bytes('x'))).rejects.toThrow(/closed/);
    });

    if (harness.reopen) {
      const reopen = harness.reopen;
      it('after reopen: uncommitted records come back in order and sequence numbers keep increasing', async () => {
        const store = await harness.fresh();
        const seqs: number[] = [];
        for (const p of ['a', 'b', 'c']) seqs.push(await store.append(bytes(p)));
        await store.commit(seqs[0] as number);
        const again = await reopen(store);
        expect(texts(await again.read(0))).toEqual(['b', 'c']);
        const next = await again.append(bytes('d'));
        expect(next).toBeGreaterThan(seqs[2] as number);
        expect(texts(await again.read(0))).toEqual(['b', 'c', 'd']);
        expect(again.usedBytes()).toBe(3);
        await again.close();
      });

      it('after reopen: storeId is the same, so storeId + seq names a record across restarts', async () => {
        const store = await harness.fresh();
        const seq = await store.append(bytes('a'));
        const id = store.storeId;
        const again = await reopen(store);
        expect(again.storeId).toBe(id);
        expect((await again.read(0)).map((r) => r.seq)).toEqual([seq]);
        await again.close();
      });
    }
  });
}
