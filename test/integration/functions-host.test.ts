/**
 * The three functions through the local Functions host: the IoT Hub emulator's Event Hubs endpoint read by
 * the real EventHubConsumerClient with blob checkpoints on Azurite, writing to the Cosmos DB server,
 * Azurite and the IoT Analytics emulator. Covers delivery, redelivery before a checkpoint, checkpoints,
 * the retry policy, and start-up validation.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import iotDevice from 'azure-iot-device';
import iotMqtt from 'azure-iot-device-mqtt';
import type { EventHubHandler } from '@azure/functions';
import { startIotHub } from '../../devstack/iothub/emulator.js';
import { ALL_FUNCTIONS, startFunctionsHost, FunctionsConfigError, HostSettingError } from '../../devstack/functions-host/index.js';
import type { FunctionsHost, FunctionsHostOptions } from '../../devstack/functions-host/index.js';
import { defineEventHubFunction } from '../../functions/registration.js';
import type { LatestDocument, ReadingDocument } from '../../functions/warmWriter.js';
import { envelopeBody, listBlobNames, queryAll, readColdBlob, startBackends, storedMessages, waitFor } from './functions-helpers.js';
import type { Backends } from './functions-helpers.js';

type Hub = Awaited<ReturnType<typeof startIotHub>>;

const DEVICES = ['dev-a', 'dev-b', 'dev-c'];
const EVENTS_PER_DEVICE = 10;
/** Every 5th event of a device is an edge envelope of 3 readings; the others are plain JSON readings. */
const READINGS_PER_DEVICE = EVENTS_PER_DEVICE + 2 * Math.ceil(EVENTS_PER_DEVICE / 5);
const EVENTS = DEVICES.length * EVENTS_PER_DEVICE;
const READINGS = DEVICES.length * READINGS_PER_DEVICE;
/** The counters last polled, for the timeout message. */
let lastSeen = '';

