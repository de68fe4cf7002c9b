import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BatchingEngine } from '../../../batching/engine.js';
import { loadConnectorConfig } from '../../../batching/config.js';
import { Pump } from '../../../batching/pump.js';
import { DELIVERED } from '../../../batching/types.js';
import { EdgeEvents } from '../../../edge-module/events.js';
import { Ingest } from '../../../edge-module/ingest.js';
import { EdgeMetrics } from '../../../edge-module/metrics.js';

function setup() {
  const published: string[] = [];
  let n = 0;
  const engine = new BatchingEngine({ config: loadConnectorConfig({ MemorySize: '64', PublishInterval: '0' }), newId: () => `gen-${n++}` });
  const pump = new Pump({
    engine,
    sink: { send: async () => DELIVERED },
    clock: { now: Date.now },
    timer: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    onStatus: (s) => ingest.onStatus(s),
  });
  const events = new EdgeEvents(pino({ level: 'silent' }), new EdgeMetrics(() => ({ channels: [], persistenceBytes: undefined, persistenceUnreadableRecords: undefined })));
  const ingest: Ingest = new Ingest({ pump, store: undefined, events, publish: (json) => published.push(json), newId: () => `gen-${n++}` });
  return { ingest, pump, published };
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
