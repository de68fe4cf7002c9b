/**
 * Store and forward in process: a stop with persistence keeps what was not sent (no ShutdownException),
 * a restart rebuilds the queues in order, and the byte quota refuses input with StorageFullException.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultyFileSystem } from '../../durable-log/testing.js';
import { startEdgeModule } from '../../edge-module/app.js';
import { connectDevice, edgeConfig, startBatchPutEndpoint, startModule } from './edge-helpers.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const base = { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '1024', PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '7', SHUTDOWN_DEADLINE_SECONDS: '1' };

describe('persistence', () => {
  it('stop keeps unsent messages on disk; the restarted module sends them in order and answers them', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-persist-'));
    dirs.push(dir);
    const endpoint = await startBatchPutEndpoint();
    endpoint.fail(1_000_000, 503, 'ServiceUnavailableException');
    const first = await startModule({ ...base, PERSISTENCE_DIR: dir }, { iotAnalytics: endpoint.client() });
    const device = await connectDevice(first.mqtt.url);
    for (let i = 0; i < 30; i++) {
      await device.client.publishAsync(`iotanalytics/channels/ch${i % 2}/messages/put`, `{"request":{"message":"{\\"n\\":${i}}"},"id":"p${i}"}`, { qos: 1 });
    }
    await first.stop();
    expect(device.statuses).toEqual([]);
    await device.client.endAsync();

    endpoint.fail(0, 503, 'ServiceUnavailableException');
    const second = await startModule({ ...base, PERSISTENCE_DIR: dir }, { iotAnalytics: endpoint.client() });
    const deadline = Date.now() + 20_000;
    const ids = (channel: string) => endpoint.calls.filter((c) => c.channelName === channel).flatMap((c) => c.messages.map((m) => m.messageId));
    // Wait for the answers to be settled too, not only for the calls to be made.
    while ((ids('ch0').length + ids('ch1').length < 30 || second.engine.stats().succeeded < 30) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ids('ch0')).toEqual(Array.from({ length: 15 }, (_, k) => `p${2 * k}`));
    expect(ids('ch1')).toEqual(Array.from({ length: 15 }, (_, k) => `p${2 * k + 1}`));
    expect(second.engine.stats().succeeded).toBe(30);
    await second.stop();

    // Everything was committed: a third start has nothing to send.
    const third = await startModule({ ...base, PERSISTENCE_DIR: dir }, { iotAnalytics: endpoint.client() });
    await new Promise((r) => setTimeout(r, 300));
    expect(third.engine.stats().accepted).toBe(0);
    await third.stop();
    await endpoint.close();
  });

  it('over PERSISTENCE_MAX_BYTES new input is refused with StorageFullException, never silently', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-quota-'));
    dirs.push(dir);
    const endpoint = await startBatchPutEndpoint();
    endpoint.fail(1_000_000, 503, 'ServiceUnavailableException');
    const m = await startModule({ ...base, PERSISTENCE_DIR: dir, PERSISTENCE_MAX_BYTES: '2000' }, { iotAnalytics: endpoint.client() });
    const device = await connectDevice(m.mqtt.url);
    const payload = 'x'.repeat(200);
    for (let i = 0; i < 20; i++) await device.client.publishAsync('iotanalytics/channels/full/messages/binary/put', payload, { qos: 1 });
    const accepted = m.engine.stats().accepted;
    const statuses = await device.waitFor(20 - accepted);
    expect(statuses.length).toBeGreaterThanOrEqual(10);
    for (const s of statuses) expect(JSON.parse(s)).toMatchObject({ response: { status: 'fail', error: 'StorageFullException' } });
    expect(m.engine.stats().accepted).toBeLessThanOrEqual(10);
    expect(accepted + statuses.length).toBe(20);
    await device.client.endAsync();
    await m.stop();
    await endpoint.close();
  });

  it('a failed disk write answers the input with StorageException, and the inputs right after it too; a restarted module takes input again', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-disk-fault-'));
    dirs.push(dir);
    const endpoint = await startBatchPutEndpoint();
    const fs = new FaultyFileSystem();
    const env = { ...base, PERSISTENCE_DIR: dir };
    const m = await startEdgeModule({ config: edgeConfig(env), log: pino({ level: 'silent' }), iotAnalytics: endpoint.client(), persistenceFileSystem: fs });
    const device = await connectDevice(m.mqtt.url);
    const put = (id: string) => device.client.publishAsync('iotanalytics/channels/disk/messages/put', `{"request":{"message":"{}"},"id":"${id}"}`, { qos: 1 });
    await put('ok-1');
    expect((await device.waitFor(1)).map((t) => JSON.parse(t))).toEqual([{ id: 'ok-1', response: { status: 'success' } }]);

    fs.failNextWrite({ kind: 'error', code: 'ENOSPC' });
    await put('full-1');
    await put('after-1');
    const statuses = (await device.waitFor(3)).slice(1).map((t) => JSON.parse(t) as { id: string; response: { status: string; error?: string; error_message?: string } });
    expect(statuses.map((s) => [s.id, s.response.status, s.response.error])).toEqual([
      ['full-1', 'fail', 'StorageException'],
      ['after-1', 'fail', 'StorageException'],
    ]);
    expect(statuses[0]?.response.error_message).toMatch(/ENOSPC/);
    expect(endpoint.calls.flatMap((c) => c.messages.map((msg) => msg.messageId))).toEqual(['ok-1']);
    const metrics = await (await fetch(m.metricsUrl)).text();
    expect(metrics).toMatch(/iot_ingest_edge_input_errors_total\{input="mqtt",error="StorageException"\} 2/);
    await device.client.endAsync();
    await m.stop();

    // Opened again (on a disk that works), the store takes input again.
    const again = await startModule(env, { iotAnalytics: endpoint.client() });
    const second = await connectDevice(again.mqtt.url);
    await second.client.publishAsync('iotanalytics/channels/disk/messages/put', '{"request":{"message":"{}"},"id":"ok-2"}', { qos: 1 });
    expect((await second.waitFor(1)).map((t) => JSON.parse(t))).toEqual([{ id: 'ok-2', response: { status: 'success' } }]);
    await second.client.endAsync();
    await again.stop();
    await endpoint.close();
  });

  it('a record damaged on disk is counted in iot_ingest_edge_persistence_unreadable_records_total; the records around it are sent after restart', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-disk-rot-'));
    dirs.push(dir);
    const endpoint = await startBatchPutEndpoint();
    endpoint.fail(1_000_000, 503, 'ServiceUnavailableException');
    const fs = new FaultyFileSystem();
    const env = { ...base, PERSISTENCE_DIR: dir };
    const first = await startEdgeModule({ config: edgeConfig(env), log: pino({ level: 'silent' }), iotAnalytics: endpoint.client(), persistenceFileSystem: fs });
    const device = await connectDevice(first.mqtt.url);
    const put = (id: string) => device.client.publishAsync('iotanalytics/channels/rot/messages/put', `{"request":{"message":"{}"},"id":"${id}"}`, { qos: 1 });
    await put('r1');
    fs.failNextWrite({ kind: 'corrupt', atByte: 40 }); // media damage: the write reports success
    await put('r2');
    await put('r3');
    await device.client.endAsync();
    await first.stop();

    endpoint.fail(0, 503, 'ServiceUnavailableException');
    const second = await startModule(env, { iotAnalytics: endpoint.client() });
    const deadline = Date.now() + 20_000;
    while (second.engine.stats().succeeded < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(endpoint.calls.flatMap((c) => c.messages.map((msg) => msg.messageId))).toEqual(['r1', 'r3']);
    expect(await (await fetch(second.metricsUrl)).text()).toMatch(/^iot_ingest_edge_persistence_unreadable_records_total 1$/m);
    await second.stop();
    await endpoint.close();
  });
});
