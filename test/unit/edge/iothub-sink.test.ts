import { describe, expect, it } from 'vitest';
import { BatchingEngine } from '../../../batching/engine.js';
import { loadConnectorConfig } from '../../../batching/config.js';
import { Pump } from '../../../batching/pump.js';
import type { Batch, QueuedMessage, StatusReport } from '../../../batching/types.js';
import { IotHubSink } from '../../../edge-module/sinks/iothub/send.js';
import type { ModuleClientLike } from '../../../edge-module/sinks/iothub/send.js';

const msg = (i: number): QueuedMessage => ({
  messageId: `m${i}`,
  statusId: `m${i}`,
  channel: 'ch',
  payload: Buffer.from(JSON.stringify({ i, pad: 'z'.repeat(150) })),
  acceptedAt: 1,
  meta: { i, ordinal: i + 1 },
});

/** An in-process ModuleClient: records each envelope's message ids; `fail(n)` decides per call. */
function hub(fail: (call: number) => Error | undefined = () => undefined) {
  const sent: string[][] = [];
  let calls = 0;
  const client: ModuleClientLike = {
    async sendOutputEvent(_output, message) {
      const error = fail(++calls);
      if (error) throw error;
      const body = JSON.parse((message.data as Buffer).toString()) as { messages: { id: string }[] };
      sent.push(body.messages.map((m) => m.id));
      return {};
    },
  };
  return { client, sent };
}

const notConnected = () => Object.assign(new Error('not connected'), { name: 'NotConnectedError' });
const tooLarge = () => Object.assign(new Error('message too large'), { name: 'MessageTooLargeError' });

const batch = (count: number, mayDefer: boolean): Batch => ({
  seq: 1,
  channel: 'ch',
  messages: Array.from({ length: count }, (_, k) => msg(k)),
  mayDefer,
});

const sinkFor = (client: ModuleClientLike, targetBytes = 65536) =>
  new IotHubSink({ client, pack: { targetBytes, maxBytes: 262144, origin: '0123456789abcdef' }, now: Date.now });

describe('IoT Hub sink: the engine owns delivery', () => {
  it('when the batch may defer, the tail that would spill into a mostly empty 4 KB unit is handed back unsent', async () => {
    const { client, sent } = hub();
    const outcome = await sinkFor(client).send(batch(40, true));
    expect(sent).toHaveLength(1);
    const deferred = 40 - sent[0]!.length;
    expect(deferred).toBeGreaterThan(0);
    expect(outcome).toEqual({ type: 'delivered', failures: [], deferred });
    expect(sent[0]).toEqual(batch(40, true).messages.slice(0, 40 - deferred).map((m) => m.messageId));
  });

  it('when the batch may not defer (flush, shutdown, nothing queued behind), every message is sent', async () => {
    const { client, sent } = hub();
    const outcome = await sinkFor(client).send(batch(40, false));
    expect(sent.flat()).toHaveLength(40);
    expect(outcome).toEqual({ type: 'delivered', failures: [], deferred: 0 });
  });

  it('partial acknowledgement: envelope 1 acknowledged, envelope 2 failed: its messages and all later ones fail retryably', async () => {
    const { client, sent } = hub((call) => (call === 2 ? notConnected() : undefined));
    const outcome = await sinkFor(client, 4096).send(batch(60, false));
    expect(sent).toHaveLength(1);
    const acknowledged = sent[0]!.length;
    expect(outcome.type).toBe('delivered');
    if (outcome.type !== 'delivered') return;
    expect(outcome.failures.map((f) => f.messageId)).toEqual(batch(60, false).messages.slice(acknowledged).map((m) => m.messageId));
    expect(outcome.failures.every((f) => f.code === 'NotConnectedError' && f.retryable)).toBe(true);
  });

  it('a permanent hub error (MessageTooLargeError) fails its envelope for good; envelopes not attempted stay retryable', async () => {
    const { client } = hub((call) => (call === 1 ? tooLarge() : undefined));
    const outcome = await sinkFor(client, 4096).send(batch(60, false));
    if (outcome.type !== 'delivered') throw new Error('expected per-entry failures');
    const retryable = outcome.failures.map((f) => f.retryable);
    expect(retryable[0]).toBe(false);
    expect(retryable.at(-1)).toBe(true);
    expect(outcome.failures).toHaveLength(60);
  });

  it('through the engine: every message gets exactly one status, in order, and billing-deferred messages ride in the next envelope', async () => {
    const { client, sent } = hub((call) => (call === 3 ? notConnected() : undefined));
    const engine = new BatchingEngine({
      config: loadConnectorConfig({ MemorySize: '1024', PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '40' }),
      retry: { initialIntervalMs: 1, maxIntervalMs: 5 },
    });
    const statuses: StatusReport[] = [];
    const pump = new Pump({
      engine,
      sink: sinkFor(client),
      clock: { now: Date.now },
      timer: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
      onStatus: (s) => statuses.push(s),
    });
    for (let i = 0; i < 200; i++) pump.offer({ channel: 'ch', payload: msg(i).payload, requestId: `r${i}`, meta: { ordinal: i + 1 } });
    pump.start(); // running, not flushing: batches with more behind them may defer
    for (let waited = 0; statuses.length < 200 && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    await pump.stop();
    expect(statuses.map((s) => [s.statusId, s.status])).toEqual(Array.from({ length: 200 }, (_, i) => [`r${i}`, 'success']));
    // every reading reached the hub once: the failed envelope was resent, deferred tails went later
    expect(sent.flat().sort()).toEqual(Array.from({ length: 200 }, (_, i) => `r${i}`).sort());
    expect(engine.stats().deferred).toBeGreaterThan(0);
    expect(engine.stats().retried).toBeGreaterThan(0);
  });
});
