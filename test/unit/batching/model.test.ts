/**
 * Property tests: random offer / tick / outcome sequences, checking the engine's invariants after every
 * step against an independent record of what went in and what came out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchingEngine } from '../../../batching/engine.js';
import type { Batch, BatchOutcome, StatusReport } from '../../../batching/types.js';
import { config } from './helpers.js';

type Command =
  | { kind: 'offer'; channel: number; size: number; id: number | undefined; correlate: boolean }
  | { kind: 'tick'; advanceMs: number }
  | { kind: 'settle'; which: number; outcome: 'ok' | 'entryFail' | 'entryRetry' | 'retry' | 'reject' }
  | { kind: 'failAll' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('offer' as const),
      channel: fc.integer({ min: 0, max: 5 }),
      size: fc.integer({ min: 0, max: 700 }),
      id: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
      correlate: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), advanceMs: fc.integer({ min: 0, max: 3000 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      which: fc.nat(),
      outcome: fc.constantFrom('ok', 'entryFail', 'entryRetry', 'retry', 'reject') as fc.Arbitrary<
        'ok' | 'entryFail' | 'entryRetry' | 'retry' | 'reject'
      >,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'failAll' as const }) },
);

const settings = fc.record({
  MemorySize: fc.constantFrom('1', '2', '4'),
  IotAnalyticsQueueSizePerChannel: fc.constantFrom('1', '3', '8'),
  IotAnalyticsBatchSizePerChannel: fc.constantFrom('1', '2', '5'),
  IotAnalyticsMaxActiveChannels: fc.constantFrom('1', '3', '50'),
  IotAnalyticsQueueDropBehavior: fc.constantFrom('DROP_NEWEST', 'DROP_OLDEST'),
  PublishInterval: fc.constantFrom('0', '1'),
});

function outcomeFor(batch: Batch, kind: string): BatchOutcome {
  const first = batch.messages[0]!.id;
  switch (kind) {
    case 'ok':
      return { type: 'delivered', failures: [] };
    case 'entryFail':
      return {
        type: 'delivered',
        failures: [{ messageId: first, code: 'InvalidRequestException', message: 'x', retryable: false }],
      };
    case 'entryRetry':
      return {
        type: 'delivered',
        failures: [{ messageId: first, code: 'InternalFailureException', message: 'x', retryable: true }],
      };
    case 'retry':
      return { type: 'failed', failure: { code: 'ThrottlingException', message: 'x', retryable: true } };
    default:
      return { type: 'failed', failure: { code: 'ResourceNotFoundException', message: 'x', retryable: false } };
  }
}

describe('engine invariants (model-based)', () => {
  it('accepted = succeeded + failed + queued, per-channel order, bytes within budget, channels within max, evictions report their id, one status per message: at every step', () => {
    fc.assert(
      fc.property(settings, fc.array(command, { maxLength: 120 }), (values, commands) => {
        const cfg = config(values);
        const engine = new BatchingEngine({
          config: cfg,
          random: () => 0.5,
          retry: { initialIntervalMs: 10, maxIntervalMs: 100 },
        });
        let now = 0;
        let serial = 0;
        const accepted = new Map<number, { channel: string; order: number }>(); // meta → accepted message
        const settled = new Map<number, StatusReport>();
        const inFlight: Batch[] = [];
        const lastDelivered = new Map<string, number>(); // channel → last delivered acceptance order
        const lastFirstSent = new Map<string, number>(); // channel → last first-sent acceptance order
        const sent = new Set<number>();
        // A per-entry retryable failure lets its batch-mates through first: delivery order is only
        // checked on channels that never had one (first-send order is checked everywhere).
        const entryRetried = new Set<string>();

        const record = (statuses: readonly StatusReport[]) => {
          for (const s of statuses) {
            const meta = s.meta as number;
            // exactly one status per message
            expect(settled.has(meta)).toBe(false);
            settled.set(meta, s);
            if (s.status === 'fail' && s.reason === 'evicted') {
              // a DROP_OLDEST eviction reports the evicted message (accepted earlier, not the incoming one)
              expect(accepted.has(meta)).toBe(true);
              expect(s.messageId).toBeTruthy();
              if (s.id !== undefined) expect(s.id).toBe(s.messageId);
            }
            if (s.status === 'success' && !entryRetried.has(s.channel)) {
              // per-channel order is preserved for what is delivered
              const order = accepted.get(meta)!.order;
              expect(order).toBeGreaterThan(lastDelivered.get(s.channel) ?? -1);
              lastDelivered.set(s.channel, order);
            }
          }
        };

        const check = () => {
          const stats = engine.stats();
          const stillHeld = stats.queuedMessages + stats.inFlightMessages;
          expect(stats.accepted).toBe(accepted.size);
          // accepted = succeeded + failed + still queued
          expect(stats.accepted).toBe(stats.succeeded + stats.failed + stillHeld);
          const settledAccepted = [...settled.keys()].filter((m) => accepted.has(m)).length;
          expect(settledAccepted + stillHeld).toBe(accepted.size);
          // queued bytes never exceed the budget
          expect(stats.heldBytes).toBeLessThanOrEqual(cfg.memorySizeBytes);
          // no channel count above the maximum
          expect(stats.activeChannels).toBeLessThanOrEqual(cfg.maxActiveChannels);
          for (const c of stats.channels)
            expect(c.queuedMessages + c.inFlightMessages).toBeLessThanOrEqual(cfg.queueSizePerChannel);
        };

        for (const c of commands) {
          if (c.kind === 'offer') {
            const meta = serial++;
            const channel = `ch${c.channel}`;
            const result = engine.offer(
              {
                channel,
                payload: new Uint8Array(c.size),
                id: c.id === undefined ? undefined : `id${c.id}`,
                correlate: c.correlate,
                meta,
              },
              now,
            );
            if (result.accepted) accepted.set(meta, { channel, order: meta });
            record(result.statuses);
            if (!result.accepted) expect(result.statuses.map((s) => s.meta)).toEqual([meta]);
          } else if (c.kind === 'tick') {
            now += c.advanceMs;
            const { batches, statuses } = engine.tick(now);
            record(statuses);
            for (const b of batches) {
              expect(new Set(b.messages.map((m) => m.id)).size).toBe(b.messages.length); // ids unique per batch
              expect(b.messages.length).toBeLessThanOrEqual(cfg.batchSizePerChannel);
              expect(inFlight.some((f) => f.channel === b.channel)).toBe(false); // one in flight per channel
              for (const m of b.messages) {
                // per-channel order is preserved for what is sent: first sends follow acceptance order
                const meta = m.meta as number;
                if (sent.has(meta)) continue;
                sent.add(meta);
                expect(meta).toBeGreaterThan(lastFirstSent.get(b.channel) ?? -1);
                lastFirstSent.set(b.channel, meta);
              }
              inFlight.push(b);
            }
          } else if (c.kind === 'settle') {
            if (inFlight.length === 0) continue;
            const [batch] = inFlight.splice(c.which % inFlight.length, 1);
            if (c.outcome === 'entryRetry' && batch!.messages.length > 1) entryRetried.add(batch!.channel);
            record(engine.complete(batch!, outcomeFor(batch!, c.outcome), now));
          } else {
            record(engine.failAll('shutdown', 'ShutdownException', 'stop'));
          }
          check();
        }

        // Drain: deliver everything; every accepted message ends in exactly one status.
        for (let guard = 0; guard < 10_000 && !engine.idle; guard++) {
          now += 1000;
          for (const b of inFlight.splice(0)) record(engine.complete(b, { type: 'delivered', failures: [] }, now));
          const { batches, statuses } = engine.tick(now);
          record(statuses);
          inFlight.push(...batches);
          check();
        }
        expect(engine.idle).toBe(true);
        for (const meta of accepted.keys()) expect(settled.has(meta)).toBe(true);
        expect(settled.size).toBe(serial);
      }),
      { numRuns: 1000 },
    );
  });
});
