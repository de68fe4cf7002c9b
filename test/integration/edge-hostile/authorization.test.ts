/**
 * Hostile clients, issue 12 item 2 and issue 14 items 1 (input half) and 3: what a client may publish and
 * subscribe to, whose statuses it receives, and which device each input is recorded as.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeModule } from '../../../edge-module/app.js';
import type { EdgeModule } from '../../../edge-module/app.js';
import { DiskStore } from '../../../edge-module/persistence/disk.js';
import { decodeRecord } from '../../../edge-module/persistence/record.js';
import { connectDevice, edgeConfig, startBatchPutEndpoint, startModule, STATUS_TOPIC } from '../edge-helpers.js';
import type { BatchPutEndpoint } from '../edge-helpers.js';
import { metric, put, RawClient } from './helpers.js';

let endpoint: BatchPutEndpoint;
let module: EdgeModule;
const logLines: Array<Record<string, unknown>> = [];
const base = { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '4096', PublishInterval: '0', IotAnalyticsDefaultChannelName: 'fallback' };

beforeAll(async () => {
  endpoint = await startBatchPutEndpoint();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  module = await startEdgeModule({
    config: edgeConfig({ ...base, LOG_LEVEL: 'warn', MQTT_DEFAULT_CHANNEL_TOPICS: 'sensors/+/telemetry, plant/line1/#', MQTT_STATUS_OBSERVERS: 'ops-monitor' }),
    log: pino({ level: 'warn' }, sink),
    iotAnalytics: endpoint.client(),
  });
});

afterAll(async () => {
  await module?.stop();
  await endpoint?.close();
});

const statusIds = (statuses: string[]) => statuses.map((s) => (JSON.parse(s) as { id?: string }).id);

describe('publish: only the connector topics and the configured catch-all filters', () => {
  it("publishing to $SYS/… disconnects the publisher and cannot disconnect another client (aedes' guard, moscajs/aedes#597)", async () => {
    const victim = await connectDevice(module.mqtt.url, { clientId: 'victim' });
    const attacker = await RawClient.connect(module.mqtt.url);
    expect(await attacker.handshake({ clientId: 'attacker' })).toBe(0);
    attacker.send({ cmd: 'publish', topic: '$SYS/another-broker/new/clients', payload: Buffer.from('victim'), qos: 0, retain: false, dup: false });
    expect(await attacker.closesWithin(3000)).toBe(true);
    // The victim is still connected and served.
    await victim.client.publishAsync('iotanalytics/channels/c/messages/put', put('still-here'), { qos: 1 });
    expect(await victim.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"still-here"}']);
    expect(victim.client.connected).toBe(true);
    expect(await metric(module.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'sys_topic' })).toBe(1);
    await victim.client.endAsync();
  });

  it('publishing on the status topic disconnects the publisher and no subscriber receives the forged status', async () => {
    const victim = await connectDevice(module.mqtt.url, { clientId: 'victim-2' });
    const attacker = await RawClient.connect(module.mqtt.url);
    expect(await attacker.handshake({ clientId: 'forger' })).toBe(0);
    attacker.send({ cmd: 'publish', topic: STATUS_TOPIC, payload: Buffer.from('{"response":{"status":"success"},"id":"forged"}'), qos: 1, messageId: 7, retain: false, dup: false });
    expect(await attacker.closesWithin(3000)).toBe(true);
    expect(attacker.count('puback')).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(victim.statuses).toEqual([]);
    expect(await metric(module.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'status_topic' })).toBe(1);
    await victim.client.endAsync();
  });

  it('a retained publish is refused with a fail status carrying its id, and nothing is retained', async () => {
    const device = await connectDevice(module.mqtt.url, { clientId: 'retainer' });
    const accepted = module.engine.stats().accepted;
    await device.client.publishAsync('iotanalytics/channels/c/messages/put', put('kept?'), { qos: 1, retain: true });
    const [status] = await device.waitFor(1);
    expect(JSON.parse(status as string)).toEqual({ response: { status: 'fail', error: 'InvalidRequestException', error_message: expect.stringContaining('retain') }, id: 'kept?' });
    expect(module.engine.stats().accepted).toBe(accepted);
    // A new subscriber gets no retained message on the one topic it may subscribe to.
    const late = await connectDevice(module.mqtt.url, { clientId: 'late' });
    await new Promise((r) => setTimeout(r, 200));
    expect(late.statuses).toEqual([]);
    expect(await metric(module.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'retain' })).toBe(1);
    await device.client.endAsync();
    await late.client.endAsync();
  });

  it('a topic that matches a MQTT_DEFAULT_CHANNEL_TOPICS filter goes to the default channel; any other is refused with a status, a log line and a metric', async () => {
    const device = await connectDevice(module.mqtt.url, { clientId: 'custom-topics' });
    await device.client.publishAsync('sensors/s17/telemetry', '{"t":17}', { qos: 1 });
    await device.client.publishAsync('plant/line1/press/3', '{"p":3}', { qos: 1 });
    await device.client.publishAsync('plant/line2/press/3', '{"p":4}', { qos: 1 });
    await device.client.publishAsync('sensors/s17/telemetry/extra', '{"t":18}', { qos: 1 });
    const statuses = (await device.waitFor(4)).map((s) => JSON.parse(s) as { response: { status: string; error?: string; error_message?: string } });
    // Refusals are answered at once, successes after their batch: compare without order.
    expect(statuses.map((s) => s.response.status).sort()).toEqual(['fail', 'fail', 'success', 'success']);
    for (const s of statuses.filter((x) => x.response.status === 'fail')) {
      expect(s.response).toMatchObject({ error: 'InvalidRequestException', error_message: expect.stringContaining('MQTT_DEFAULT_CHANNEL_TOPICS') });
    }
    const delivered = endpoint.calls.filter((c) => c.channelName === 'fallback').flatMap((c) => c.messages.map((m) => m.payload.toString()));
    expect(delivered).toEqual(expect.arrayContaining(['{"t":17}', '{"p":3}']));
    expect(delivered).not.toContain('{"p":4}');
    expect(await metric(module.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'topic' })).toBe(2);
    // Logged once per client and rule per minute, naming the topic and the client.
    expect(logLines.filter((l) => l.msg === 'mqtt refused' && l.rule === 'topic')).toEqual([
      expect.objectContaining({ clientId: 'custom-topics', topic: 'plant/line2/press/3', reason: expect.stringContaining('MQTT_DEFAULT_CHANNEL_TOPICS') }),
    ]);
    await device.client.endAsync();
  });

  it('a will on a topic clients may not publish to ($SYS, the status topic, retained) is refused at CONNECT with code 5', async () => {
    for (const will of [
      { topic: '$SYS/x/new/clients', payload: Buffer.from('victim'), qos: 0, retain: false },
      { topic: STATUS_TOPIC, payload: Buffer.from('{"response":{"status":"success"}}'), qos: 0, retain: false },
      { topic: 'iotanalytics/channels/c/messages/put', payload: Buffer.from(put('w')), qos: 0, retain: true },
    ]) {
      const raw = await RawClient.connect(module.mqtt.url);
      expect(await raw.handshake({ clientId: 'willful', will })).toBe(5);
      raw.end();
    }
    expect(await metric(module.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'will' })).toBe(3);
  });
});

describe('subscribe: the status topic only', () => {
  it('only the exact status topic is granted; wildcards and every other topic get SUBACK 128', async () => {
    const raw = await RawClient.connect(module.mqtt.url);
    expect(await raw.handshake({ clientId: 'snoop' })).toBe(0);
    const topics = ['#', '+/messages/put/status', 'iotanalytics/#', 'iotanalytics/channels/c/messages/put', 'sensors/+/telemetry', '$SYS/#', STATUS_TOPIC];
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics.map((topic) => ({ topic, qos: 1 })) });
    const suback = (await raw.next((p) => p.cmd === 'suback')) as { granted: number[] };
    expect(suback.granted).toEqual([128, 128, 128, 128, 128, 128, 1]);
    expect(await metric(module.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'subscribe' })).toBe(6);
    raw.end();
  });
});

describe('statuses: each to the client whose input it answers', () => {
  it('a device subscribed to the status topic gets its own statuses and no one else\'s', async () => {
    const a = await connectDevice(module.mqtt.url, { clientId: 'device-a' });
    const b = await connectDevice(module.mqtt.url, { clientId: 'device-b' });
    const snoop = await connectDevice(module.mqtt.url, { clientId: 'device-c' });
    for (const id of ['a1', 'a2', 'a3']) await a.client.publishAsync('iotanalytics/channels/c/messages/put', put(id), { qos: 1 });
    for (const id of ['b1', 'b2']) await b.client.publishAsync('iotanalytics/channels/c/messages/put', put(id), { qos: 0 });
    expect(statusIds(await a.waitFor(3)).sort()).toEqual(['a1', 'a2', 'a3']);
    expect(statusIds(await b.waitFor(2)).sort()).toEqual(['b1', 'b2']);
    await new Promise((r) => setTimeout(r, 200));
    expect(a.statuses).toHaveLength(3);
    expect(b.statuses).toHaveLength(2);
    expect(snoop.statuses).toEqual([]);
    for (const d of [a, b, snoop]) await d.client.endAsync();
  });

  it('an observer named in MQTT_STATUS_OBSERVERS receives every client\'s statuses', async () => {
    const ops = await connectDevice(module.mqtt.url, { clientId: 'ops-monitor' });
    const a = await connectDevice(module.mqtt.url, { clientId: 'device-d' });
    const b = await connectDevice(module.mqtt.url, { clientId: 'device-e' });
    await a.client.publishAsync('iotanalytics/channels/c/messages/put', put('d1'), { qos: 1 });
    await b.client.publishAsync('iotanalytics/channels/c/messages/put', put('e1'), { qos: 1 });
    expect(statusIds(await ops.waitFor(2)).sort()).toEqual(['d1', 'e1']);
    expect(statusIds(await a.waitFor(1))).toEqual(['d1']);
    for (const d of [ops, a, b]) await d.client.endAsync();
  });
});

describe('which device published each input (issue 14 item 1, input half)', () => {
  it("every input carries its publisher's identity as deviceId, kept in the store so it survives a restart", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-device-id-'));
    const failing = await startBatchPutEndpoint();
    failing.fail(1_000_000, 503, 'ServiceUnavailableException');
    const m = await startModule({ ...base, PERSISTENCE_DIR: dir, MQTT_DEFAULT_CHANNEL_TOPICS: 'sensors/#' }, { iotAnalytics: failing.client() });
    const s17 = await connectDevice(m.mqtt.url, { clientId: 'sensor-17' });
    const s18 = await connectDevice(m.mqtt.url, { clientId: 'sensor-18' });
    await s17.client.publishAsync('iotanalytics/channels/c/messages/put', put('x'), { qos: 1 });
    await s18.client.publishAsync('iotanalytics/channels/c/messages/binary/put', 'raw', { qos: 1 });
    await s17.client.publishAsync('sensors/17', '{"t":1}', { qos: 1 });
    await s17.client.endAsync();
    await s18.client.endAsync();
    await m.stop();
    const store = await DiskStore.open({ dir, maxBytes: 1 << 30, ttlMs: 0 });
    const headers = (await store.read(0)).map((r) => decodeRecord(r.data).header);
    await store.close();
    expect(headers.map((h) => [h.channel, h.deviceId])).toEqual([
      ['c', 'sensor-17'],
      ['c', 'sensor-18'],
      ['fallback', 'sensor-17'],
    ]);
    await failing.close();
    await rm(dir, { recursive: true, force: true });
  });
});
