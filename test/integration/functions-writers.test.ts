/**
 * The three functions' handlers, called with the trigger's real argument/metadata shape and a real
 * InvocationContext, against the real servers: Azurite, the Cosmos DB server, the IoT Analytics emulator.
 * (functions-host.test.ts drives the same handlers through the local host and the IoT Hub emulator.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import azureFunctions from '@azure/functions';
import type { ReceivedEventData } from '@azure/event-hubs';
import { loadFunctionsConfig } from '../../functions/config.js';
import { createRuntime } from '../../functions/clients.js';
import type { Runtime } from '../../functions/clients.js';
import { createWarmPathHandler } from '../../functions/warmPath.js';
import { createColdPathHandler } from '../../functions/coldPath.js';
import { createAnalyticsForwarderHandler } from '../../functions/analyticsForwarder.js';
import { writeWarm } from '../../functions/warmWriter.js';
import type { LatestDocument, ReadingDocument } from '../../functions/warmWriter.js';
import type { ForwarderDeadLetter } from '../../functions/deadLetter.js';
import type { MalformedEvent, TelemetryRecord } from '../../functions/record.js';
import { toTriggerInput } from '../../devstack/functions-host/trigger-input.js';
import {
  envelopeBody,
  listBlobNames,
  queryAll,
  readColdBlob,
  readJsonBlob,
  receivedEvent,
  startBackends,
  storedMessages,
} from './functions-helpers.js';
import type { Backends } from './functions-helpers.js';

// CommonJS package: Node's ESM loader does not see `InvocationContext` as a named export.
const { InvocationContext } = azureFunctions;
type InvocationContext = InstanceType<typeof InvocationContext>;

const PARTITION = { fullyQualifiedNamespace: 'localhost', eventHubName: 'hub', consumerGroup: 'test', partitionId: '1' };

function invoke(handler: (m: unknown, c: InvocationContext) => unknown, events: ReceivedEventData[], invocationId = 'inv-1'): Promise<unknown> {
  const { messages, triggerMetadata } = toTriggerInput(events, PARTITION, 'binary');
  return Promise.resolve(handler(messages, new InvocationContext({ invocationId, functionName: 'test', triggerMetadata, logHandler: () => undefined })));
}

describe('functions against Azurite, the Cosmos DB server and the IoT Analytics emulator', () => {
  let backends: Backends;
  let runtime: Runtime;

  beforeAll(async () => {
    backends = await startBackends(['temps', 'hums']);
    runtime = createRuntime(loadFunctionsConfig({ ...backends.settings, IOTHUB_EVENTS: 'Endpoint=sb://localhost;EntityPath=hub' }));
  });

  afterAll(async () => {
    await runtime?.close();
    await backends?.stop();
  });

  // Events: an edge envelope of 3 readings (channel temps), a plain JSON message (channel property hums),
  // a binary message without channel (→ default temps), a malformed envelope.
  const t0 = new Date('2026-11-23T10:59:59.000Z');
  const t1 = new Date('2026-11-23T11:00:01.000Z');
  const plainText = '{ "humidity": 40,  "ts": "2026-11-23T10:59:00Z" }';
  const events = (): ReceivedEventData[] => [
    receivedEvent({
      body: envelopeBody('temps', [{ json: { t: 1, ts: '2026-11-23T10:59:50Z' }, requestId: 'r1' }, { json: { t: 2 } }, { base64: Buffer.from([1, 2, 3]).toString('base64') }]),
      sequenceNumber: 100,
      deviceId: 'edge-a',
      moduleId: 'iot-ingest',
      enqueuedTimeUtc: t0,
      properties: { channel: 'temps', 'iot-ingest-schema': 'batch/v1' },
    }),
    receivedEvent({ body: Buffer.from(plainText), sequenceNumber: 101, deviceId: 'dev-b', enqueuedTimeUtc: t0, properties: { channel: 'hums' } }),
    receivedEvent({ body: Buffer.from([0xde, 0xad, 0xbe, 0xef]), sequenceNumber: 102, deviceId: 'dev-c', enqueuedTimeUtc: t1 }),
    // From our module (only a trusted module's envelope is read as one, contracts §4).
    receivedEvent({ body: Buffer.from('{"v":1,"channel":"temps"'), sequenceNumber: 103, deviceId: 'dev-d', moduleId: 'iot-ingest', enqueuedTimeUtc: t1, properties: { 'iot-ingest-schema': 'batch/v1' } }),
  ];

  it('warmPath: one document per reading with pk, type and ttl; a replay writes no duplicates', async () => {
    const handler = createWarmPathHandler(runtime);
    await invoke(handler, events());
    await invoke(handler, events(), 'inv-replay');
    const docs = await queryAll<ReadingDocument>(backends.cosmosContainer(), "SELECT * FROM c WHERE c.type = 'reading' ORDER BY c.id");
    expect(docs.map((d) => d.id)).toEqual(['1-100-0', '1-100-1', '1-100-2', '1-101-0', '1-102-0']);
    const byId = new Map(docs.map((d) => [d.id, d]));
    expect(byId.get('1-100-0')).toMatchObject({ pk: 'edge-a:2026-11-23', ttl: 3600, deviceId: 'edge-a', moduleId: 'iot-ingest', channel: 'temps', requestId: 'r1', body: { t: 1, ts: '2026-11-23T10:59:50Z' }, ts: '2026-11-23T10:59:50.000Z' });
    expect(byId.get('1-100-2')).toMatchObject({ bodyBase64: 'AQID', index: 2 });
    expect(byId.get('1-101-0')).toMatchObject({ pk: 'dev-b:2026-11-23', channel: 'hums', body: { humidity: 40, ts: '2026-11-23T10:59:00Z' } });
    expect(byId.get('1-102-0')).toMatchObject({ channel: 'temps', bodyBase64: '3q2+7w==' });
    const latest = await queryAll<LatestDocument>(backends.cosmosContainer(), "SELECT * FROM c WHERE c.type = 'latest' ORDER BY c.id");
    expect(latest.map((d) => [d.id, d.pk, d.readingId])).toEqual([
      ['latest:dev-b', 'latest:dev-b', '1-101-0'],
      ['latest:dev-c', 'latest:dev-c', '1-102-0'],
      ['latest:edge-a', 'latest:edge-a', '1-100-2'], // same ts as 1-100-1 (enqueuedAt); later in the envelope
    ]);
  });

  it('warmPath: an older reading arriving later does not move latest, even when batches race', async () => {
    const container = runtime.cosmosContainer();
    const reading = (seq: number, ts: string): TelemetryRecord => ({
      id: `7-${seq}-0`,
      deviceId: 'racer',
      channel: 'temps',
      ts,
      enqueuedAt: '2026-11-23T12:00:00.000Z',
      partition: '7',
      sequenceNumber: seq,
      index: 0,
      properties: {},
      body: { seq },
    });
    await writeWarm(container, [reading(1, '2026-11-23T12:00:05Z')], { ttlSeconds: 60 });
    await writeWarm(container, [reading(2, '2026-11-23T12:00:01Z')], { ttlSeconds: 60 }); // older reading, later
    let latest = (await container.item('latest:racer', 'latest:racer').read<LatestDocument>()).resource;
    expect(latest?.readingId).toBe('7-1-0');
    // Ten concurrent batches, each with one reading; the newest must win whatever the interleaving.
    await Promise.all(Array.from({ length: 10 }, (_, i) => writeWarm(container, [reading(10 + i, `2026-11-23T12:01:${String(10 + i).padStart(2, '0')}Z`)], { ttlSeconds: 60 })));
    latest = (await container.item('latest:racer', 'latest:racer').read<LatestDocument>()).resource;
    expect(latest?.readingId).toBe('7-19-0');
    expect(latest?.body).toEqual({ seq: 19 });
  });

  it('warmPath: a batch that cannot be written makes the invocation fail, so the host replays it', async () => {
    const broken = createRuntime(
      loadFunctionsConfig({ ...backends.settings, IOTHUB_EVENTS: 'Endpoint=sb://localhost;EntityPath=hub', COSMOS_CONTAINER: 'no-such-container' }),
    );
    try {
      await expect(invoke(createWarmPathHandler(broken), events().slice(0, 2), 'inv-broken')).rejects.toThrow();
      expect(broken.counters.documents).toBe(0);
    } finally {
      await broken.close();
    }
  });

  it('coldPath: one gzip JSON Lines object per hour and partition; a replay appends nothing', async () => {
    const handler = createColdPathHandler(runtime);
    await invoke(handler, events());
    const cold = backends.blobs('telemetry');
    const names = await listBlobNames(cold);
    expect(names).toEqual(['year=2026/month=11/day=23/hour=10/p1.jsonl.gz', 'year=2026/month=11/day=23/hour=11/p1.jsonl.gz']);
    const first = await readColdBlob(cold, names[0] as string);
    expect(first.contentType).toBe('application/x-ndjson');
    expect(first.contentEncoding).toBe('gzip');
    expect(first.records.map((r) => r.id)).toEqual(['1-100-0', '1-100-1', '1-100-2', '1-101-0']);
    expect(first.records[3]).toMatchObject({ deviceId: 'dev-b', enqueuedAt: '2026-11-23T10:59:59.000Z', body: { humidity: 40 } });
    // A replay through a fresh runtime (another host: nothing remembered) is recognised from the block ids.
    const other = createRuntime(runtime.config);
    await invoke(createColdPathHandler(other), events(), 'inv-replay');
    await other.close();
    expect(await listBlobNames(cold)).toEqual(names);
    expect((await readColdBlob(cold, names[0] as string)).records).toEqual(first.records);
    expect(other.counters.coldAlreadyStored).toBe(5); // every reading of the replay was already stored
  });

  it('a malformed envelope is dead-lettered with its position while the rest of the batch is written', async () => {
    const dead = backends.blobs('analytics-deadletter');
    const names = await listBlobNames(dead, 'malformed/');
    expect(names).toEqual(['malformed/p1-103.json']);
    const letter = await readJsonBlob<{ items: MalformedEvent[] }>(dead, 'malformed/p1-103.json');
    expect(letter.items).toEqual([
      expect.objectContaining({ partition: '1', sequenceNumber: 103, offset: '103000', deviceId: 'dev-d', reason: 'envelope body is not JSON' }),
    ]);
    expect(runtime.counters.malformed).toBeGreaterThanOrEqual(1);
  });

  it("analyticsForwarder: each reading's original bytes reach its channel; ids are the record ids", async () => {
    const handler = createAnalyticsForwarderHandler(runtime);
    await invoke(handler, events());
    const temps = await storedMessages(backends.iota, 'temps');
    const hums = await storedMessages(backends.iota, 'hums');
    const decoded = (m: { payload: string }): string => Buffer.from(m.payload, 'base64').toString('latin1');
    expect(temps.map((m) => m.messageId)).toEqual(['1-100-0', '1-100-1', '1-100-2', '1-102-0']);
    expect(temps.map(decoded)).toEqual(['{"t":1,"ts":"2026-11-23T10:59:50Z"}', '{"t":2}', '\x01\x02\x03', '\xde\xad\xbe\xef']);
    expect(hums.map(decoded)).toEqual([plainText]); // the device's exact bytes, whitespace included
    expect(backends.iota.stats().batchPutCallsByChannel).toEqual({ temps: 1, hums: 1 });
  });

  it('analyticsForwarder: with 30 % throttling every reading is still delivered', async () => {
    backends.iota.setFaults({ throttleRate: 0.3 });
    backends.iota.resetStats();
    try {
      const handler = createAnalyticsForwarderHandler(runtime);
      const many = Array.from({ length: 40 }, (_, i) =>
        receivedEvent({
          body: envelopeBody('hums', Array.from({ length: 10 }, (_, j) => ({ json: { i, j } }))),
          sequenceNumber: 1000 + i,
          deviceId: `dev-${i % 4}`,
          moduleId: 'iot-ingest',
          enqueuedTimeUtc: t1,
          properties: { 'iot-ingest-schema': 'batch/v1' },
        }),
      );
      const before = runtime.counters.deadLettered;
      const forwardedBefore = runtime.counters.forwarded;
      await invoke(handler, many, 'inv-throttled');
      const stored = (await storedMessages(backends.iota, 'hums')).filter((m) => m.messageId.startsWith('1-10') && m.messageId.split('-')[1]!.length === 4);
      expect(new Set(stored.map((m) => m.messageId)).size).toBe(400);
      expect(runtime.counters.forwarded - forwardedBefore).toBe(400);
      expect(runtime.counters.deadLettered).toBe(before);
      expect(backends.iota.stats().byStatus['429']).toBeGreaterThan(0);
    } finally {
      backends.iota.setFaults({});
    }
  });

  it('analyticsForwarder: a missing channel is dead-lettered with its error and payload, and counted', async () => {
    const handler = createAnalyticsForwarderHandler(runtime);
    const before = runtime.counters.deadLettered;
    await invoke(
      handler,
      [
        receivedEvent({ body: Buffer.from('{"x":1}'), sequenceNumber: 5000, deviceId: 'dev-x', enqueuedTimeUtc: t1, properties: { channel: 'no_such_channel' } }),
        receivedEvent({ body: Buffer.from('{"x":2}'), sequenceNumber: 5001, deviceId: 'dev-x', enqueuedTimeUtc: t1, properties: { channel: 'temps' } }),
      ],
      'inv-missing',
    );
    expect(runtime.counters.deadLettered - before).toBe(1);
    const dead = backends.blobs('analytics-deadletter');
    const names = await listBlobNames(dead, 'forwarder/');
    expect(names).toEqual(['forwarder/p1-5000-5001-inv-missing.json']);
    const letter = await readJsonBlob<ForwarderDeadLetter>(dead, names[0] as string);
    expect(letter).toMatchObject({ function: 'analyticsForwarder', invocationId: 'inv-missing', partition: '1', firstSequenceNumber: 5000, lastSequenceNumber: 5001 });
    expect(letter.messages).toEqual([
      expect.objectContaining({ messageId: '1-5000-0', channel: 'no_such_channel', deviceId: 'dev-x', error: 'ResourceNotFoundException', payloadBase64: Buffer.from('{"x":1}').toString('base64') }),
    ]);
    expect(letter.messages[0]?.errorMessage).toMatch(/could not be found/);
    expect((await storedMessages(backends.iota, 'temps')).some((m) => m.messageId === '1-5001-0')).toBe(true);
  });
});
