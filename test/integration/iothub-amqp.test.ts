/**
 * The IoT Hub emulator's Event Hubs-compatible endpoint against the real `@azure/event-hubs` clients:
 * log + endpoint started here on a random port with state in a temp dir.
 */
import { mkdtemp, rm, stat, truncate, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  earliestEventPosition,
  EventHubConsumerClient,
  EventHubProducerClient,
  latestEventPosition,
  type EventPosition,
  type ReceivedEventData,
  type Subscription,
} from '@azure/event-hubs';
import { openPartitionedLog } from '../../devstack/iothub/log/index.js';
import { startEventHubsEndpoint, type EventHubsEndpoint } from '../../devstack/iothub/amqp/index.js';
import { createSasToken } from '../../devstack/iothub/amqp/sas.js';
import type { HubEventInput, PartitionedLog } from '../../devstack/iothub/log-types.js';

const HUB = 'iot-hub-test';
const KEY_NAME = 'service';
const KEY = 'c2VjcmV0LWtleS1mb3ItdGVzdHM=';
const GROUPS = ['$Default', 'warm', 'cold', 'analytics'];
const PARTITIONS = 4;
const quiet = pino({ level: 'silent' });
const noRetry = { maxRetries: 0, timeoutInMs: 5000 };

interface Hub {
  dir: string;
  log: PartitionedLog;
  endpoint: EventHubsEndpoint;
}

async function startHub(dir: string, port = 0): Promise<Hub> {
  const log = await openPartitionedLog({ dir: path.join(dir, 'log'), partitionCount: PARTITIONS, logger: quiet });
  const endpoint = await startEventHubsEndpoint({
    log,
    host: '127.0.0.1',
    port,
    eventHubName: HUB,
    consumerGroups: GROUPS,
    sasKeyName: KEY_NAME,
    sasKey: KEY,
    logger: quiet,
  });
  return { dir, log, endpoint };
}

async function stopHub(hub: Hub): Promise<void> {
  await hub.endpoint.stop();
  await hub.log.close();
}

const closeables: { close(): Promise<void> }[] = [];
function track<T extends { close(): Promise<void> }>(client: T): T {
  closeables.push(client);
  return client;
}

