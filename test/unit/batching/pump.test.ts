import { describe, expect, it } from 'vitest';
import { Pump } from '../../../batching/pump.js';
import type { Clock, Timer } from '../../../batching/pump.js';
import type { Batch, BatchOutcome, Sink, StatusReport } from '../../../batching/types.js';
import { bytes, engine } from './helpers.js';

/** A scripted clock and timer: `advance(ms)` fires due timers in order. */
class ManualTime implements Clock, Timer {
  private current = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 0;
  now(): number {
    return this.current;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.current + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      await settle();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.current = next.at;
      next.fn();
    }
    this.current = end;
    await settle();
  }
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

class RecordingSink implements Sink {
  readonly batches: Batch[] = [];
  constructor(private readonly answer: (batch: Batch, attempt: number) => BatchOutcome | Promise<BatchOutcome>) {}
  async send(batch: Batch): Promise<BatchOutcome> {
    this.batches.push(batch);
    return this.answer(batch, this.batches.length);
  }
}

function setup(
  values: Record<string, string>,
  answer: (batch: Batch, attempt: number) => BatchOutcome | Promise<BatchOutcome>,
) {
  const time = new ManualTime();
  const sink = new RecordingSink(answer);
  const statuses: StatusReport[] = [];
  const e = engine(values);
  const pump = new Pump({ engine: e, sink, clock: time, timer: time, onStatus: (s) => statuses.push(s) });
  return { time, sink, statuses, pump, engine: e };
}

const ok: BatchOutcome = { type: 'delivered', failures: [] };

describe('pump', () => {
  it('publishes once per PublishInterval and reports a status per message', async () => {
    const { time, sink, statuses, pump } = setup(
      { PublishInterval: '1', IotAnalyticsBatchSizePerChannel: '2' },
      () => ok,
    );
    pump.start();
    for (let i = 0; i < 5; i++) pump.offer({ channel: 'a', payload: bytes(`${i}`), requestId: `m${i}` });
    await time.advance(0);
    expect(sink.batches.map((b) => b.messages.length)).toEqual([2]);
    await time.advance(999);
    expect(sink.batches).toHaveLength(1);
    await time.advance(1);
    expect(sink.batches).toHaveLength(2);
    await time.advance(1000);
    expect(statuses.map((s) => s.statusId)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await pump.stop();
  });

  it('refusals are reported at once through onStatus', () => {
    const { statuses, pump } = setup({ IotAnalyticsQueueSizePerChannel: '1' }, () => ok);
    pump.offer({ channel: 'a', payload: bytes('1'), requestId: 'kept' });
    pump.offer({ channel: 'a', payload: bytes('2'), requestId: 'refused' });
    expect(statuses.map((s) => [s.statusId, s.status])).toEqual([['refused', 'fail']]);
  });

  it('a sink that throws is a retryable failure: nothing is lost, the batch is retried', async () => {
    const { time, sink, statuses, pump } = setup({ PublishInterval: '0' }, (_b, attempt) => {
      if (attempt === 1) throw new Error('socket hang up');
      return ok;
    });
    pump.start();
    pump.offer({ channel: 'a', payload: bytes('1'), requestId: 'x' });
    await time.advance(0);
    expect(statuses).toHaveLength(0);
    await time.advance(1000);
    expect(sink.batches).toHaveLength(2);
    expect(statuses.map((s) => s.status)).toEqual(['success']);
  });

  it('flush sends everything queued ignoring PublishInterval, until idle', async () => {
    const {
      time,
      sink,
      statuses,
      pump,
      engine: e,
    } = setup({ PublishInterval: '3600', IotAnalyticsBatchSizePerChannel: '1' }, () => ok);
    for (let i = 0; i < 3; i++) pump.offer({ channel: 'a', payload: bytes('x'), requestId: `m${i}` });
    const flushed = pump.flush(time.now() + 10_000);
    await time.advance(0);
    await flushed;
    expect(sink.batches).toHaveLength(3);
    expect(statuses).toHaveLength(3);
    expect(e.idle).toBe(true);
  });

  it('flush stops at the deadline and leaves the rest queued', async () => {
    const {
      time,
      pump,
      engine: e,
    } = setup({ PublishInterval: '0' }, () => ({
      type: 'failed',
      failure: { code: 'ThrottlingException', message: 'slow down', retryable: true },
    }));
    pump.offer({ channel: 'a', payload: bytes('x'), requestId: 'm' });
    const flushed = pump.flush(time.now() + 5000);
    await time.advance(6000);
    await flushed;
    expect(e.stats().queuedMessages).toBe(1);
    expect(e.stats().retried).toBeGreaterThan(1);
  });

  it('stop waits for the batches in flight', async () => {
    let release: (o: BatchOutcome) => void = () => undefined;
    const { time, statuses, pump } = setup(
      { PublishInterval: '0' },
      () => new Promise<BatchOutcome>((r) => (release = r)),
    );
    pump.start();
    pump.offer({ channel: 'a', payload: bytes('x'), requestId: 'm' });
    await time.advance(0);
    const stopped = pump.stop();
    release(ok);
    await stopped;
    expect(statuses.map((s) => s.status)).toEqual(['success']);
  });

  it('waitForRoom (backpressure) resolves once a settled batch frees room, instead of the offer being dropped', async () => {
    let release: (o: BatchOutcome) => void = () => undefined;
    const { time, statuses, pump, engine: e } = setup(
      { PublishInterval: '0', IotAnalyticsQueueSizePerChannel: '1', IotAnalyticsBatchSizePerChannel: '1' },
      () => new Promise<BatchOutcome>((r) => (release = r)),
    );
    pump.start();
    pump.offer({ channel: 'a', payload: bytes('1'), requestId: 'm1' });
    await time.advance(0); // m1 in flight
    pump.offer({ channel: 'a', payload: bytes('2'), requestId: 'm2' }); // queued: the queue is full
    expect(e.hasRoom('a', 1)).toBe(false);
    let room: boolean | undefined;
    void pump.waitForRoom('a', 1, time.now() + 10_000).then((r) => (room = r));
    await time.advance(0);
    expect(room).toBeUndefined();
    release(ok); // m1 settles, m2 goes out: the queue has room again
    await time.advance(0);
    expect(room).toBe(true);
    expect(statuses.map((s) => s.statusId)).toEqual(['m1']);
    release(ok); // m2
    await pump.stop();
    expect(statuses.map((s) => s.statusId)).toEqual(['m1', 'm2']);
  });

  it('waitForRoom gives up at the deadline, and at once when waiting cannot help', async () => {
    const { time, pump } = setup({ PublishInterval: '0', IotAnalyticsQueueSizePerChannel: '1', MemorySize: '1' }, () => ({
      type: 'failed',
      failure: { code: 'ThrottlingException', message: 'slow down', retryable: true },
    }));
    pump.start();
    pump.offer({ channel: 'a', payload: bytes('1') });
    await time.advance(0);
    pump.offer({ channel: 'a', payload: bytes('2') });
    const waited = pump.waitForRoom('a', 1, time.now() + 500);
    await time.advance(600);
    expect(await waited).toBe(false);
    expect(await pump.waitForRoom('a', 2048, time.now() + 500)).toBe(false); // over MemorySize: never fits
    expect(await pump.waitForRoom('bad/channel', 1, time.now() + 500)).toBe(false);
    await pump.stop();
  });
});

