/**
 * Hostile clients, issue 12 item 3: every resource one client can take has a bound, and one client
 * cannot take the channels, the memory or the disk the others need.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, startBatchPutEndpoint, startModule, STATUS_TOPIC } from '../edge-helpers.js';
import type { BatchPutEndpoint } from '../edge-helpers.js';
import { metric, put, RawClient } from './helpers.js';

let endpoint: BatchPutEndpoint;
const dirs: string[] = [];
const base = { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '4096', PublishInterval: '0' };

beforeAll(async () => {
  endpoint = await startBatchPutEndpoint();
});

afterAll(async () => {
  await endpoint?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const refused = (metricsUrl: string, rule: string) => metric(metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule });
const parsed = (statuses: string[]) => statuses.map((s) => JSON.parse(s) as { response: { status: string; error?: string }; id?: string });

describe('connection limits', () => {
  it('a packet over MQTT_MAX_PACKET_BYTES closes the connection at its header, before its payload is buffered', async () => {
    const m = await startModule(base, { iotAnalytics: endpoint.client() });
    const raw = await RawClient.connect(m.mqtt.url);
    expect(await raw.handshake({ clientId: 'bloat' })).toBe(0);
    // PUBLISH QoS 0 announcing 100 MB (varint 0x80 0x80 0xd0 0x2f), then only a few bytes of it.
    raw.write(Buffer.from([0x30, 0x80, 0x80, 0xd0, 0x2f, 0x00, 0x01, 0x61, 0x62, 0x63]));
    expect(await raw.closesWithin(2000)).toBe(true);
    expect(await refused(m.metricsUrl, 'packet_size')).toBe(1);
    await m.stop();
  });

  it("the default MQTT_MAX_PACKET_BYTES fits a put of the connector's largest message (a 128 KB base64 string)", async () => {
    const m = await startModule(base, { iotAnalytics: endpoint.client() });
    const device = await connectDevice(m.mqtt.url, { clientId: 'big' });
    // The connector sends a base64 `message` as that string (contracts §4), so 128 KB is the string's length.
    const message = Buffer.alloc(96 * 1024, 7).toString('base64');
    expect(message.length).toBe(128 * 1024);
    await device.client.publishAsync('iotanalytics/channels/big/messages/put', JSON.stringify({ request: { message }, id: 'largest' }), { qos: 1 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"largest"}']);
    await device.client.endAsync();
    await m.stop();
  });

  it('MQTT_MAX_CONNECTIONS: one connection more is closed at once with a metric; the open ones keep working', async () => {
    const m = await startModule({ ...base, MQTT_MAX_CONNECTIONS: '3' }, { iotAnalytics: endpoint.client() });
    const open = [await connectDevice(m.mqtt.url, { clientId: 'c1' }), await connectDevice(m.mqtt.url, { clientId: 'c2' }), await connectDevice(m.mqtt.url, { clientId: 'c3' })];
    const extra = await RawClient.connect(m.mqtt.url);
    extra.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'c4' });
    expect(await extra.closesWithin(2000)).toBe(true);
    expect(extra.count('connack')).toBe(0);
    expect(await refused(m.metricsUrl, 'connections')).toBe(1);
    await open[0]?.client.publishAsync('iotanalytics/channels/c/messages/put', put('ok'), { qos: 1 });
    expect(await open[0]?.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"ok"}']);
    for (const d of open) await d.client.endAsync();
    await m.stop();
  });

  it('a socket that never sends CONNECT is closed after MQTT_CONNECT_TIMEOUT_SECONDS', async () => {
    const m = await startModule({ ...base, MQTT_CONNECT_TIMEOUT_SECONDS: '1' }, { iotAnalytics: endpoint.client() });
    const socket = net.connect(m.mqtt.port, '127.0.0.1');
    const startedAt = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(Date.now() - startedAt).toBeLessThan(3000);
    expect(await refused(m.metricsUrl, 'connect_timeout')).toBe(1);
    await m.stop();
  });

  it('keepalive is held within MQTT_KEEPALIVE_MIN/MAX_SECONDS: none (0) or too long is the maximum, too short the minimum; a silent client is closed after 1.5 × that', async () => {
    const m = await startModule({ ...base, MQTT_KEEPALIVE_MIN_SECONDS: '2', MQTT_KEEPALIVE_MAX_SECONDS: '2' }, { iotAnalytics: endpoint.client() });
    const timings = await Promise.all(
      [0, 1, 3600].map(async (keepalive, i) => {
        const raw = await RawClient.connect(m.mqtt.url);
        expect(await raw.handshake({ clientId: `silent-${i}`, keepalive })).toBe(0);
        const startedAt = Date.now();
        await raw.closed;
        return Date.now() - startedAt;
      }),
    );
    // 1.5 × 2 s for every client: not 1.5 s (keepalive 1), not never (0), not 90 minutes (3600).
    for (const ms of timings) {
      expect(ms).toBeGreaterThanOrEqual(2800);
      expect(ms).toBeLessThan(4500);
    }
    expect(await refused(m.metricsUrl, 'keepalive_timeout')).toBe(3);
    await m.stop();
  });

  it('a client id longer than MQTT_MAX_CLIENT_ID_LENGTH is refused with CONNACK 2', async () => {
    const m = await startModule({ ...base, MQTT_MAX_CLIENT_ID_LENGTH: '32' }, { iotAnalytics: endpoint.client() });
    const raw = await RawClient.connect(m.mqtt.url);
    expect(await raw.handshake({ clientId: 'x'.repeat(33) })).toBe(2);
    const ok = await RawClient.connect(m.mqtt.url);
    expect(await ok.handshake({ clientId: 'x'.repeat(32) })).toBe(0);
    ok.end();
    expect(await refused(m.metricsUrl, 'client_id')).toBe(1);
    await m.stop();
  });

  it('more than MQTT_MAX_INFLIGHT_QOS2 QoS 2 publishes awaiting PUBREL close the connection', async () => {
    const m = await startModule({ ...base, MQTT_MAX_INFLIGHT_QOS2: '5' }, { iotAnalytics: endpoint.client() });
    const raw = await RawClient.connect(m.mqtt.url);
    expect(await raw.handshake({ clientId: 'qos2' })).toBe(0);
    for (let i = 1; i <= 5; i++) raw.send({ cmd: 'publish', topic: 'iotanalytics/channels/c/messages/put', payload: Buffer.from(put(`q${i}`)), qos: 2, messageId: i, retain: false, dup: false });
    await raw.next(() => raw.count('pubrec') === 5);
    expect(raw.isOpen).toBe(true);
    raw.send({ cmd: 'publish', topic: 'iotanalytics/channels/c/messages/put', payload: Buffer.from(put('q6')), qos: 2, messageId: 6, retain: false, dup: false });
    expect(await raw.closesWithin(2000)).toBe(true);
    expect(await refused(m.metricsUrl, 'qos2_backlog')).toBe(1);
    await m.stop();
  });
});

describe('status queues', () => {
  /** A raw persistent-session client subscribed to the status topic at QoS 1, publishing `n` puts at QoS 1. */
  async function unackingClient(url: string, clientId: string, n: number): Promise<RawClient> {
    const raw = await RawClient.connect(url);
    expect(await raw.handshake({ clientId, clean: false })).toBe(0);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: STATUS_TOPIC, qos: 1 }] });
    await raw.next((p) => p.cmd === 'suback');
    for (let i = 0; i < n; i++) raw.send({ cmd: 'publish', topic: 'iotanalytics/channels/c/messages/put', payload: Buffer.from(put(`m${i}`)), qos: 1, messageId: 100 + i, retain: false, dup: false });
    await raw.next(() => raw.count('puback') === n);
    return raw;
  }
  const statusPackets = (raw: RawClient) => raw.packets.filter((p) => p.cmd === 'publish') as Array<{ messageId: number; payload: Buffer }>;

  it('a client that never acknowledges its QoS 1 statuses has at most MQTT_MAX_INFLIGHT_STATUSES in flight; each PUBACK lets the next one go', async () => {
    const m = await startModule({ ...base, MQTT_MAX_INFLIGHT_STATUSES: '5' }, { iotAnalytics: endpoint.client() });
    const raw = await unackingClient(m.mqtt.url, 'slow-acker', 20);
    await raw.next(() => statusPackets(raw).length === 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(statusPackets(raw)).toHaveLength(5);
    for (let acked = 0; acked < 20; acked++) {
      await raw.next(() => statusPackets(raw).length > acked);
      raw.send({ cmd: 'puback', messageId: statusPackets(raw)[acked]?.messageId });
    }
    const ids = statusPackets(raw).map((p) => (JSON.parse(p.payload.toString()) as { id: string }).id);
    expect(ids.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
    raw.end();
    await m.stop();
  });

  it('statuses waiting behind that window are bounded by MQTT_MAX_QUEUED_STATUSES: the oldest are dropped and counted', async () => {
    const m = await startModule({ ...base, MQTT_MAX_INFLIGHT_STATUSES: '1', MQTT_MAX_QUEUED_STATUSES: '3' }, { iotAnalytics: endpoint.client() });
    const raw = await unackingClient(m.mqtt.url, 'never-acks', 10);
    // One in flight, three waiting: the other six were dropped.
    await new Promise((r) => setTimeout(r, 500));
    expect(await metric(m.metricsUrl, 'iot_ingest_edge_mqtt_statuses_undelivered_total', { reason: 'queue_full' })).toBe(6);
    for (let acked = 0; acked < 4; acked++) {
      await raw.next(() => statusPackets(raw).length > acked);
      raw.send({ cmd: 'puback', messageId: statusPackets(raw)[acked]?.messageId });
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(statusPackets(raw)).toHaveLength(4);
    raw.end();
    await m.stop();
  });

  it("a persistent session's statuses that come while it is offline wait for it and are delivered when it reconnects; after MQTT_OFFLINE_SESSION_SECONDS they are dropped and counted", async () => {
    const slow = await startBatchPutEndpoint();
    const m = await startModule({ ...base, MQTT_OFFLINE_SESSION_SECONDS: '2' }, { iotAnalytics: slow.client() });
    for (const [clientId, awayMs, expected] of [
      ['back-soon', 0, 3],
      ['back-late', 4500, 0],
    ] as const) {
      slow.fail(2, 503, 'ServiceUnavailableException'); // the first sends fail: the statuses come after ~600 ms
      const first = await connectDevice(m.mqtt.url, { clientId, clean: false });
      for (const id of ['o1', 'o2', 'o3']) await first.client.publishAsync('iotanalytics/channels/offline/messages/put', put(`${clientId}-${id}`), { qos: 1 });
      first.client.end(true);
      await new Promise((r) => setTimeout(r, 1500 + awayMs));
      const again = await connectDevice(m.mqtt.url, { clientId, clean: false });
      if (expected > 0) expect((await again.waitFor(expected)).map((s) => (JSON.parse(s) as { id: string }).id).sort()).toEqual([`${clientId}-o1`, `${clientId}-o2`, `${clientId}-o3`]);
      else {
        await new Promise((r) => setTimeout(r, 300));
        expect(again.statuses).toEqual([]);
      }
      await again.client.endAsync();
    }
    expect(await metric(m.metricsUrl, 'iot_ingest_edge_mqtt_statuses_undelivered_total', { reason: 'session_expired' })).toBe(3);
    await m.stop();
    await slow.close();
  });
});

describe('inputs on their way to disk', () => {
  it('at most MQTT_MAX_PENDING_WRITES inputs wait for the disk; one more is refused with MemoryLimitExceededException and a metric', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-pending-'));
    dirs.push(dir);
    const m = await startModule({ ...base, PERSISTENCE_DIR: dir, MQTT_MAX_PENDING_WRITES: '1' }, { iotAnalytics: endpoint.client() });
    const raw = await RawClient.connect(m.mqtt.url);
    expect(await raw.handshake({ clientId: 'burst' })).toBe(0);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: STATUS_TOPIC, qos: 0 }] });
    await raw.next((p) => p.cmd === 'suback');
    // Three puts in one TCP write: the broker handles them in one go, while the first is still being fsynced.
    const packets = [1, 2, 3].map((i) => mqttPacket.generate({ cmd: 'publish', topic: 'iotanalytics/channels/c/messages/put', payload: Buffer.from(put(`w${i}`)), qos: 1, messageId: i, retain: false, dup: false }));
    raw.write(Buffer.concat(packets));
    await raw.next(() => raw.count('puback') === 3 && raw.count('publish') === 3);
    const statuses = (raw.packets.filter((p) => p.cmd === 'publish') as Array<{ payload: Buffer }>).map((p) => JSON.parse(p.payload.toString()) as { response: { status: string; error?: string }; id: string });
    expect(statuses.find((s) => s.id === 'w1')?.response.status).toBe('success');
    expect(statuses.filter((s) => s.response.error === 'MemoryLimitExceededException').map((s) => s.id).sort()).toEqual(['w2', 'w3']);
    expect(await refused(m.metricsUrl, 'pending_writes')).toBe(2);
    raw.end();
    await m.stop();
  });
});