/** Reads `count` events of one partition from `startPosition`, then stops. */
async function collect(
  consumer: EventHubConsumerClient,
  partitionId: string,
  startPosition: EventPosition,
  count: number,
  timeoutMs = 15_000,
): Promise<ReceivedEventData[]> {
  const events: ReceivedEventData[] = [];
  let subscription: Subscription | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${events.length} of ${count} events within ${timeoutMs} ms`)), timeoutMs);
      subscription = consumer.subscribe(
        partitionId,
        {
          processEvents: async (batch) => {
            events.push(...batch);
            if (events.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
          processError: async (error) => {
            clearTimeout(timer);
            reject(error);
          },
        },
        { startPosition, maxBatchSize: 50, maxWaitTimeInSeconds: 1 },
      );
    });
  } finally {
    await subscription?.close();
  }
  return events;
}

/** Whether nothing arrives on a partition from `startPosition` within `waitMs`. */
async function expectNothing(consumer: EventHubConsumerClient, partitionId: string, startPosition: EventPosition, waitMs = 1500): Promise<void> {
  const events: ReceivedEventData[] = [];
  const subscription = consumer.subscribe(
    partitionId,
    {
      processEvents: async (batch) => {
        events.push(...batch);
      },
      processError: async () => undefined,
    },
    { startPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 1 },
  );
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  await subscription.close();
  expect(events).toEqual([]);
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function telemetry(deviceId: string, n: number, moduleId?: string): HubEventInput {
  return {
    deviceId,
    ...(moduleId !== undefined ? { moduleId } : {}),
    body: Buffer.from(JSON.stringify({ deviceId, n, temp: 20 + n })),
    systemProperties: {
      messageId: `${deviceId}-${n}`,
      correlationId: `corr-${n}`,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
    },
    applicationProperties: { channel: 'telemetry', Seq: String(n) },
    partitionKey: deviceId,
    annotations: {
      'iothub-connection-auth-method': JSON.stringify({ scope: moduleId ? 'module' : 'device', type: 'sas', issuer: 'iothub', acceptingIpFilterRule: null }),
      'iothub-connection-auth-generation-id': '638000000000000001',
    },
    messageSource: 'Telemetry',
  };
}

describe('iothub amqp endpoint with the real @azure/event-hubs clients', () => {
  let dir: string;
  let hub: Hub;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-amqp-'));
    hub = await startHub(dir);
  });

  afterEach(async () => {
    for (const client of closeables.splice(0)) await client.close().catch(() => undefined);
  });

  afterAll(async () => {
    if (hub) await stopHub(hub);
    await rm(dir, { recursive: true, force: true });
  });

  function consumer(group = '$Default', connectionString = hub.endpoint.connectionString): EventHubConsumerClient {
    return track(new EventHubConsumerClient(group, connectionString, { retryOptions: noRetry }));
  }

  function producer(connectionString = hub.endpoint.connectionString): EventHubProducerClient {
    return track(new EventHubProducerClient(connectionString, { retryOptions: noRetry }));
  }

  it('publishes the documented connection string shape', () => {
    expect(hub.endpoint.connectionString).toBe(
      `Endpoint=sb://localhost:${hub.endpoint.port};SharedAccessKeyName=${KEY_NAME};SharedAccessKey=${KEY};EntityPath=${HUB};UseDevelopmentEmulator=true`,
    );
  });

  it('answers getEventHubProperties, getPartitionIds and getPartitionProperties', async () => {
    const client = consumer();
    const properties = await client.getEventHubProperties();
    expect(properties.name).toBe(HUB);
    expect(properties.partitionIds).toEqual(['0', '1', '2', '3']);
    expect(properties.createdOn).toBeInstanceOf(Date);
    expect(await client.getPartitionIds()).toEqual(['0', '1', '2', '3']);
    const before = await client.getPartitionProperties('3');
    await hub.log.append({ deviceId: 'props', body: Buffer.from('x'), systemProperties: {}, applicationProperties: {} }, 3);
    const after = await client.getPartitionProperties('3');
    expect(after).toMatchObject({
      eventHubName: HUB,
      partitionId: '3',
      isEmpty: false,
      lastEnqueuedSequenceNumber: before.lastEnqueuedSequenceNumber + 1,
    });
    expect(after.lastEnqueuedOffset).toMatch(/^\d+$/);
    expect(after.lastEnqueuedOnUtc).toBeInstanceOf(Date);
    await expect(client.getPartitionProperties('9')).rejects.toMatchObject({ code: 'ArgumentOutOfRangeError' });
  });

  it('delivers device telemetry with the IoT Hub annotations, properties and raw body', async () => {
    const device = 'thermostat-1';
    const p = hub.log.partitionFor(device);
    const start = hub.log.info(p).lastSequenceNumber;
    const stored = [];
    for (let n = 0; n < 3; n += 1) stored.push(await hub.log.append(telemetry(device, n)));
    stored.push(await hub.log.append(telemetry(device, 3, 'filter')));
    const events = await collect(consumer('$default'), String(p), { sequenceNumber: start }, 4);
    expect(events.map((e) => e.sequenceNumber)).toEqual(stored.map((e) => e.sequenceNumber));
    const [first] = events;
    expect(first?.body).toEqual({ deviceId: device, n: 0, temp: 20 });
    expect(first?.offset).toBe(stored[0]?.offset);
    expect(first?.enqueuedTimeUtc.getTime()).toBe(stored[0]?.enqueuedTimeUtc);
    expect(first?.partitionKey).toBe(device);
    expect(first?.messageId).toBe(`${device}-0`);
    expect(first?.correlationId).toBe('corr-0');
    expect(first?.contentType).toBe('application/json');
    expect(first?.properties).toEqual({ channel: 'telemetry', Seq: '0' });
    expect(first?.systemProperties).toMatchObject({
      'iothub-connection-device-id': device,
      'iothub-connection-auth-method': '{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
      'iothub-connection-auth-generation-id': '638000000000000001',
      'iothub-enqueuedtime': stored[0]?.enqueuedTimeUtc,
      'iothub-message-source': 'Telemetry',
      contentEncoding: 'utf-8',
    });
    expect(first?.systemProperties?.['iothub-connection-module-id']).toBeUndefined();
    expect(events[3]?.systemProperties?.['iothub-connection-module-id']).toBe('filter');
  });

  it('stores a producer batch to a partition and to the hub, and consumers read it back with its properties', async () => {
    const client = producer();
    const batch = await client.createBatch({ partitionId: '2' });
    for (let n = 0; n < 5; n += 1) {
      expect(batch.tryAdd({ body: { n }, properties: { n, kind: 'batch' }, contentType: 'application/json', messageId: `m-${n}` })).toBe(true);
    }
    const startSeq = hub.log.info(2).lastSequenceNumber;
    await client.sendBatch(batch);
    const events = await collect(consumer('warm'), '2', { sequenceNumber: startSeq }, 5);
    expect(events.map((e) => e.body)).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
    expect(events.map((e) => e.properties)).toEqual([0, 1, 2, 3, 4].map((n) => ({ n, kind: 'batch' })));
    expect(events.map((e) => e.messageId)).toEqual([0, 1, 2, 3, 4].map((n) => `m-${n}`));
    expect(events[0]?.contentType).toBe('application/json');
    expect(events[0]?.systemProperties?.['iothub-connection-device-id']).toBeUndefined();

    const keyed = await client.createBatch({ partitionKey: 'device-77' });
    keyed.tryAdd({ body: 'keyed-1' });
    keyed.tryAdd({ body: 'keyed-2' });
    const target = hub.log.partitionFor('device-77');
    const keyedStart = hub.log.info(target).lastSequenceNumber;
    await client.sendBatch(keyed);
    const keyedEvents = await collect(consumer('cold'), String(target), { sequenceNumber: keyedStart }, 2);
    expect(keyedEvents.map((e) => [e.body, e.partitionKey])).toEqual([
      ['keyed-1', 'device-77'],
      ['keyed-2', 'device-77'],
    ]);

    await client.sendBatch([{ body: 'plain-array' }]);
    const info = await Promise.all(['0', '1', '2', '3'].map((id) => client.getPartitionProperties(id)));
    expect(info.reduce((sum, p) => sum + p.lastEnqueuedSequenceNumber + 1, 0)).toBeGreaterThan(7);
  });

  it('refuses an oversize send with MessageTooLargeError', async () => {
    const client = producer();
    const batch = await client.createBatch();
    expect(batch.maxSizeInBytes).toBe(1024 * 1024);
    await expect(client.sendBatch([{ body: Buffer.alloc(1024 * 1024 + 10, 1) }])).rejects.toMatchObject({
      code: 'MessageTooLargeError',
    });
  });
  it('starts at earliest, latest, a sequence number (inclusive or not), an offset and an enqueued time', async () => {
    const device = 'positions-device';
    const p = hub.log.partitionFor(device);
    const id = String(p);
    const stored = [];
    for (let n = 0; n < 4; n += 1) {
      stored.push(await hub.log.append(telemetry(device, n)));
      await new Promise((resolve) => setTimeout(resolve, 3)); // distinct enqueued times
    }
    const [, second, third] = stored;
    if (!second || !third) throw new Error('setup');
    const client = consumer();
    const total = hub.log.info(p).lastSequenceNumber + 1;
    const all = await collect(client, id, earliestEventPosition, total);
    expect(all.map((e) => e.sequenceNumber)).toEqual(Array.from({ length: total }, (_, n) => n));
    const firstOf = async (position: EventPosition): Promise<number | undefined> =>
      (await collect(client, id, position, 1))[0]?.sequenceNumber;
    expect(await firstOf({ sequenceNumber: second.sequenceNumber, isInclusive: true })).toBe(second.sequenceNumber);
    expect(await firstOf({ sequenceNumber: second.sequenceNumber })).toBe(third.sequenceNumber);
    expect(await firstOf({ offset: second.offset })).toBe(third.sequenceNumber);
    expect(await firstOf({ offset: second.offset, isInclusive: true })).toBe(second.sequenceNumber);
    expect(await firstOf({ enqueuedOn: new Date(second.enqueuedTimeUtc) })).toBe(third.sequenceNumber);
    await expectNothing(client, id, latestEventPosition);

    // latest: only what is appended after the receiver attached. The first (empty) processEvents call
    // comes after maxWaitTimeInSeconds of an attached, idle link.
    const events: ReceivedEventData[] = [];
    let attached!: () => void;
    const linked = new Promise<void>((resolve) => (attached = resolve));
    const subscription = client.subscribe(
      id,
      {
        processEvents: async (batch) => {
          attached();
          events.push(...batch);
        },
        processError: async () => undefined,
      },
      { startPosition: latestEventPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 1 },
    );
    await linked;
    const fresh = await hub.log.append(telemetry(device, 99));
    await waitFor(() => events.length > 0, 'the event appended after the receiver attached');
    await subscription.close();
    expect(events.map((e) => e.sequenceNumber)).toEqual([fresh.sequenceNumber]);
  });

  it('refuses a wrong SAS key and an expired token with UnauthorizedError', async () => {
    const wrongKey = hub.endpoint.connectionString.replace(KEY, 'd3Jvbmcta2V5');
    await expect(consumer('$Default', wrongKey).getEventHubProperties()).rejects.toMatchObject({ code: 'UnauthorizedError' });
    const audience = `sb://localhost:${hub.endpoint.port}/${HUB}`;
    const expired = createSasToken(audience, KEY_NAME, KEY, Math.floor(Date.now() / 1000) - 60);
    const expiredString = `Endpoint=sb://localhost:${hub.endpoint.port};SharedAccessSignature=${expired};EntityPath=${HUB};UseDevelopmentEmulator=true`;
    await expect(consumer('$Default', expiredString).getPartitionIds()).rejects.toMatchObject({ code: 'UnauthorizedError' });
    await expect(producer(expiredString).sendBatch([{ body: 'x' }])).rejects.toMatchObject({ code: 'UnauthorizedError' });
    const valid = createSasToken(audience, KEY_NAME, KEY, Math.floor(Date.now() / 1000) + 600);
    const validString = `Endpoint=sb://localhost:${hub.endpoint.port};SharedAccessSignature=${valid};EntityPath=${HUB};UseDevelopmentEmulator=true`;
    expect(await consumer('$Default', validString).getPartitionIds()).toEqual(['0', '1', '2', '3']);
  });

  it('refuses an unknown consumer group with MessagingEntityNotFoundError', async () => {
    const client = consumer('no-such-group');
    await expect(collect(client, '0', earliestEventPosition, 1, 10_000)).rejects.toMatchObject({
      code: 'MessagingEntityNotFoundError',
    });
  });

  it('applies owner levels: a higher or equal epoch steals, a lower one and a non-epoch reader are refused', async () => {
    const errors = new Map<string, unknown[]>();
    const subscriptions: Subscription[] = [];
    // Resolves once the link is attached (the first, empty processEvents call) or refused (an error).
    const open = (name: string, ownerLevel: number | undefined): Promise<void> =>
      new Promise<void>((resolve) => {
        errors.set(name, []);
        subscriptions.push(
          consumer('analytics').subscribe(
            '1',
            {
              processEvents: async () => resolve(),
              processError: async (error) => {
                errors.get(name)?.push(error);
                resolve();
              },
            },
            { startPosition: latestEventPosition, maxWaitTimeInSeconds: 1, ...(ownerLevel !== undefined ? { ownerLevel } : {}) },
          ),
        );
      });
    const codesOf = (name: string): unknown[] => (errors.get(name) ?? []).map((e) => (e as { code?: string }).code);
    const disconnected = (name: string): Promise<void> =>
      waitFor(() => codesOf(name).includes('ReceiverDisconnectedError'), `${name} to be disconnected`);
    await open('epoch2', 2);
    expect(codesOf('epoch2')).toEqual([]);
    await open('epoch3', 3);
    await disconnected('epoch2');
    expect(codesOf('epoch3')).toEqual([]);
    await open('epoch1', 1);
    await disconnected('epoch1');
    await open('plain', undefined);
    await disconnected('plain');
    await open('epoch3-again', 3);
    await disconnected('epoch3');
    expect(codesOf('epoch3-again')).toEqual([]);
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
  });
});

