/**
 * SINK=iotanalytics against the devstack IoT Analytics emulator (the functions issue's BatchPutMessage
 * server): the manual's examples round-trip, and the stored payload is the device's bytes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeModule } from '../../edge-module/app.js';
import { startIotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';
import type { IotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';
import { connectDevice, startModule } from './edge-helpers.js';

const MANUAL_INPUT = '{ "request": { "message" : "{\\"temp\\":23.33}" }, "id" : "req123" }';
const compact = (text: string) => JSON.stringify(JSON.parse(text));

let dir: string;
let emulator: IotAnalyticsEmulator;
let module: EdgeModule;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edge-iota-'));
  emulator = await startIotAnalyticsEmulator({ dir, port: 0, channels: ['my_channel'] });
  const client = new IoTAnalyticsClient({ endpoint: emulator.connection.endpoint, region: emulator.connection.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  module = await startModule({ SINK: 'iotanalytics', AWS_REGION: emulator.connection.region, MemorySize: '1024', PublishInterval: '0' }, { iotAnalytics: client });
});

afterAll(async () => {
  await module?.stop();
  await emulator?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('SINK=iotanalytics against the IoT Analytics emulator', () => {
  it("the manual's input gets the manual's success output, and the channel stores the device's bytes", async () => {
    const device = await connectDevice(module.mqtt.url);
    await device.client.publishAsync('iotanalytics/channels/my_channel/messages/put', MANUAL_INPUT, { qos: 1 });
    expect(await device.waitFor(1)).toEqual([compact('{ "response" : { "status" : "success" }, "id" : "req123" }')]);
    const lines = (await (await fetch(`${emulator.connection.endpoint}/_emulator/channels/my_channel/messages`)).text()).trim().split('\n');
    const stored = lines.map((l) => JSON.parse(l) as { messageId: string; payload: string });
    expect(stored.map((m) => [m.messageId, Buffer.from(m.payload, 'base64').toString()])).toEqual([['req123', '{"temp":23.33}']]);
    await device.client.endAsync();
  });

  it("a channel that does not exist gets the manual's fail output byte for byte", async () => {
    const device = await connectDevice(module.mqtt.url);
    await device.client.publishAsync('iotanalytics/channels/no_such_channel/messages/put', MANUAL_INPUT, { qos: 1 });
    expect(await device.waitFor(1)).toEqual([
      compact('{ "response" : { "status" : "fail", "error" : "ResourceNotFoundException", "error_message" : "A resource with the specified name could not be found." }, "id" : "req123" }'),
    ]);
    await device.client.endAsync();
  });
});
