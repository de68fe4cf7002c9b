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
});