describe('iothub amqp endpoint across restarts', () => {
  let dir: string;
  let hub: Hub | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-amqp-restart-'));
  });

  afterEach(async () => {
    for (const client of closeables.splice(0)) await client.close().catch(() => undefined);
  });

  afterAll(async () => {
    if (hub) await stopHub(hub);
    await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing acknowledged over a restart, continues numbering, and truncates a torn tail', async () => {
    hub = await startHub(dir);
    const sender = track(new EventHubProducerClient(hub.endpoint.connectionString, { retryOptions: noRetry }));
    for (let n = 0; n < 6; n += 1) await sender.sendBatch([{ body: { n } }], { partitionId: '0' });
    await sender.close();
    await stopHub(hub);
    hub = undefined;

    hub = await startHub(dir);
    const reader = track(new EventHubConsumerClient('$Default', hub.endpoint.connectionString, { retryOptions: noRetry }));
    const events = await collect(reader, '0', earliestEventPosition, 6);
    expect(events.map((e) => [e.sequenceNumber, e.body])).toEqual([0, 1, 2, 3, 4, 5].map((n) => [n, { n }]));
    const again = track(new EventHubProducerClient(hub.endpoint.connectionString, { retryOptions: noRetry }));
    await again.sendBatch([{ body: { n: 6 } }], { partitionId: '0' });
    expect((await reader.getPartitionProperties('0')).lastEnqueuedSequenceNumber).toBe(6);
    await again.close();
    await reader.close();
    await stopHub(hub);
    hub = undefined;

    // A crash in the middle of the last write: the newest record loses its end.
    const segmentDir = path.join(dir, 'log', 'p0');
    const [segment] = (await readdir(segmentDir)).sort().slice(-1);
    const file = path.join(segmentDir, segment as string);
    await truncate(file, (await stat(file)).size - 4);
    hub = await startHub(dir);
    const afterCrash = track(new EventHubConsumerClient('$Default', hub.endpoint.connectionString, { retryOptions: noRetry }));
    expect((await afterCrash.getPartitionProperties('0')).lastEnqueuedSequenceNumber).toBe(5);
    const producerAfterCrash = track(new EventHubProducerClient(hub.endpoint.connectionString, { retryOptions: noRetry }));
    await producerAfterCrash.sendBatch([{ body: { n: 'after-crash' } }], { partitionId: '0' });
    const all = await collect(afterCrash, '0', earliestEventPosition, 7);
    expect(all.map((e) => e.sequenceNumber)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(all.at(-1)?.body).toEqual({ n: 'after-crash' });
  });
});
