import { describe, expect, it } from 'vitest';
import type { BatchOutcome } from '../../../batching/types.js';
import { DELIVERED } from '../../../batching/types.js';
import { BatchingEngine } from '../../../batching/engine.js';
import { bytes, config, engine, fails } from './helpers.js';

const throttled: BatchOutcome = {
  type: 'failed',
  failure: { code: 'ThrottlingException', message: 'Rate exceeded', retryable: true },
};

describe('outcomes', () => {
  it('every message of a delivered batch gets a success status with its id', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'req123' }, 0);
    const statuses = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(statuses).toEqual([{ status: 'success', statusId: 'req123', messageId: 'req123', channel: 'a', meta: undefined }]);
    expect(e.stats().succeeded).toBe(1);
  });

  it('binary and default-topic messages (correlate=false) get statuses without an id', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('raw'), requestId: null }, 0);
    const [status] = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(status!.statusId).toBeUndefined();
    expect(status!.messageId).toBe('gen-0');
  });

  it('a per-entry failure fails only that entry', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'ok' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'bad' }, 0);
    const statuses = e.complete(
      e.tick(0).batches[0]!,
      {
        type: 'delivered',
        failures: [{ messageId: 'bad', code: 'InvalidRequestException', message: 'bad payload', retryable: false }],
      },
      1,
    );
    expect(statuses.map((s) => [s.statusId, s.status])).toEqual([
      ['ok', 'success'],
      ['bad', 'fail'],
    ]);
    expect(e.stats().dropped.rejected).toBe(1);
    expect(e.idle).toBe(true);
  });

  it('a non-retryable batch failure fails every message with the service error', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'req123' }, 0);
    const statuses = e.complete(
      e.tick(0).batches[0]!,
      {
        type: 'failed',
        failure: {
          code: 'ResourceNotFoundException',
          message: 'A resource with the specified name could not be found.',
          retryable: false,
        },
      },
      1,
    );
    expect(statuses).toEqual([
      {
        status: 'fail',
        statusId: 'req123',
        messageId: 'req123',
        channel: 'a',
        error: 'ResourceNotFoundException',
        errorMessage: 'A resource with the specified name could not be found.',
        reason: 'rejected',
        meta: undefined,
      },
    ]);
  });

  it('retryable failures go back to the front of their queue, in order, and produce no status yet', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '2', PublishInterval: '0' });
    for (const id of ['m1', 'm2', 'm3']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    const statuses = e.complete(e.tick(0).batches[0]!, throttled, 10);
    expect(statuses).toEqual([]);
    expect(e.stats().retried).toBe(2);
    const retryAt = e.nextWakeAt(10)!;
    expect(retryAt).toBeGreaterThan(10);
    expect(e.tick(retryAt - 1).batches).toHaveLength(0);
    expect(e.tick(retryAt).batches[0]!.messages.map((m) => m.messageId)).toEqual(['m1', 'm2']);
  });

  it('a retryable per-entry failure requeues only that entry', () => {
    const e = engine({ PublishInterval: '0' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'ok' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'again' }, 0);
    const statuses = e.complete(
      e.tick(0).batches[0]!,
      {
        type: 'delivered',
        failures: [{ messageId: 'again', code: 'InternalFailureException', message: 'x', retryable: true }],
      },
      1,
    );
    expect(statuses.map((s) => s.statusId)).toEqual(['ok']);
    expect(e.stats().queuedMessages).toBe(1);
  });

  it('backoff grows exponentially with jitter up to the cap and resets on success', () => {
    const e = new BatchingEngine({
      config: config({ PublishInterval: '0' }),
      random: () => 1, // the top of the jitter range: exactly the exponential value
      retry: { initialIntervalMs: 100, maxIntervalMs: 1000 },
    });
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      e.complete(e.tick(now).batches[0]!, throttled, now);
      const wake = e.nextWakeAt(now)!;
      delays.push(wake - now);
      now = wake;
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    e.complete(e.tick(now).batches[0]!, DELIVERED, now);
    expect(e.idle).toBe(true);
    e.offer({ channel: 'a', payload: bytes('2') }, now);
    e.complete(e.tick(now).batches[0]!, throttled, now);
    expect(e.nextWakeAt(now)! - now).toBe(100);
  });

  it('jitter keeps the delay between half and all of the exponential value', () => {
    const low = engine({ PublishInterval: '0' }, () => 0);
    low.offer({ channel: 'a', payload: bytes('1') }, 0);
    low.complete(low.tick(0).batches[0]!, throttled, 0);
    expect(low.nextWakeAt(0)).toBe(100); // default initial 200 ms, jitter floor is half
  });

  it('a backing-off channel does not hold back the others', () => {
    const e = engine({ PublishInterval: '0' });
    e.offer({ channel: 'slow', payload: bytes('1') }, 0);
    e.complete(e.tick(0).batches[0]!, throttled, 0);
    e.offer({ channel: 'fast', payload: bytes('1') }, 1);
    expect(e.tick(1).batches.map((b) => b.channel)).toEqual(['fast']);
  });

  it('failAll fails everything queued (shutdown) but leaves batches in flight to settle', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '1' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'flying' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: 'queued' }, 0);
    const [batch] = e.tick(0).batches;
    expect(fails(e.failAll('shutdown', 'ShutdownException', 'stopping'))).toEqual([
      { id: 'queued', error: 'ShutdownException' },
    ]);
    expect(e.complete(batch!, DELIVERED, 1)[0]!.status).toBe('success');
    expect(e.idle).toBe(true);
  });

  it('completing a batch that is not in flight is a programming error', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1') }, 0);
    const [batch] = e.tick(0).batches;
    e.complete(batch!, DELIVERED, 1);
    expect(() => e.complete(batch!, DELIVERED, 1)).toThrow(/not in flight/);
  });

  it('a deferred tail goes back to the front of its queue: no failure, no backoff, no status, sent first next time', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '3', PublishInterval: '0' });
    for (const id of ['m1', 'm2', 'm3', 'm4', 'm5']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    const [batch] = e.tick(0).batches;
    expect(batch!.mayDefer).toBe(true);
    const statuses = e.complete(batch!, { type: 'delivered', failures: [], deferred: 2 }, 5);
    expect(statuses.map((s) => [s.statusId, s.status])).toEqual([['m1', 'success']]);
    expect(e.stats()).toMatchObject({ deferred: 2, retried: 0, failed: 0, queuedMessages: 4 });
    expect(e.stats().channels[0]!.consecutiveFailures).toBe(0);
    expect(e.nextWakeAt(5)).toBeLessThanOrEqual(5); // due now: no backoff
    expect(e.tick(5).batches[0]!.messages.map((m) => m.messageId)).toEqual(['m2', 'm3', 'm4']);
  });

  it('a batch may defer only when more of its channel is queued behind it and the engine is not flushing', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '2', PublishInterval: '0' });
    for (const id of ['m1', 'm2', 'm3']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    const first = e.tick(0).batches[0]!;
    expect(first.mayDefer).toBe(true);
    e.complete(first, DELIVERED, 0);
    expect(e.tick(0).batches[0]!.mayDefer).toBe(false); // nothing behind it
    const f = engine({ IotAnalyticsBatchSizePerChannel: '1' });
    for (const id of ['m1', 'm2']) f.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    expect(f.tick(0, true).batches[0]!.mayDefer).toBe(false); // flush: never deferred
  });

  it('a deferred tail is never dropped, even when its queue filled up while it was in flight', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '2', IotAnalyticsQueueSizePerChannel: '3', PublishInterval: '0' });
    for (const id of ['m1', 'm2', 'm3']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    const [batch] = e.tick(0).batches; // m1, m2; m3 behind it
    for (const id of ['m4', 'm5']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0); // the queue is full
    expect(e.complete(batch!, { type: 'delivered', failures: [], deferred: 1 }, 0)).toHaveLength(1);
    expect(e.stats().queuedMessages).toBe(4);
    expect(e.tick(0).batches[0]!.messages.map((m) => m.messageId)).toEqual(['m2', 'm3']);
  });

  it('partial acknowledgement: envelope 1 acknowledged, envelope 2 failed: the first succeed, the rest retry in order after a backoff', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '4', PublishInterval: '0' });
    for (const id of ['m1', 'm2', 'm3', 'm4']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    const [batch] = e.tick(0).batches;
    const down = { code: 'NotConnectedError', message: 'the hub connection dropped', retryable: true };
    const statuses = e.complete(
      batch!,
      { type: 'delivered', failures: [{ messageId: 'm3', ...down }, { messageId: 'm4', ...down }] },
      10,
    );
    expect(statuses.map((s) => [s.statusId, s.status])).toEqual([
      ['m1', 'success'],
      ['m2', 'success'],
    ]);
    expect(e.stats()).toMatchObject({ retried: 2, queuedMessages: 2, succeeded: 2 });
    const retryAt = e.nextWakeAt(10)!;
    expect(retryAt).toBeGreaterThan(10);
    expect(e.tick(retryAt).batches[0]!.messages.map((m) => m.messageId)).toEqual(['m3', 'm4']);
  });

  it('a sink that defers a whole batch backs the channel off instead of spinning', () => {
    const e = engine({ IotAnalyticsBatchSizePerChannel: '1', PublishInterval: '0' });
    for (const id of ['m1', 'm2']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    e.complete(e.tick(0).batches[0]!, { type: 'delivered', failures: [], deferred: 1 }, 0);
    expect(e.stats().queuedMessages).toBe(2);
    expect(e.nextWakeAt(0)).toBeGreaterThan(0);
  });
});

