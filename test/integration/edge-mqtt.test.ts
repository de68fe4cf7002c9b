/**
 * A Greengrass-style device (MQTT.js) talks to the module's MQTT listener unchanged; the module sends
 * with the real @aws-sdk client to a local BatchPutMessage endpoint (SINK=iotanalytics).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeModule } from '../../edge-module/app.js';
import { connectDevice, startBatchPutEndpoint, startModule } from './edge-helpers.js';
import type { BatchPutEndpoint } from './edge-helpers.js';

// The connector manual's examples, byte for byte (including its spacing).
const MANUAL_INPUT = '{ "request": { "message" : "{\\"temp\\":23.33}" }, "id" : "req123" }';
const MANUAL_SUCCESS = '{ "response" : { "status" : "success" }, "id" : "req123" }';
const MANUAL_FAIL =
  '{ "response" : { "status" : "fail", "error" : "ResourceNotFoundException", "error_message" : "A resource with the specified name could not be found." }, "id" : "req123" }';
const compact = (text: string) => JSON.stringify(JSON.parse(text));

let endpoint: BatchPutEndpoint;
let module: EdgeModule;

beforeAll(async () => {
  endpoint = await startBatchPutEndpoint();
  endpoint.missingChannels.add('missing_channel');
  module = await startModule(
    { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '65535', PublishInterval: '0', IotAnalyticsDefaultChannelName: 'fallback', MQTT_DEFAULT_CHANNEL_TOPICS: 'factory/#' },
    { iotAnalytics: endpoint.client() },
  );
});

afterAll(async () => {
  await module?.stop();
  await endpoint?.close();
});

describe('Greengrass topics over MQTT', () => {
  it("the manual's input example gets the manual's success output byte for byte, and its JSON is sent verbatim", async () => {
    const device = await connectDevice(module.mqtt.url);
    await device.client.publishAsync('iotanalytics/channels/my_channel/messages/put', MANUAL_INPUT, { qos: 1 });
    const [status] = await device.waitFor(1);
    expect(status).toBe(compact(MANUAL_SUCCESS));
    const call = endpoint.calls.find((c) => c.channelName === 'my_channel');
    expect(call?.messages.map((m) => [m.messageId, m.payload.toString('utf8')])).toEqual([['req123', '{"temp":23.33}']]);
    await device.client.endAsync();
  });

  it("a missing channel gets the manual's fail output byte for byte", async () => {
    const device = await connectDevice(module.mqtt.url);
    await device.client.publishAsync('iotanalytics/channels/missing_channel/messages/put', MANUAL_INPUT, { qos: 1 });
    const [status] = await device.waitFor(1);
    expect(status).toBe(compact(MANUAL_FAIL));
    await device.client.endAsync();
  });

  it('a base64 message is sent as the base64 string itself, as the connector sends it (issue 14 item 7)', async () => {
    const device = await connectDevice(module.mqtt.url);
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await device.client.publishAsync('iotanalytics/channels/b64/messages/put', JSON.stringify({ request: { message: bytes.toString('base64') }, id: 'b1' }), { qos: 1 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"b1"}']);
    expect(endpoint.calls.find((c) => c.channelName === 'b64')?.messages[0]?.payload.toString('utf8')).toBe(bytes.toString('base64'));
    await device.client.endAsync();
  });

  it('binary topic: raw bytes to the named channel, a generated id, and a status without id', async () => {
    const device = await connectDevice(module.mqtt.url);
    const raw = Buffer.from('not json \u0000\u00ff', 'latin1');
    await device.client.publishAsync('iotanalytics/channels/raw_channel/messages/binary/put', raw, { qos: 1 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"}}']);
    const message = endpoint.calls.find((c) => c.channelName === 'raw_channel')?.messages[0];
    expect(message?.payload).toEqual(raw);
    expect(message?.messageId).toMatch(/.+/);
    await device.client.endAsync();
  });

  it('a topic MQTT_DEFAULT_CHANNEL_TOPICS lists goes raw to the default channel, status without id', async () => {
    const device = await connectDevice(module.mqtt.url);
    await device.client.publishAsync('factory/line1/temperature', '{"t":1}', { qos: 0 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"}}']);
    expect(endpoint.calls.find((c) => c.channelName === 'fallback')?.messages[0]?.payload.toString()).toBe('{"t":1}');
    await device.client.endAsync();
  });

  it('bad input gets a fail status with an error code and a readable message, and the module keeps serving', async () => {
    const device = await connectDevice(module.mqtt.url);
    const cases: [string, string | Buffer, string, string | undefined][] = [
      ['iotanalytics/channels/c1/messages/put', '{not json', 'InvalidRequestException', undefined],
      ['iotanalytics/channels/c1/messages/put', '{"id":"x1"}', 'InvalidRequestException', 'x1'],
      ['iotanalytics/channels/c1/messages/put', '{"request":{"message":"%%% not base64"},"id":"x2"}', 'InvalidRequestException', 'x2'],
      ['iotanalytics/channels/bad-name/messages/put', '{"request":{"message":"{}"},"id":"x3"}', 'InvalidRequestException', 'x3'],
      ['iotanalytics/channels/__reserved/messages/binary/put', 'abc', 'InvalidRequestException', undefined],
      ['iotanalytics/channels/c1/messages/binary/put', Buffer.alloc(131_073, 1), 'MessageTooLargeException', undefined],
    ];
    for (const [topic, payload] of cases) await device.client.publishAsync(topic, payload, { qos: 1 });
    const statuses = (await device.waitFor(cases.length)).map((s) => JSON.parse(s) as { response: { status: string; error: string; error_message: string }; id?: string });
    statuses.forEach((s, i) => {
      const [, , code, id] = cases[i] as [string, unknown, string, string | undefined];
      expect(s.response.status).toBe('fail');
      expect(s.response.error).toBe(code);
      expect(s.response.error_message.length).toBeGreaterThan(10);
      expect(s.id).toBe(id);
    });
    const metrics = await (await fetch(module.metricsUrl)).text();
    expect(metrics).toMatch(/iot_ingest_edge_input_errors_total\{input="mqtt",error="InvalidRequestException"\} 5/);
    await device.client.publishAsync('iotanalytics/channels/c1/messages/put', '{"request":{"message":"1"},"id":"ok"}', { qos: 1 });
    expect((await device.waitFor(cases.length + 1)).at(-1)).toBe('{"response":{"status":"success"},"id":"ok"}');
    await device.client.endAsync();
  });

  it('a client publishing on the status topic is disconnected and nothing is ingested', async () => {
    const device = await connectDevice(module.mqtt.url);
    const before = module.engine.stats().accepted + module.engine.stats().refused;
    const closed = new Promise<void>((resolve) => device.client.once('close', () => resolve()));
    device.client.publish('iotanalytics/messages/put/status', '{"response":{"status":"success"}}', { qos: 1 });
    await closed;
    expect(module.engine.stats().accepted + module.engine.stats().refused).toBe(before);
    expect(device.statuses).toEqual([]);
    device.client.end(true);
  });
});

describe('defaults and QoS', () => {
  it('without IotAnalyticsDefaultChannelName a message on another topic gets InvalidRequestException naming the parameter', async () => {
    const local = await startBatchPutEndpoint();
    const m = await startModule({ SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '64', MQTT_DEFAULT_CHANNEL_TOPICS: 'plant/#' }, { iotAnalytics: local.client() });
    const device = await connectDevice(m.mqtt.url);
    await device.client.publishAsync('plant/7/pressure', '{"p":1}', { qos: 1 });
    const [status] = await device.waitFor(1);
    expect(JSON.parse(status as string)).toEqual({
      response: { status: 'fail', error: 'InvalidRequestException', error_message: expect.stringContaining('IotAnalyticsDefaultChannelName') },
    });
    await device.client.endAsync();
    await m.stop();
    await local.close();
  });

  it('a status goes out at the QoS of its request', async () => {
    const device = await connectDevice(module.mqtt.url);
    const qos: number[] = [];
    device.client.on('message', (_topic, _payload, packet) => qos.push(packet.qos));
    await device.client.publishAsync('iotanalytics/channels/q/messages/put', '{"request":{"message":"1"},"id":"q0"}', { qos: 0 });
    await device.waitFor(1);
    await device.client.publishAsync('iotanalytics/channels/q/messages/put', '{"request":{"message":"1"},"id":"q1"}', { qos: 1 });
    await device.waitFor(2);
    expect(qos).toEqual([0, 1]);
    await device.client.endAsync();
  });
});

describe('drop behaviours under overload over the real MQTT path', () => {
  for (const behaviour of ['DROP_NEWEST', 'DROP_OLDEST'] as const) {
    it(`${behaviour}: a full queue drops exactly the overflow and reports every drop`, async () => {
      const local = await startBatchPutEndpoint();
      const m = await startModule(
        { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '1024', PublishInterval: '3600', IotAnalyticsQueueSizePerChannel: '10', IotAnalyticsQueueDropBehavior: behaviour, SHUTDOWN_DEADLINE_SECONDS: '5' },
        { iotAnalytics: local.client() },
      );
      const device = await connectDevice(m.mqtt.url);
      // The first tick is immediate; after it the next one is PublishInterval (an hour) away.
      await device.client.publishAsync('iotanalytics/channels/warmup/messages/put', '{"request":{"message":"1"},"id":"w"}', { qos: 1 });
      await device.waitFor(1);
      device.statuses.shift();
      for (let i = 0; i < 30; i++) {
        await device.client.publishAsync('iotanalytics/channels/busy/messages/put', JSON.stringify({ request: { message: `{"i":${i}}` }, id: `m${i}` }), { qos: 1 });
      }
      const drops = (await device.waitFor(20)).map((s) => JSON.parse(s) as { response: { status: string; error: string }; id: string });
      expect(drops.every((d) => d.response.status === 'fail')).toBe(true);
      if (behaviour === 'DROP_NEWEST') {
        expect(drops.map((d) => d.id)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 10}`));
        expect(new Set(drops.map((d) => d.response.error))).toEqual(new Set(['QueueFullException']));
      } else {
        expect(drops.map((d) => d.id)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
        expect(new Set(drops.map((d) => d.response.error))).toEqual(new Set(['MessageEvictedException']));
      }
      // The survivors are flushed at shutdown and succeed.
      await m.stop();
      const all = await device.waitFor(30);
      const kept = behaviour === 'DROP_NEWEST' ? 0 : 20;
      expect(local.calls.filter((c) => c.channelName === 'busy').flatMap((c) => c.messages.map((x) => x.messageId))).toEqual(Array.from({ length: 10 }, (_, i) => `m${i + kept}`));
      expect(all.slice(20).every((s) => s.includes('"success"'))).toBe(true);
      await device.client.endAsync();
      await local.close();
    });
  }
});
