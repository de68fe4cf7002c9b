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
    e.offer({ channel: 'a', payload: bytes('1'), id: 'req123' }, 0);
    const statuses = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(statuses).toEqual([{ status: 'success', id: 'req123', messageId: 'req123', channel: 'a', meta: undefined }]);
    expect(e.stats().succeeded).toBe(1);
  });

  it('binary and default-topic messages (correlate=false) get statuses without an id', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('raw'), correlate: false }, 0);
    const [status] = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(status!.id).toBeUndefined();
    expect(status!.messageId).toBe('gen-0');
  });

  it('a per-entry failure fails only that entry', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1'), id: 'ok' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), id: 'bad' }, 0);
    const statuses = e.complete(
      e.tick(0).batches[0]!,
      {
        type: 'delivered',
        failures: [{ messageId: 'bad', code: 'InvalidRequestException', message: 'bad payload', retryable: false }],
      },
      1,
    );
    expect(statuses.map((s) => [s.id, s.status])).toEqual([
      ['ok', 'success'],
      ['bad', 'fail'],
    ]);
    expect(e.stats().dropped.rejected).toBe(1);
    expect(e.idle).toBe(true);
  });

  it('a non-retryable batch failure fails every message with the service error', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1'), id: 'req123' }, 0);
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
        id: 'req123',
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
    for (const id of ['m1', 'm2', 'm3']) e.offer({ channel: 'a', payload: bytes(id), id }, 0);
    const statuses = e.complete(e.tick(0).batches[0]!, throttled, 10);
    expect(statuses).toEqual([]);
    expect(e.stats().retried).toBe(2);
    const retryAt = e.nextWakeAt(10)!;
    expect(retryAt).toBeGreaterThan(10);
    expect(e.tick(retryAt - 1).batches).toHaveLength(0);
    expect(e.tick(retryAt).batches[0]!.messages.map((m) => m.id)).toEqual(['m1', 'm2']);
  });

  it('a retryable per-entry failure requeues only that entry', () => {
    const e = engine({ PublishInterval: '0' });
    e.offer({ channel: 'a', payload: bytes('1'), id: 'ok' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), id: 'again' }, 0);
    const statuses = e.complete(
      e.tick(0).batches[0]!,
      {
        type: 'delivered',
        failures: [{ messageId: 'again', code: 'InternalFailureException', message: 'x', retryable: true }],
      },
      1,
    );
    expect(statuses.map((s) => s.id)).toEqual(['ok']);
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
    e.offer({ channel: 'a', payload: bytes('1'), id: 'flying' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), id: 'queued' }, 0);
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
});
