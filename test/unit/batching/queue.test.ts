import { describe, expect, it } from 'vitest';
import { DELIVERED } from '../../../batching/types.js';
import { BatchingEngine } from '../../../batching/engine.js';
import { bytes, config, engine, fails } from './helpers.js';

describe('channel queues', () => {
  it('one FIFO queue per channel is created on the first message', () => {
    const e = engine();
    expect(e.stats().activeChannels).toBe(0);
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    e.offer({ channel: 'b', payload: bytes('2') }, 0);
    e.offer({ channel: 'a', payload: bytes('3') }, 0);
    expect(e.stats().channels.map((c) => [c.channel, c.queuedMessages])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });

  it('a queue is deleted once drained', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    const [batch] = e.tick(0).batches;
    expect(e.stats().activeChannels).toBe(1); // in flight keeps it alive
    e.complete(batch!, DELIVERED, 1);
    expect(e.stats().activeChannels).toBe(0);
    expect(e.idle).toBe(true);
  });

  it('DROP_NEWEST: a full queue refuses the incoming message with a fail status', () => {
    const e = engine({ IotAnalyticsQueueSizePerChannel: '2' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'r1' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'r2' }, 0);
    const result = e.offer({ channel: 'a', payload: bytes('3'), requestId: 'r3' }, 0);
    expect(result.accepted).toBe(false);
    expect(fails(result.statuses)).toEqual([{ id: 'r3', error: 'QueueFullException' }]);
    expect(e.stats().dropped.queue_full).toBe(1);
    expect(e.tick(0).batches[0]!.messages.map((m) => m.messageId)).toEqual(['r1', 'r2']);
  });

  it('DROP_OLDEST evicts the oldest and reports fail for it', () => {
    const e = engine({ IotAnalyticsQueueSizePerChannel: '2', IotAnalyticsQueueDropBehavior: 'DROP_OLDEST' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'r1' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'r2' }, 0);
    const result = e.offer({ channel: 'a', payload: bytes('3'), requestId: 'r3' }, 0);
    expect(result.accepted).toBe(true);
    expect(fails(result.statuses)).toEqual([{ id: 'r1', error: 'MessageEvictedException' }]);
    expect(e.stats().dropped.evicted).toBe(1);
    expect(e.tick(0).batches[0]!.messages.map((m) => m.messageId)).toEqual(['r2', 'r3']);
  });

  it('messages in flight have left the queue: a batch in flight leaves room for IotAnalyticsQueueSizePerChannel more', () => {
    for (const behavior of ['DROP_NEWEST', 'DROP_OLDEST']) {
      const e = engine({ IotAnalyticsQueueSizePerChannel: '2', IotAnalyticsQueueDropBehavior: behavior });
      e.offer({ channel: 'a', payload: bytes('1'), requestId: 'r1' }, 0);
      e.offer({ channel: 'a', payload: bytes('2'), requestId: 'r2' }, 0);
      e.tick(0);
      expect(e.offer({ channel: 'a', payload: bytes('3'), requestId: 'r3' }, 0)).toEqual({ accepted: true, statuses: [] });
      expect(e.offer({ channel: 'a', payload: bytes('4'), requestId: 'r4' }, 0)).toEqual({ accepted: true, statuses: [] });
      expect(e.stats().channels[0]).toMatchObject({ queuedMessages: 2, inFlightMessages: 2 });
    }
  });

  it('the MemorySize budget bounds queued bytes across all channels (DROP_NEWEST refuses)', () => {
    const e = engine({ MemorySize: '1' }); // 1024 bytes
    expect(e.offer({ channel: 'a', payload: new Uint8Array(600), requestId: 'a1' }, 0).accepted).toBe(true);
    const result = e.offer({ channel: 'b', payload: new Uint8Array(600), requestId: 'b1' }, 0);
    expect(fails(result.statuses)).toEqual([{ id: 'b1', error: 'MemoryLimitExceededException' }]);
    expect(e.stats().dropped.memory_full).toBe(1);
    expect(e.stats().activeChannels).toBe(1); // the refused channel got no queue
    expect(e.stats().heldBytes).toBe(600);
  });

  it('DROP_OLDEST frees memory by evicting the oldest of the same channel', () => {
    const e = engine({ MemorySize: '1', IotAnalyticsQueueDropBehavior: 'DROP_OLDEST' });
    e.offer({ channel: 'a', payload: new Uint8Array(400), requestId: 'a1' }, 0);
    e.offer({ channel: 'a', payload: new Uint8Array(400), requestId: 'a2' }, 0);
    const result = e.offer({ channel: 'a', payload: new Uint8Array(500), requestId: 'a3' }, 0);
    expect(result.accepted).toBe(true);
    expect(fails(result.statuses)).toEqual([{ id: 'a1', error: 'MessageEvictedException' }]);
    expect(e.stats().heldBytes).toBe(900);
  });

  it('DROP_OLDEST refuses without evicting when even an empty channel queue could not make room', () => {
    const e = engine({ MemorySize: '1', IotAnalyticsQueueDropBehavior: 'DROP_OLDEST' });
    e.offer({ channel: 'a', payload: new Uint8Array(800), requestId: 'a1' }, 0);
    e.offer({ channel: 'b', payload: new Uint8Array(100), requestId: 'b1' }, 0);
    const result = e.offer({ channel: 'b', payload: new Uint8Array(500), requestId: 'b2' }, 0);
    expect(fails(result.statuses)).toEqual([{ id: 'b2', error: 'MemoryLimitExceededException' }]);
    expect(e.stats().channels.map((c) => c.queuedMessages)).toEqual([1, 1]);
  });

  it('a message for a new channel when MaxActiveChannels queues exist is refused with fail', () => {
    const e = engine({ IotAnalyticsMaxActiveChannels: '2' });
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    e.offer({ channel: 'b', payload: bytes('1') }, 0);
    const result = e.offer({ channel: 'c', payload: bytes('1'), requestId: 'c1' }, 0);
    expect(fails(result.statuses)).toEqual([{ id: 'c1', error: 'TooManyChannelsException' }]);
    expect(e.offer({ channel: 'a', payload: bytes('2') }, 0).accepted).toBe(true); // existing channels still take messages
    expect(e.stats().dropped.too_many_channels).toBe(1);
  });

  it('a channel slot is freed once its queue drains', () => {
    const e = engine({ IotAnalyticsMaxActiveChannels: '1' });
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(e.offer({ channel: 'b', payload: bytes('1') }, 2).accepted).toBe(true);
  });

  it('a message over 128 KB is refused with MessageTooLargeException', () => {
    const e = engine({ MemorySize: '1024' });
    expect(e.offer({ channel: 'a', payload: new Uint8Array(128 * 1024) }, 0).accepted).toBe(true);
    const result = e.offer({ channel: 'a', payload: new Uint8Array(128 * 1024 + 1), requestId: 'big' }, 0);
    expect(fails(result.statuses)).toEqual([{ id: 'big', error: 'MessageTooLargeException' }]);
    expect(e.stats().dropped.too_large).toBe(1);
  });

  it('an invalid channel name is refused with InvalidRequestException', () => {
    const e = engine();
    for (const channel of ['', '__x', 'a/b', 'x'.repeat(129)]) {
      const result = e.offer({ channel, payload: bytes('1'), requestId: 'r' }, 0);
      expect(fails(result.statuses)).toEqual([{ id: 'r', error: 'InvalidRequestException' }]);
    }
    expect(e.stats().dropped.invalid).toBe(4);
  });

  it('a missing id is generated and is also the status id', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'given' }, 0);
    expect(e.tick(0).batches[0]!.messages.map((m) => [m.messageId, m.statusId])).toEqual([
      ['gen-0', 'gen-0'],
      ['given', 'given'],
    ]);
  });

  it('the default id generator gives unique URL-safe ids', () => {
    const e = new BatchingEngine({ config: config({ IotAnalyticsQueueSizePerChannel: '10000' }) });
    for (let i = 0; i < 5000; i++) e.offer({ channel: 'a', payload: bytes('1') }, 0);
    const ids = new Set<string>();
    while (!e.idle) {
      for (const batch of e.tick(0, true).batches) {
        for (const m of batch.messages) ids.add(m.messageId);
        e.complete(batch, DELIVERED, 0);
      }
    }
    expect(ids.size).toBe(5000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
  });
});