describe('local Functions host against the IoT Hub emulator and the real servers', () => {
  let backends: Backends;
  let hub: Hub;
  let settings: Record<string, string>;
  const hosts: FunctionsHost[] = [];
  const devices = new Map<string, iotDevice.Client>();

  const modules = new Map<string, iotDevice.ModuleClient>();
  /**
   * A real device client (MQTT over TLS, trusting the devstack CA) sends one telemetry message; envelopes
   * go from the device's `iot-ingest` module identity, as only a trusted module's are read as envelopes.
   */
  const send = async (deviceId: string, body: Buffer, properties: Record<string, string>): Promise<void> => {
    let client = devices.get(deviceId);
    if (!client) {
      const identity = await hub.registry.addDevice(deviceId);
      client = iotDevice.Client.fromConnectionString(identity.connectionString, iotMqtt.Mqtt);
      await client.setOptions({ ca: await readFile(hub.connection.caCertPath, 'utf8') });
      await client.open();
      client.on('error', () => undefined);
      devices.set(deviceId, client);
    }
    let sender: { sendEvent(m: iotDevice.Message): Promise<unknown> } = client;
    if (properties['iot-ingest-schema'] !== undefined) {
      let module = modules.get(deviceId);
      if (!module) {
        const identity = await hub.registry.addModule(deviceId, 'iot-ingest');
        module = iotDevice.ModuleClient.fromConnectionString(identity.connectionString, iotMqtt.Mqtt);
        await module.setOptions({ ca: await readFile(hub.connection.caCertPath, 'utf8') });
        await module.open();
        module.on('error', () => undefined);
        modules.set(deviceId, module);
      }
      sender = module;
    }
    const message = new iotDevice.Message(body);
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    for (const [key, value] of Object.entries(properties)) message.properties.add(key, value);
    await sender.sendEvent(message);
  };

  const start = async (extra: Partial<FunctionsHostOptions> = {}): Promise<FunctionsHost> => {
    const host = await startFunctionsHost({
      settings,
      hostSettings: { maxWaitTimeMs: 200, maxEventBatchSize: 16, minEventBatchSize: 4 },
      retryDelayMs: () => 50,
      ...extra,
    });
    hosts.push(host);
    return host;
  };

  beforeAll(async () => {
    backends = await startBackends(['iot_ingest_default', 'hums']);
    hub = await startIotHub({ dir: backends.dir, mqttPort: 0, amqpPort: 0 });
    settings = {
      ...backends.settings,
      IOTHUB_EVENTS: hub.connection.eventHubsConnectionString,
      IOTHUB_EVENTHUB_NAME: hub.connection.eventHubName,
    };
    const sendAll = async (deviceId: string): Promise<void> => {
      for (let i = 0; i < EVENTS_PER_DEVICE; i++) {
        const ts = new Date(Date.UTC(2026, 10, 23, 10, 0, i)).toISOString();
        if (i % 5 === 0) {
          await send(deviceId, envelopeBody('hums', [{ json: { i, k: 0, ts } }, { json: { i, k: 1, ts } }, { json: { i, k: 2, ts } }]), {
            'iot-ingest-schema': 'batch/v1',
            channel: 'hums',
          });
        } else {
          await send(deviceId, Buffer.from(JSON.stringify({ i, ts })), {});
        }
      }
    };
    await Promise.all(DEVICES.map(sendAll));
  });

  afterAll(async () => {
    await Promise.allSettled(hosts.map((h) => h.stop()));
    await Promise.allSettled([...devices.values(), ...modules.values()].map((c) => c.close()));
    await hub?.stop();
    await backends?.stop();
  });

  it('bad configuration: start-up fails with an error naming each bad setting', async () => {
    const { COSMOS_ENDPOINT: _omit, ...withoutCosmos } = settings;
    const error = await startFunctionsHost({ settings: { ...withoutCosmos, IotAnalyticsBatchSizePerChannel: '500' } }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(FunctionsConfigError);
    expect((error as FunctionsConfigError).issues.map((i) => i.setting)).toEqual(['COSMOS_ENDPOINT', 'IotAnalyticsBatchSizePerChannel']);
    expect((error as Error).message).toContain('COSMOS_ENDPOINT is required');
    const { AzureWebJobsStorage: _storage, ...withoutStorage } = settings;
    await expect(startFunctionsHost({ settings: withoutStorage })).rejects.toThrow(HostSettingError);
    await expect(startFunctionsHost({ settings: withoutStorage })).rejects.toThrow(/AzureWebJobsStorage/);
  });

  it('delivers every event to each function; a host stopped before checkpointing gets the same events again, and nothing is duplicated', async () => {
    // First run: everything is processed, nothing is checkpointed (a host killed before its checkpoint).
    const first = await start({ checkpoint: false });
    await waitFor(() => allDelivered(first, EVENTS), 30_000, () => `first delivery to every function (${lastSeen})`);
    await first.stop();
    const firstCounters = first.counters();
    expect(firstCounters).toMatchObject({ documents: READINGS, forwarded: READINGS, deadLettered: 0, errors: 0 });

    const container = backends.cosmosContainer();
    const docCount = async (): Promise<number> => (await queryAll<number>(container, "SELECT VALUE COUNT(1) FROM c WHERE c.type = 'reading'"))[0] ?? 0;
    expect(await docCount()).toBe(READINGS);
    const cold = backends.blobs('telemetry');
    const blobNames = await listBlobNames(cold);
    expect(blobNames.length).toBeGreaterThan(0);
    expect(blobNames.every((n) => /^year=\d{4}\/month=\d{2}\/day=\d{2}\/hour=\d{2}\/p\d+(-\d+)?\.jsonl\.gz$/.test(n))).toBe(true);
    const coldRecords = (await Promise.all(blobNames.map((n) => readColdBlob(cold, n)))).flatMap((b) => b.records);
    expect(new Set(coldRecords.map((r) => r.id)).size).toBe(READINGS);

    // Second run: the same events again (no checkpoint existed); ids make every write idempotent.
    const second = await start();
    await waitFor(() => allDelivered(second, EVENTS), 30_000, 'redelivery to every function');
    await second.stop();
    expect(second.counters()).toMatchObject({ documents: READINGS, forwarded: READINGS, deadLettered: 0, errors: 0 });
    expect(await docCount()).toBe(READINGS);
    expect(await listBlobNames(cold)).toEqual(blobNames);
    // IoT Analytics got each reading twice, under the same message id: recognisable duplicates.
    const stored = [...(await storedMessages(backends.iota, 'hums')), ...(await storedMessages(backends.iota, 'iot_ingest_default'))];
    expect(stored).toHaveLength(2 * READINGS);
    expect(new Set(stored.map((m) => m.messageId)).size).toBe(READINGS);

    // Third run: the second host checkpointed, so nothing is delivered again (no timers: the hot sweep's
    // every-10-s tick would count as an invocation).
    const third = await start({ timers: [] });
    await new Promise((r) => setTimeout(r, 2_000));
    await third.stop();
    expect(third.counters().invocations).toBe(0);
  });

  it('each document carries its device day partition key, the TTL, and the latest document holds the newest reading', async () => {
    const container = backends.cosmosContainer();
    const docs = await queryAll<ReadingDocument>(container, "SELECT * FROM c WHERE c.type = 'reading' AND c.deviceId = 'dev-b'");
    expect(docs).toHaveLength(READINGS_PER_DEVICE);
    expect(new Set(docs.map((d) => d.pk))).toEqual(new Set([`dev-b:${docs[0]?.enqueuedAt.slice(0, 10)}`]));
    expect(docs.every((d) => d.ttl === 3600)).toBe(true);
    const latest = (await container.item('latest:dev-b', 'latest:dev-b').read<LatestDocument>()).resource;
    expect(latest?.body).toEqual({ i: EVENTS_PER_DEVICE - 1, ts: new Date(Date.UTC(2026, 10, 23, 10, 0, EVENTS_PER_DEVICE - 1)).toISOString() });

    // An older reading arriving later does not move it.
    await send('dev-b', Buffer.from(JSON.stringify({ i: -1, ts: '2026-11-23T09:00:00.000Z' })), {});
    const host = await start();
    await waitFor(() => allDelivered(host, 1), 30_000, 'the late reading');
    await host.stop();
    const after = (await container.item('latest:dev-b', 'latest:dev-b').read<LatestDocument>()).resource;
    expect(after?.readingId).toBe(latest?.readingId);
    expect(await queryAll<ReadingDocument>(container, "SELECT * FROM c WHERE c.type = 'reading' AND c.deviceId = 'dev-b'")).toHaveLength(READINGS_PER_DEVICE + 1);
  });

  it("applies the function's retry policy: a failing batch is retried with retryContext, then checkpointed once it succeeds", async () => {
    let calls = 0;
    const seen: Array<{ retryCount: number | undefined; events: number }> = [];
    const flaky = defineEventHubFunction('flaky', 'warm', () => {
      const handler: EventHubHandler = async (messages, context) => {
        calls++;
        seen.push({ retryCount: context.retryContext?.retryCount, events: (messages as unknown[]).length });
        if (calls <= 2) throw new Error('transient failure');
      };
      return handler;
    });
    await send('dev-c', Buffer.from('{"i":100}'), {});
    const host = await start({ functions: [flaky] });
    await waitFor(() => calls >= 3, 30_000, 'three invocations of the flaky function');
    await new Promise((r) => setTimeout(r, 500));
    await host.stop();
    expect(seen).toEqual([
      { retryCount: undefined, events: 1 },
      { retryCount: 1, events: 1 },
      { retryCount: 2, events: 1 },
    ]);
    expect(host.counters()).toMatchObject({ invocations: 3, errors: 2, abandoned: 0 });

    const again = await start({ functions: [flaky] });
    await new Promise((r) => setTimeout(r, 1_500));
    await again.stop();
    expect(calls).toBe(3); // checkpointed after the successful retry: not delivered again
  });
});

/** Every event function the host runs (warm, cold, the forwarder and the hot path) got every event. */
function allDelivered(host: FunctionsHost, events: number): boolean {
  const delivered = host.counters().events;
  lastSeen = JSON.stringify(host.counters());
  return ALL_FUNCTIONS.every((fn) => (delivered[fn.name] ?? 0) >= events);
}
