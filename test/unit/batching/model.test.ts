/**
 * Property tests: random offer / tick / outcome sequences, checking the engine's invariants after every
 * step against an independent record of what went in and what came out. Outcomes include what the IoT
 * Hub sink answers: a batch packed into several envelopes of which the first were acknowledged and a
 * later one failed (partial acknowledgement), and a tail handed back unsent (deferral).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchingEngine } from '../../../batching/engine.js';
import type { Batch, BatchOutcome, EntryFailure, StatusReport } from '../../../batching/types.js';
import { config } from './helpers.js';

type IdKind = 'none' | 'binary' | 'empty' | 'long' | number;
type OutcomeKind = 'ok' | 'entryFail' | 'entryRetry' | 'retry' | 'reject' | 'partial' | 'partialReject' | 'defer';

type Command =
  | { kind: 'offer'; channel: number; size: number; id: IdKind }
  | { kind: 'tick'; advanceMs: number; force: boolean }
  | { kind: 'settle'; which: number; outcome: OutcomeKind; split: number }
  | { kind: 'failAll' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('offer' as const),
      channel: fc.integer({ min: 0, max: 5 }),
      size: fc.integer({ min: 0, max: 700 }),
      id: fc.oneof(
        fc.constantFrom<IdKind>('none', 'binary', 'empty', 'long'),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 6 }),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      advanceMs: fc.integer({ min: 0, max: 3000 }),
      force: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      which: fc.nat(),
      outcome: fc.constantFrom<OutcomeKind>('ok', 'entryFail', 'entryRetry', 'retry', 'reject', 'partial', 'partialReject', 'defer'),
      split: fc.nat(),
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
  RetryTimeoutSeconds: fc.constantFrom('2', '7200'),
});

const LONG_ID = 'L'.repeat(129);
const retryable = (messageId: string): EntryFailure => ({ messageId, code: 'NotConnectedError', message: 'x', retryable: true });
const final = (messageId: string): EntryFailure => ({ messageId, code: 'InvalidRequestException', message: 'x', retryable: false });

function outcomeFor(batch: Batch, kind: OutcomeKind, split: number): BatchOutcome {
  const ids = batch.messages.map((m) => m.messageId);
  // Envelope boundaries: the first `cut` messages were in envelopes the hub acknowledged.
  const cut = ids.length > 1 ? 1 + (split % (ids.length - 1)) : 0;
  switch (kind) {
    case 'ok':
      return { type: 'delivered', failures: [] };
    case 'entryFail':
      return { type: 'delivered', failures: [final(ids[0]!)] };
    case 'entryRetry':
      return { type: 'delivered', failures: [retryable(ids[0]!)] };
    case 'retry':
      return { type: 'failed', failure: { code: 'ThrottlingException', message: 'x', retryable: true } };
    case 'reject':
      return { type: 'failed', failure: { code: 'ResourceNotFoundException', message: 'x', retryable: false } };
    case 'partial':
      // envelope 1 acknowledged, envelope 2 failed retryably (and nothing after it was attempted)
      return { type: 'delivered', failures: ids.slice(cut).map(retryable) };
    case 'partialReject':
      // envelope 1 acknowledged, envelope 2 refused for good, envelope 3 not attempted
      return {
        type: 'delivered',
        failures: ids.slice(cut).map((id, i) => (i === 0 ? final(id) : retryable(id))),
      };
    case 'defer':
      // a well-behaved sink defers only when allowed, and never the whole batch
      return batch.mayDefer && cut > 0
        ? { type: 'delivered', failures: [], deferred: ids.length - cut }
        : { type: 'delivered', failures: [] };
  }
}

describe('engine invariants (model-based)', () => {
  it('accepted = succeeded + failed + queued + in flight at every step; one status per message; ids echoed exactly; limits, order, deferral and partial acknowledgement', () => {
    fc.assert(
      fc.property(settings, fc.array(command, { maxLength: 150 }), (values, commands) => {
        const cfg = config(values);
        let generated = 0;
        const engine = new BatchingEngine({
          config: cfg,
          newId: () => `gen${generated++}`,
          random: () => 0.5,
          retry: { initialIntervalMs: 10, maxIntervalMs: 100 },
        });
        let now = 0;
        let serial = 0;
        const offered = new Map<number, { channel: string; requestId: string | null | undefined; size: number }>(); // meta → offer
        const accepted = new Set<number>();
        const settled = new Map<number, StatusReport>();
        const inFlight: Batch[] = [];
        const lastDelivered = new Map<string, number>(); // channel → last delivered acceptance order
        const lastFirstSent = new Map<string, number>(); // channel → last first-sent acceptance order
        const sent = new Set<number>();
        const messageIdOf = new Map<number, string>(); // a message keeps its messageId across attempts
        // A per-entry retryable failure of a batch's first message lets its batch-mates through first:
        // delivery order is only checked on channels that never had one (first-send order is checked everywhere).
        const entryRetried = new Set<string>();
        // A deferred tail returns to its queue whatever the queue holds: it may exceed the count by < BatchSize.
        const deferredOn = new Set<string>();

        const checkIds = (meta: number, statusId: string | undefined, messageId: string) => {
          const { requestId } = offered.get(meta)!;
          expect(messageId.length).toBeGreaterThanOrEqual(1);
          expect(messageId.length).toBeLessThanOrEqual(128);
          if (requestId === null) expect(statusId).toBeUndefined();
          else if (requestId === undefined) expect(statusId).toBe(messageId);
          else {
            expect(statusId).toBe(requestId); // the device's id, exactly
            if (requestId.length >= 1 && requestId.length <= 128) expect(messageId).toBe(requestId);
            else expect(messageId).not.toBe(requestId);
          }
          const known = messageIdOf.get(meta);
          if (known !== undefined) expect(messageId).toBe(known);
          messageIdOf.set(meta, messageId);
        };

        const record = (statuses: readonly StatusReport[]) => {
          for (const s of statuses) {
            const meta = s.meta as number;
            // exactly one status per message
            expect(settled.has(meta)).toBe(false);
            settled.set(meta, s);
            checkIds(meta, s.statusId, s.messageId);
            if (s.status === 'fail' && (s.reason === 'evicted' || s.reason === 'expired' || s.reason === 'duplicate_id')) {
              expect(accepted.has(meta)).toBe(true); // reports an accepted message, not the incoming one
            }
            if (s.status === 'fail' && s.reason === 'expired') expect(s.error).toMatch(/NotConnectedError|ThrottlingException|NothingSent/);
            if (s.status === 'success' && !entryRetried.has(s.channel)) {
              // per-channel order is preserved for what is delivered
              expect(meta).toBeGreaterThan(lastDelivered.get(s.channel) ?? -1);
              lastDelivered.set(s.channel, meta);
            }
          }
        };

        const check = () => {
          const stats = engine.stats();
          const stillHeld = stats.queuedMessages + stats.inFlightMessages;
          expect(stats.accepted).toBe(accepted.size);
          // accepted = succeeded + failed + queued + in flight
          expect(stats.accepted).toBe(stats.succeeded + stats.failed + stillHeld);
          const settledAccepted = [...settled.keys()].filter((m) => accepted.has(m)).length;
          expect(settledAccepted + stillHeld).toBe(accepted.size);
          expect(stats.inFlightMessages).toBe(inFlight.reduce((n, b) => n + b.messages.length, 0));
          // held bytes are exactly the payloads of the messages still held, and never exceed the budget
          let held = 0;
          for (const meta of accepted) if (!settled.has(meta)) held += offered.get(meta)!.size;
          expect(stats.heldBytes).toBe(held);
          expect(stats.heldBytes).toBeLessThanOrEqual(cfg.memorySizeBytes);
          // no channel count above the maximum
          expect(stats.activeChannels).toBeLessThanOrEqual(cfg.maxActiveChannels);
          for (const c of stats.channels) {
            const slack = deferredOn.has(c.channel) ? cfg.batchSizePerChannel - 1 : 0;
            expect(c.queuedMessages).toBeLessThanOrEqual(cfg.queueSizePerChannel + slack);
          }
        };

        for (const c of commands) {
          if (c.kind === 'offer') {
            const meta = serial++;
            const channel = `ch${c.channel}`;
            const requestId =
              c.id === 'none' ? undefined : c.id === 'binary' ? null : c.id === 'empty' ? '' : c.id === 'long' ? LONG_ID : `id${c.id}`;
            offered.set(meta, { channel, requestId, size: c.size });
            const result = engine.offer({ channel, payload: new Uint8Array(c.size), requestId, meta }, now);
            if (result.accepted) accepted.add(meta);
            record(result.statuses);
            if (!result.accepted) expect(result.statuses.map((s) => s.meta)).toEqual([meta]);
          } else if (c.kind === 'tick') {
            now += c.advanceMs;
            const { batches, statuses } = engine.tick(now, c.force);
            record(statuses);
            for (const b of batches) {
              expect(new Set(b.messages.map((m) => m.messageId)).size).toBe(b.messages.length); // unique per batch
              expect(b.messages.length).toBeLessThanOrEqual(cfg.batchSizePerChannel);
              expect(inFlight.some((f) => f.channel === b.channel)).toBe(false); // one in flight per channel
              if (c.force) expect(b.mayDefer).toBe(false); // never deferred at flush
              for (const m of b.messages) {
                const meta = m.meta as number;
                checkIds(meta, m.statusId, m.messageId);
                // per-channel order is preserved for what is sent: first sends follow acceptance order
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
            const outcome = outcomeFor(batch!, c.outcome, c.split);
            if (c.outcome === 'entryRetry' && batch!.messages.length > 1) entryRetried.add(batch!.channel);
            if (outcome.type === 'delivered' && (outcome.deferred ?? 0) > 0) deferredOn.add(batch!.channel);
            const before = engine.stats().deferred;
            record(engine.complete(batch!, outcome, now));
            if (outcome.type === 'delivered') expect(engine.stats().deferred - before).toBe(outcome.deferred ?? 0);
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
        for (const meta of accepted) expect(settled.has(meta)).toBe(true);
        expect(settled.size).toBe(serial);
      }),
      { numRuns: 1000 },
    );
  });
});
