import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BatchingEngine } from '../../../batching/engine.js';
import { loadConnectorConfig } from '../../../batching/config.js';
import { Pump } from '../../../batching/pump.js';
import { DELIVERED } from '../../../batching/types.js';
import { EdgeEvents } from '../../../edge-module/events.js';
import { COMMIT_DELAY_MS, Ingest } from '../../../edge-module/ingest.js';
import type { MessageMeta } from '../../../edge-module/ingest.js';
import { MemoryStore } from '../../../edge-module/persistence/memory.js';
import { EdgeMetrics } from '../../../edge-module/metrics.js';

function setup(store?: MemoryStore) {
  const published: string[] = [];
  const sent: MessageMeta[] = [];
  let n = 0;
  const engine = new BatchingEngine({ config: loadConnectorConfig({ MemorySize: '64', PublishInterval: '0' }), newId: () => `gen-${n++}` });
  const pump = new Pump({
    engine,
    sink: {
      send: async (batch) => {
        for (const m of batch.messages) sent.push(m.meta as MessageMeta);
        return DELIVERED;
      },
    },
    clock: { now: Date.now },
    timer: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    onStatus: (s) => ingest.onStatus(s),
  });
  const events = new EdgeEvents(pino({ level: 'silent' }), new EdgeMetrics(() => ({ channels: [], persistenceBytes: undefined, persistenceUnreadableRecords: undefined })));
  const ingest: Ingest = new Ingest({ pump, store, events, publish: (json) => published.push(json), newId: () => `gen-${n++}` });
  return { ingest, pump, published, sent };
}

describe('ingest: statuses back to their input', () => {
  it('every fail status for an input that had an id carries it exactly, "" and over 128 characters included', () => {
    const { ingest, published } = setup();
    for (const id of ['', 'x'.repeat(200), 'req123']) {
      ingest.refuse({ source: 'mqtt', qos: 0, channel: 'c', id, correlate: true }, 'InvalidRequestException', 'bad');
    }
    expect(published.map((p) => JSON.parse(p).id)).toEqual(['', 'x'.repeat(200), 'req123']);
  });

  it('a put with an id that is not a valid messageId is accepted and answered with its own id', async () => {
    const { ingest, pump, published } = setup();
    pump.start();
    ingest.submit({ source: 'mqtt', qos: 0, channel: 'c', payload: Buffer.from('{"t":1}'), id: '', correlate: true });
    await pump.flush(Date.now() + 5000);
    await pump.stop();
    expect(published).toEqual(['{"response":{"status":"success"},"id":""}']);
  });
});

describe('ingest: the persistence checkpoint', () => {
  afterEach(() => vi.useRealTimers());

  /** A memory store that records every commit it is asked for. */
  function countingStore(): { store: MemoryStore; commits: number[] } {
    const store = new MemoryStore({ maxBytes: 1 << 20, ttlMs: 0 });
    const commits: number[] = [];
    const commit = store.commit.bind(store);
    store.commit = (upTo: number) => {
      commits.push(upTo);
      return commit(upTo);
    };
    return { store, commits };
  }

  const item = (i: number) => ({ source: 'mqtt' as const, qos: 1 as const, channel: 'c', payload: Buffer.from(`{"i":${i}}`), id: `r${i}`, correlate: true });

  it('while statuses keep arriving the checkpoint is written at most once per COMMIT_DELAY_MS, and at once on close', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { store, commits } = countingStore();
    const { ingest, pump, published } = setup(store);
    pump.start();
    // Ten messages every 50 ms for 2 × COMMIT_DELAY_MS, each answered within the next 50 ms.
    const steps = (2 * COMMIT_DELAY_MS) / 50;
    for (let step = 0; step < steps; step++) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => ingest.submit(item(step * 10 + k))));
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(published).toHaveLength(steps * 10);
    expect(commits.length).toBeGreaterThanOrEqual(1);
    expect(commits.length).toBeLessThanOrEqual(2);
    await ingest.close();
    expect(commits.at(-1)).toBe(steps * 10);
    expect(await store.read(0)).toEqual([]);
    await pump.stop();
  });

  it('a crash before the checkpoint only re-sends: the restarted ingest sends every uncommitted record again under the same n', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { store, commits } = countingStore();
    const first = setup(store);
    first.pump.start();
    await Promise.all(Array.from({ length: 5 }, (_, i) => first.ingest.submit(item(i))));
    await vi.advanceTimersByTimeAsync(COMMIT_DELAY_MS / 2);
    expect(first.published).toHaveLength(5); // every message answered…
    expect(commits).toEqual([]); // …and the process dies here, before its checkpoint timer fires

    const second = setup(store);
    second.pump.start();
    const { records } = await second.ingest.recover();
    await vi.advanceTimersByTimeAsync(COMMIT_DELAY_MS / 2);
    expect(records).toBe(5);
    expect(second.sent.map((m) => m.ordinal)).toEqual([1, 2, 3, 4, 5]);
    expect(second.sent.map((m) => m.ordinal)).toEqual(first.sent.map((m) => m.ordinal));
    await second.ingest.close();
    await second.pump.stop();
    expect(await store.read(0)).toEqual([]);
  });
});
