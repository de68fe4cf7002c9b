import { describe, expect, it } from 'vitest';
import type { Batch, QueuedMessage, StatusReport } from '../../../batching/types.js';
import { IotHubSink } from '../../../edge-module/sinks/iothub/send.js';

const msg = (i: number): QueuedMessage => ({
  id: `m${i}`,
  channel: 'ch',
  payload: Buffer.from(JSON.stringify({ i, pad: 'z'.repeat(150) })),
  correlate: true,
  acceptedAt: 1,
  meta: { i },
});

function setup(options: { queuedBehind?: number; failFirst?: number; lingerMs?: number } = {}) {
  const sent: { ids: string[]; size: number }[] = [];
  const statuses: StatusReport[] = [];
  let failures = options.failFirst ?? 0;
  const sink = new IotHubSink({
    client: {
      async sendOutputEvent(_output, message) {
        if (failures > 0) {
          failures -= 1;
          throw Object.assign(new Error('not connected'), { name: 'NotConnectedError' });
        }
        const body = JSON.parse((message.data as Buffer).toString()) as { messages: { id: string }[] };
        sent.push({ ids: body.messages.map((m) => m.id), size: (message.data as Buffer).length });
        return {};
      },
    },
    pack: { targetBytes: 65536, maxBytes: 262144 },
    queuedBehind: () => options.queuedBehind ?? 1,
    emitStatus: (r) => statuses.push(r),
    lingerMs: options.lingerMs ?? 20,
    now: Date.now,
  });
  return { sink, sent, statuses };
}

const batch = (seq: number, from: number, count: number): Batch => ({ seq, channel: 'ch', messages: Array.from({ length: count }, (_, k) => msg(from + k)) });

describe('IoT Hub sink packing across batches', () => {
  it('holds back the tail of a batch, sends it first in the next envelope, and releases its statuses only then', async () => {
    const { sink, sent, statuses } = setup();
    const outcome = await sink.send(batch(1, 0, 40));
    expect(outcome).toEqual({ type: 'delivered', failures: [] });
    const carried = 40 - (sent[0]?.ids.length ?? 0);
    expect(carried).toBeGreaterThan(0);
    const held = batch(1, 0, 40).messages.filter((m) => !sent[0]?.ids.includes(m.id));
    expect(sink.carriedMessages()).toBe(carried);
    expect(statuses).toEqual([]);
    expect(held.length).toBe(carried);
    await sink.send(batch(2, 40, 40));
    expect(sent[1]?.ids.slice(0, carried)).toEqual(held.map((m) => m.id));
    expect(statuses.map((s) => [s.status, s.messageId])).toEqual(held.map((m) => ['success', m.id]));
  });

  it('a carry with nothing behind it is sent alone after the linger time', async () => {
    const { sink, sent, statuses } = setup({ lingerMs: 10 });
    await sink.send(batch(1, 0, 40));
    const carried = sink.carriedMessages();
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.carriedMessages()).toBe(0);
    expect(sent).toHaveLength(2);
    expect(statuses).toHaveLength(carried);
  });

  it('the engine success status of a carried message is swallowed until it is really sent', async () => {
    const { sink, sent } = setup({ lingerMs: 10_000 });
    const first = batch(1, 0, 40);
    await sink.send(first);
    const carriedMessage = first.messages[first.messages.length - 1] as QueuedMessage;
    expect(sent[0]?.ids).not.toContain(carriedMessage.id);
    expect(sink.holdsStatus({ status: 'success', id: carriedMessage.id, messageId: carriedMessage.id, channel: 'ch', meta: carriedMessage.meta })).toBe(true);
    const sentMessage = first.messages[0] as QueuedMessage;
    expect(sink.holdsStatus({ status: 'success', id: sentMessage.id, messageId: sentMessage.id, channel: 'ch', meta: sentMessage.meta })).toBe(false);
    await sink.close(Date.now() + 1000);
    expect(sink.carriedMessages()).toBe(0);
  });

  it('a failed send returns retryable entry failures for the batch and keeps nothing half-sent', async () => {
    const { sink, statuses } = setup({ failFirst: 1, queuedBehind: 0 });
    const outcome = await sink.send(batch(1, 0, 5));
    expect(outcome.type).toBe('delivered');
    if (outcome.type !== 'delivered') return;
    expect(outcome.failures.map((f) => [f.messageId, f.code, f.retryable])).toEqual(Array.from({ length: 5 }, (_, i) => [`m${i}`, 'NotConnectedError', true]));
    expect(statuses).toEqual([]);
  });

  it('without anything queued behind, a batch is sent whole (no carry)', async () => {
    const { sink, sent } = setup({ queuedBehind: 0 });
    await sink.send(batch(1, 0, 40));
    expect(sent[0]?.ids).toHaveLength(40);
    expect(sink.carriedMessages()).toBe(0);
  });
});
