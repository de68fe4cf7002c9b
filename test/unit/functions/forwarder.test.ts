import { describe, expect, it } from 'vitest';
import { loadConnectorConfig } from '../../../batching/config.js';
import type { Batch, BatchOutcome, Sink } from '../../../batching/types.js';
import { forwardReadings } from '../../../functions/analyticsForwarder.js';
import type { Reading } from '../../../functions/record.js';

function reading(i: number, channel: string | null, payload = `{"i":${i}}`): Reading {
  return {
    record: {
      id: `0-${i}-0`,
      deviceId: 'd',
      channel,
      ts: '',
      enqueuedAt: '',
      partition: '0',
      sequenceNumber: i,
      index: 0,
      properties: {},
    },
    payload: Buffer.from(payload),
  };
}

function recordingSink(answer: (batch: Batch, call: number) => BatchOutcome): Sink & { batches: Batch[] } {
  const batches: Batch[] = [];
  return {
    batches,
    send: async (batch) => {
      batches.push(batch);
      return answer(batch, batches.length);
    },
  };
}

const config = (extra: Record<string, string> = {}) =>
  loadConnectorConfig({ MemorySize: '1024', PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '100', ...extra });

describe('analytics forwarder', () => {
  it('groups by channel, sends the original bytes with the record ids, at most 100 per call', async () => {
    const sink = recordingSink(() => ({ type: 'delivered', failures: [] }));
    const readings = Array.from({ length: 250 }, (_, i) => reading(i, i % 2 === 0 ? 'even' : 'odd'));
    const result = await forwardReadings(readings, { config: config(), sink, deadlineMs: Date.now() + 10_000 });
    expect(result).toMatchObject({ forwarded: 250, undelivered: [] });
    expect(sink.batches.map((b) => [b.channel, b.messages.length]).sort()).toEqual([
      ['even', 100],
      ['even', 25],
      ['odd', 100],
      ['odd', 25],
    ]);
    const first = sink.batches.find((b) => b.channel === 'even')!;
    expect(first.messages[0]?.messageId).toBe('0-0-0');
    expect(Buffer.from(first.messages[0]!.payload).toString()).toBe('{"i":0}');
  });

  it('a non-retryable per-entry error is undelivered with its code; retryable ones are retried until delivered', async () => {
    const sink = recordingSink((batch, call) => ({
      type: 'delivered',
      failures: [
        ...(call === 1
          ? [{ messageId: batch.messages[1]!.messageId, code: 'ThrottlingException', message: 'slow down', retryable: true }]
          : []),
        ...batch.messages
          .filter((m) => m.messageId === '0-2-0')
          .map((m) => ({ messageId: m.messageId, code: 'InvalidRequestException', message: 'bad', retryable: false })),
      ],
    }));
    const result = await forwardReadings([reading(0, 'c'), reading(1, 'c'), reading(2, 'c')], {
      config: config(),
      sink,
      deadlineMs: Date.now() + 10_000,
    });
    expect(result.forwarded).toBe(2);
    expect(result.undelivered).toEqual([
      expect.objectContaining({
        messageId: '0-2-0',
        channel: 'c',
        error: 'InvalidRequestException',
        errorMessage: 'bad',
        payloadBase64: Buffer.from('{"i":2}').toString('base64'),
      }),
    ]);
    expect(result.failuresByCode).toEqual({ InvalidRequestException: 1 });
  });

  it('a reading without a channel is undelivered at once; the rest still go', async () => {
    const sink = recordingSink(() => ({ type: 'delivered', failures: [] }));
    const result = await forwardReadings([reading(0, null), reading(1, 'c')], {
      config: config(),
      sink,
      deadlineMs: Date.now() + 10_000,
    });
    expect(result.forwarded).toBe(1);
    expect(result.undelivered[0]).toMatchObject({
      messageId: '0-0-0',
      error: 'InvalidRequestException',
      reason: 'invalid',
    });
  });

  it('what is still queued when the time budget runs out is undelivered with ShutdownException', async () => {
    const sink = recordingSink(() => ({
      type: 'failed',
      failure: { code: 'ServiceUnavailableException', message: 'down', retryable: true },
    }));
    const result = await forwardReadings([reading(0, 'c'), reading(1, 'c')], {
      config: config(),
      sink,
      deadlineMs: Date.now() + 300,
    });
    expect(result.forwarded).toBe(0);
    expect(result.undelivered.map((u) => u.error)).toEqual(['ShutdownException', 'ShutdownException']);
    expect(sink.batches.length).toBeGreaterThanOrEqual(1);
  });

  it('more readings than a channel queue holds are flushed in turns, not dropped', async () => {
    const sink = recordingSink(() => ({ type: 'delivered', failures: [] }));
    const readings = Array.from({ length: 30 }, (_, i) => reading(i, 'c'));
    const result = await forwardReadings(readings, {
      config: config({ IotAnalyticsQueueSizePerChannel: '10', IotAnalyticsBatchSizePerChannel: '4' }),
      sink,
      deadlineMs: Date.now() + 10_000,
    });
    expect(result).toMatchObject({ forwarded: 30, undelivered: [] });
    expect(sink.batches.every((b) => b.messages.length <= 4)).toBe(true);
  });

  it('more readings than MemorySize holds wait for room (backpressure), none is dropped', async () => {
    const sink = recordingSink(() => ({ type: 'delivered', failures: [] }));
    const readings = Array.from({ length: 40 }, (_, i) => reading(i, i % 2 ? 'a' : 'b', JSON.stringify({ i, pad: 'p'.repeat(200) })));
    const result = await forwardReadings(readings, {
      config: config({ MemorySize: '1', IotAnalyticsBatchSizePerChannel: '2' }),
      sink,
      deadlineMs: Date.now() + 10_000,
    });
    expect(result).toMatchObject({ forwarded: 40, undelivered: [] });
  });

  it('an over-size reading (128 KB) is undelivered with the engine error, the others go', async () => {
    const sink = recordingSink(() => ({ type: 'delivered', failures: [] }));
    const big = reading(0, 'c', 'x'.repeat(128 * 1024 + 1));
    const result = await forwardReadings([big, reading(1, 'c')], {
      config: config({ MemorySize: '4096' }),
      sink,
      deadlineMs: Date.now() + 10_000,
    });
    expect(result.forwarded).toBe(1);
    expect(result.undelivered[0]).toMatchObject({ messageId: '0-0-0', error: 'MessageTooLargeException' });
  });
});
