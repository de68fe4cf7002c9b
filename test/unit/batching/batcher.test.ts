import { describe, expect, it } from 'vitest';
import { DELIVERED } from '../../../batching/types.js';
import { bytes, engine, fails } from './helpers.js';

describe('batches', () => {
  it('each tick takes up to BatchSize messages per channel', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '3', PublishInterval: '0' });
    for (let i = 0; i < 7; i++) e.offer({ channel: 'a', payload: bytes(`${i}`), requestId: `a${i}` }, 0);
    e.offer({ channel: 'b', payload: bytes('x'), requestId: 'b0' }, 0);
    const first = e.tick(0).batches;
    expect(first.map((b) => [b.channel, b.messages.map((m) => m.messageId)])).toEqual([
      ['a', ['a0', 'a1', 'a2']],
      ['b', ['b0']],
    ]);
    for (const b of first) e.complete(b, DELIVERED, 0);
    expect(e.tick(0).batches[0]!.messages.map((m) => m.messageId)).toEqual(['a3', 'a4', 'a5']);
  });

  it('PublishInterval: batches are published at most once per interval', () => {
    const e = engine({ PublishInterval: '2' });
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    expect(e.tick(0).batches).toHaveLength(1);
    e.offer({ channel: 'b', payload: bytes('1') }, 100);
    expect(e.tick(1999).batches).toHaveLength(0);
    expect(e.nextWakeAt(1999)).toBe(2000);
    expect(e.tick(2000).batches).toHaveLength(1);
  });

  it('at most one batch per channel is in flight, so per-channel order is kept', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '1', PublishInterval: '0' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'first' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'second' }, 0);
    const [batch] = e.tick(0).batches;
    expect(e.tick(1).batches).toHaveLength(0);
    expect(e.nextWakeAt(1)).toBeUndefined(); // waiting for the batch in flight
    e.complete(batch!, DELIVERED, 2);
    expect(e.tick(3).batches[0]!.messages.map((m) => m.messageId)).toEqual(['second']);
  });

  it('a duplicate id in one batch is cancelled with fail; the first is sent', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '5' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'dup' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'other' }, 0);
    e.offer({ channel: 'a', payload: bytes('3'), requestId: 'dup' }, 0);
    const { batches, statuses } = e.tick(0);
    expect(batches[0]!.messages.map((m) => [m.messageId, Buffer.from(m.payload).toString()])).toEqual([
      ['dup', '1'],
      ['other', '2'],
    ]);
    expect(fails(statuses)).toEqual([{ id: 'dup', error: 'DuplicateMessageIdException' }]);
    expect(e.stats().dropped.duplicate_id).toBe(1);
    expect(e.stats().heldBytes).toBe(2);
  });

  it('ids need only be unique within one batch: the same id in the next batch is sent', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '1', PublishInterval: '0' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'same' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'same' }, 0);
    e.complete(e.tick(0).batches[0]!, DELIVERED, 0);
    const next = e.tick(0);
    expect(next.statuses).toHaveLength(0);
    expect(next.batches[0]!.messages[0]!.messageId).toBe('same');
  });

  it('duplicate detection also holds for large batches', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '100' });
    for (let i = 0; i < 60; i++) e.offer({ channel: 'a', payload: bytes('x'), requestId: `m${i % 50}` }, 0);
    const { batches, statuses } = e.tick(0);
    expect(batches[0]!.messages).toHaveLength(50);
    expect(statuses).toHaveLength(10);
  });

  it('force ticks ignore PublishInterval (flush)', () => {
    const e = engine({ PublishInterval: '60' });
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    e.complete(e.tick(0).batches[0]!, DELIVERED, 0);
    e.offer({ channel: 'a', payload: bytes('2') }, 1);
    expect(e.tick(1).batches).toHaveLength(0);
    expect(e.tick(1, true).batches).toHaveLength(1);
  });

  it('reconfigure trims queues by the drop behaviour and reports each trimmed message', () => {
    const e = engine({ IotAnalyticsQueueSizePerChannel: '5', IotAnalyticsQueueDropBehavior: 'DROP_OLDEST' });
    for (let i = 0; i < 5; i++) e.offer({ channel: 'a', payload: bytes('x'), requestId: `a${i}` }, 0);
    const statuses = e.reconfigure({ ...e.currentConfig, queueSizePerChannel: 3, batchSizePerChannel: 2 }, 0);
    expect(fails(statuses)).toEqual([
      { id: 'a0', error: 'MessageEvictedException' },
      { id: 'a1', error: 'MessageEvictedException' },
    ]);
    expect(e.tick(0).batches[0]!.messages.map((m) => m.messageId)).toEqual(['a2', 'a3']); // new batch size applies
  });

  it('reconfigure with DROP_NEWEST trims the newest', () => {
    const e = engine({ IotAnalyticsQueueSizePerChannel: '4' });
    for (let i = 0; i < 4; i++) e.offer({ channel: 'a', payload: bytes('x'), requestId: `a${i}` }, 0);
    const statuses = e.reconfigure({ ...e.currentConfig, queueSizePerChannel: 2 }, 0);
    expect(fails(statuses).map((f) => f.id)).toEqual(['a3', 'a2']);
  });
});
