/**
 * The module against the IoT Hub emulator through the devstack entry (identity registration,
 * ModuleClient.fromEnvironment over MQTT/TLS): batch envelopes are read back with a real
 * EventHubConsumerClient, the twin changes the batch size live, edgeHub inputs are answered on output
 * `status`, and a hub outage loses nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import type { ReceivedEventData, Subscription } from '@azure/event-hubs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge } from '../../devstack/edge/index.js';
import type { RunningEdge } from '../../devstack/edge/index.js';
import { startIotHub } from '../../devstack/iothub/emulator.js';
import type { IotHub } from '../../devstack/iothub/emulator.js';
import { connectDevice } from './edge-helpers.js';

interface Envelope {
  v: number;
  channel: string;
  devices?: string[];
  messages: { n: number; id: string; requestId?: string; acceptedAt: number; d?: number; json?: unknown; jsonText?: string; base64?: string }[];
}

let dir: string;
let hub: IotHub;
let edge: RunningEdge;
let consumer: EventHubConsumerClient;
let subscription: Subscription;
const events: ReceivedEventData[] = [];
const silent = pino({ level: 'silent' });

const envelopes = (channel: string): Envelope[] =>
  events.filter((e) => e.properties?.['iot-ingest-schema'] === 'batch/v2' && e.properties?.channel === channel).map((e) => e.body as Envelope);
const statusEvents = () => events.filter((e) => e.properties?.['iot-ingest-schema'] === undefined && (e.body as { response?: unknown })?.response !== undefined);

async function until(check: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edge-hub-'));
  hub = await startIotHub({ dir, mqttPort: 0, amqpPort: 0, logger: silent });
  edge = await startEdge({
    dir,
    hub: hub.connection,
    persistence: false,
    settings: { PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '10', IotAnalyticsDefaultChannelName: 'hub_default', LOG_LEVEL: 'silent', SHUTDOWN_DEADLINE_SECONDS: '2' },
    log: silent,
  });
  consumer = new EventHubConsumerClient('$Default', hub.connection.eventHubsConnectionString);
  subscription = consumer.subscribe(
    {
      processEvents: async (batch) => {
        events.push(...batch);
      },
      processError: async () => undefined,
    },
    { startPosition: earliestEventPosition, maxBatchSize: 200, maxWaitTimeInSeconds: 1 },
  );
});

afterAll(async () => {
  await subscription?.close();
  await consumer?.close();
  await edge?.stop();
  await hub?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('edge → IoT Hub', () => {
  it('each batch arrives as one envelope (contracts §4) with the readings in order, and every device gets success', async () => {
    const device = await connectDevice(edge.connection.mqttUrl);
    for (let i = 0; i < 25; i++) {
      await device.client.publishAsync('iotanalytics/channels/telemetry/messages/put', JSON.stringify({ request: { message: JSON.stringify({ i, t: 20.5 }) }, id: `t${i}` }), { qos: 1 });
    }
    await device.client.publishAsync('iotanalytics/channels/telemetry/messages/binary/put', Buffer.from([1, 2, 3]), { qos: 1 });
    const statuses = await device.waitFor(26);
    expect(statuses.slice(0, 25)).toEqual(Array.from({ length: 25 }, (_, i) => `{"response":{"status":"success"},"id":"t${i}"}`));
    expect(statuses[25]).toBe('{"response":{"status":"success"}}');
    await until(() => envelopes('telemetry').flatMap((e) => e.messages).length >= 26, 30_000, 'envelopes');
    const event = events.find((e) => e.properties?.channel === 'telemetry');
    expect(event?.contentType).toBe('application/json');
    expect(event?.systemProperties?.contentEncoding).toBe('utf-8');
    const all = envelopes('telemetry');
    for (const e of all) {
      expect(e.v).toBe(2);
      expect(e.channel).toBe('telemetry');
      expect(e.messages.length).toBeLessThanOrEqual(10);
    }
    const messages = all.flatMap((e) => e.messages);
    expect(messages.slice(0, 25).map((m) => [m.id, m.requestId, m.json])).toEqual(Array.from({ length: 25 }, (_, i) => [`t${i}`, `t${i}`, { i, t: 20.5 }]));
    expect(messages[25]).toMatchObject({ base64: 'AQID' });
    expect(messages[25]?.requestId).toBeUndefined();
    // Each reading names its publisher (contracts §4): the device's MQTT client id, once per envelope.
    for (const e of all) expect(e.messages.map((m) => (m.d === undefined ? undefined : e.devices?.[m.d]))).toEqual(e.messages.map(() => device.client.options.clientId));
    await device.client.endAsync();
  });

  it('a twin update changes the batch size live; an invalid one is refused, reported, and the old value kept', async () => {
    const { deviceId, moduleId } = edge.connection;
    await hub.updateDesired(deviceId, moduleId, { IotAnalyticsBatchSizePerChannel: 3 });
    await until(() => hub.getTwin(deviceId, moduleId).reported.IotAnalyticsBatchSizePerChannel === '3', 10_000, 'reported batch size 3');
    expect(edge.module.engine.currentConfig.batchSizePerChannel).toBe(3);
    const device = await connectDevice(edge.connection.mqttUrl);
    await Promise.all(Array.from({ length: 12 }, (_, i) => device.client.publishAsync('iotanalytics/channels/resized/messages/put', JSON.stringify({ request: { message: `{"n":${i}}` }, id: `s${i}` }), { qos: 1 })));
    await device.waitFor(12);
    await until(() => envelopes('resized').flatMap((e) => e.messages).length >= 12, 30_000, 'resized envelopes');
    expect(Math.max(...envelopes('resized').map((e) => e.messages.length))).toBeLessThanOrEqual(3);

    await hub.updateDesired(deviceId, moduleId, { IotAnalyticsBatchSizePerChannel: 0 });
    await until(() => hub.getTwin(deviceId, moduleId).reported.refused !== undefined && hub.getTwin(deviceId, moduleId).reported.refused !== null, 10_000, 'refusal reported');
    const reported = hub.getTwin(deviceId, moduleId).reported as unknown as Record<string, unknown> & { refused: Record<string, { value: string; reason: string }> };
    expect(reported.IotAnalyticsBatchSizePerChannel).toBe('3');
    expect(reported.refused.IotAnalyticsBatchSizePerChannel?.reason).toMatch(/IotAnalyticsBatchSizePerChannel: '0' does not match/);
    expect(edge.module.engine.currentConfig.batchSizePerChannel).toBe(3);
    await hub.updateDesired(deviceId, moduleId, { IotAnalyticsBatchSizePerChannel: 10 });
    await until(() => hub.getTwin(deviceId, moduleId).reported.IotAnalyticsBatchSizePerChannel === '10', 10_000, 'batch size back to 10');
    await device.client.endAsync();
  });

  it('edgeHub inputs: put (channel property), binary and any other input are queued, and answered on output status', async () => {
    const { deviceId, moduleId } = edge.connection;
    // Inputs are subscribed asynchronously and the emulator does not keep messages for an unsubscribed input.
    const probed = () => statusEvents().some((e) => (e.body as { id?: string }).id === 'probe');
    for (let i = 0; i < 100 && !probed(); i++) {
      await hub.sendToModuleInput(deviceId, moduleId, 'put', '{"request":{"message":"{}"},"id":"probe"}', { channel: 'probe' });
      await new Promise((r) => setTimeout(r, 300));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const before = statusEvents().length;
    await hub.sendToModuleInput(deviceId, moduleId, 'put', '{"request":{"message":"{\\"temp\\":23.33}"},"id":"req123"}', { channel: 'from_module' });
    await hub.sendToModuleInput(deviceId, moduleId, 'binary', Buffer.from('raw'), { channel: 'from_module' });
    await hub.sendToModuleInput(deviceId, moduleId, 'anything', Buffer.from('dflt'));
    await hub.sendToModuleInput(deviceId, moduleId, 'put', '{"request":{}}', { channel: 'from_module' });
    await until(() => statusEvents().length >= before + 4, 30_000, 'status outputs');
    const statuses = statusEvents().slice(before).map((e) => JSON.stringify(e.body));
    expect(statuses).toContain('{"response":{"status":"success"},"id":"req123"}');
    expect(statuses.filter((s) => s === '{"response":{"status":"success"}}')).toHaveLength(2);
    expect(statuses.some((s) => s.includes('"error":"InvalidRequestException"'))).toBe(true);
    await until(() => envelopes('hub_default').length > 0 && envelopes('from_module').flatMap((e) => e.messages).length >= 2, 30_000, 'input envelopes');
    expect(envelopes('from_module').flatMap((e) => e.messages).map((m) => m.json ?? m.base64)).toEqual([{ temp: 23.33 }, Buffer.from('raw').toString('base64')]);
  });

  it('hub stopped for a while, then back: everything queued meanwhile is delivered, in order, none lost', async () => {
    const device = await connectDevice(edge.connection.mqttUrl);
    const { mqttPort, amqpPort } = hub.connection;
    await subscription.close();
    await consumer.close();
    await hub.stop();
    for (let i = 0; i < 40; i++) {
      await device.client.publishAsync('iotanalytics/channels/outage/messages/put', JSON.stringify({ request: { message: `{"o":${i}}` }, id: `o${i}` }), { qos: 1 });
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(device.statuses).toHaveLength(0);
    hub = await startIotHub({ dir, mqttPort, amqpPort, logger: silent });
    consumer = new EventHubConsumerClient('$Default', hub.connection.eventHubsConnectionString);
    events.length = 0;
    subscription = consumer.subscribe({ processEvents: async (batch) => void events.push(...batch), processError: async () => undefined }, { startPosition: earliestEventPosition, maxBatchSize: 200, maxWaitTimeInSeconds: 1 });
    const statuses = await device.waitFor(40, 50_000);
    expect(statuses).toEqual(Array.from({ length: 40 }, (_, i) => `{"response":{"status":"success"},"id":"o${i}"}`));
    await until(() => envelopes('outage').flatMap((e) => e.messages).length >= 40, 30_000, 'outage envelopes');
    expect(envelopes('outage').flatMap((e) => e.messages.map((m) => m.id))).toEqual(Array.from({ length: 40 }, (_, i) => `o${i}`));
    await device.client.endAsync();
  });
});