describe("one client's share: channels, memory and disk", () => {
  it('a client with messages queued in MQTT_CLIENT_MAX_CHANNELS channels gets TooManyChannelsException for one more; another client still gets it; the share comes back with the statuses', async () => {
    const stuck = await startBatchPutEndpoint();
    stuck.fail(1_000_000, 503, 'ServiceUnavailableException');
    const m = await startModule({ ...base, MQTT_CLIENT_MAX_CHANNELS: '2' }, { iotAnalytics: stuck.client() });
    const hog = await connectDevice(m.mqtt.url, { clientId: 'hog' });
    const other = await connectDevice(m.mqtt.url, { clientId: 'other' });
    for (const ch of ['ch1', 'ch2', 'ch3']) await hog.client.publishAsync(`iotanalytics/channels/${ch}/messages/put`, put(`hog-${ch}`), { qos: 1 });
    expect(parsed(await hog.waitFor(1))).toEqual([{ response: { status: 'fail', error: 'TooManyChannelsException', error_message: expect.stringContaining('MQTT_CLIENT_MAX_CHANNELS=2') }, id: 'hog-ch3' }]);
    await other.client.publishAsync('iotanalytics/channels/ch3/messages/put', put('other-ch3'), { qos: 1 });
    expect(m.engine.stats().channels.map((c) => c.channel).sort()).toEqual(['ch1', 'ch2', 'ch3']);
    expect(await refused(m.metricsUrl, 'client_channels')).toBe(1);
    // Once its messages are answered, the client has its channels back.
    stuck.fail(0, 503, 'ServiceUnavailableException');
    await hog.waitFor(3, 15_000);
    await hog.client.publishAsync('iotanalytics/channels/ch4/messages/put', put('hog-ch4'), { qos: 1 });
    expect(parsed(await hog.waitFor(4, 15_000)).at(-1)).toEqual({ response: { status: 'success' }, id: 'hog-ch4' });
    await hog.client.endAsync();
    await other.client.endAsync();
    await m.stop();
    await stuck.close();
  });

  it('one client cannot hold more than MQTT_CLIENT_MEMORY_PERCENT of MemorySize: MemoryLimitExceededException, while another client is still accepted', async () => {
    const stuck = await startBatchPutEndpoint();
    stuck.fail(1_000_000, 503, 'ServiceUnavailableException');
    // MemorySize 64 KB, 25 % = 16,384 bytes per client.
    const m = await startModule({ ...base, MemorySize: '64', MQTT_CLIENT_MEMORY_PERCENT: '25' }, { iotAnalytics: stuck.client() });
    const hog = await connectDevice(m.mqtt.url, { clientId: 'memory-hog' });
    const other = await connectDevice(m.mqtt.url, { clientId: 'memory-other' });
    const reading = 'x'.repeat(4000);
    for (let i = 0; i < 5; i++) await hog.client.publishAsync('iotanalytics/channels/mem/messages/binary/put', reading, { qos: 1 });
    expect(parsed(await hog.waitFor(1))).toEqual([{ response: { status: 'fail', error: 'MemoryLimitExceededException', error_message: expect.stringContaining('MQTT_CLIENT_MEMORY_PERCENT') } }]);
    await other.client.publishAsync('iotanalytics/channels/mem/messages/binary/put', reading, { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(other.statuses).toEqual([]);
    expect(m.engine.stats().heldBytes).toBe(5 * 4000);
    expect(await refused(m.metricsUrl, 'client_memory')).toBe(1);
    await hog.client.endAsync();
    await other.client.endAsync();
    await m.stop();
    await stuck.close();
  });

  it("with persistence, one client cannot hold more than MQTT_CLIENT_DISK_PERCENT of PERSISTENCE_MAX_BYTES: StorageFullException, while another client is still accepted", async () => {
    const stuck = await startBatchPutEndpoint();
    stuck.fail(1_000_000, 503, 'ServiceUnavailableException');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-disk-share-'));
    dirs.push(dir);
    // 20,000 bytes, 25 % = 5,000 per client: four records of ~1,150 bytes fit, a fifth does not.
    const m = await startModule({ ...base, PERSISTENCE_DIR: dir, PERSISTENCE_MAX_BYTES: '20000', MQTT_CLIENT_DISK_PERCENT: '25' }, { iotAnalytics: stuck.client() });
    const hog = await connectDevice(m.mqtt.url, { clientId: 'disk-hog' });
    const other = await connectDevice(m.mqtt.url, { clientId: 'disk-other' });
    const reading = 'y'.repeat(1000);
    for (let i = 0; i < 5; i++) await hog.client.publishAsync('iotanalytics/channels/disk/messages/binary/put', reading, { qos: 1 });
    expect(parsed(await hog.waitFor(1))).toEqual([{ response: { status: 'fail', error: 'StorageFullException', error_message: expect.stringContaining('MQTT_CLIENT_DISK_PERCENT') } }]);
    await other.client.publishAsync('iotanalytics/channels/disk/messages/binary/put', reading, { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(other.statuses).toEqual([]);
    expect(m.engine.stats().accepted).toBe(5);
    expect(await refused(m.metricsUrl, 'client_disk')).toBe(1);
    await hog.client.endAsync();
    await other.client.endAsync();
    await m.stop();
    await stuck.close();
  });
});
