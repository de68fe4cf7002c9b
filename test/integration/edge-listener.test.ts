/**
 * The listener's security options (TLS with the devstack CA, username/password, client certificates),
 * the operations endpoints, and graceful shutdown.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevstackCertificates } from '../../devstack/certs.js';
import type { DevstackCertificates } from '../../devstack/certs.js';
import { connectDevice, startBatchPutEndpoint, startModule } from './edge-helpers.js';
import type { BatchPutEndpoint } from './edge-helpers.js';

/** Resolves with how a connection attempt ended: 'connect', or 'refused' (error or close first). */
function attempt(url: string, options: mqtt.IClientOptions): Promise<'connect' | 'refused'> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
    const done = (result: 'connect' | 'refused') => {
      client.end(true);
      resolve(result);
    };
    client.once('connect', () => done('connect'));
    client.once('error', () => done('refused'));
    client.once('close', () => done('refused'));
  });
}

let dir: string;
let certs: DevstackCertificates;
let endpoint: BatchPutEndpoint;
const base = { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '1024', PublishInterval: '0' };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edge-listener-'));
  certs = await ensureDevstackCertificates(dir);
  endpoint = await startBatchPutEndpoint();
});

afterAll(async () => {
  await endpoint?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('MQTT listener security', () => {
  it('TLS + username/password: the right credentials over TLS work, wrong ones are refused', async () => {
    const m = await startModule(
      { ...base, MQTT_TLS_CERT_FILE: certs.serverCertPath, MQTT_TLS_KEY_FILE: certs.serverKeyPath, MQTT_USERNAME: 'device', MQTT_PASSWORD: 's3cret' },
      { iotAnalytics: endpoint.client() },
    );
    expect(m.mqtt.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const port = m.mqtt.port;
    const device = await connectDevice(`mqtts://localhost:${port}`, { ca: certs.caCert, username: 'device', password: 's3cret' });
    await device.client.publishAsync('iotanalytics/channels/secure/messages/put', '{"request":{"message":"{}"},"id":"s1"}', { qos: 1 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"s1"}']);
    await device.client.endAsync();
    expect(await attempt(`mqtts://localhost:${port}`, { ca: certs.caCert, username: 'device', password: 'wrong' })).toBe('refused');
    expect(await attempt(`mqtts://localhost:${port}`, { ca: certs.caCert })).toBe('refused');
    expect(await attempt(`mqtt://127.0.0.1:${port}`, {})).toBe('refused');
    await m.stop();
  });

  it('client-certificate auth: a certificate signed by MQTT_TLS_CA_FILE is required', async () => {
    const clientCa = await generate([{ name: 'commonName', value: 'edge-client-ca' }], { keySize: 2048, extensions: [{ name: 'basicConstraints', cA: true }] });
    const client = await generate([{ name: 'commonName', value: 'device-1' }], { keySize: 2048, ca: { key: clientCa.private, cert: clientCa.cert } });
    const caFile = path.join(dir, 'client-ca.pem');
    await writeFile(caFile, clientCa.cert);
    const m = await startModule(
      { ...base, MQTT_TLS_CERT_FILE: certs.serverCertPath, MQTT_TLS_KEY_FILE: certs.serverKeyPath, MQTT_TLS_CA_FILE: caFile },
      { iotAnalytics: endpoint.client() },
    );
    const url = `mqtts://localhost:${m.mqtt.port}`;
    const device = await connectDevice(url, { ca: certs.caCert, cert: client.cert, key: client.private });
    await device.client.publishAsync('iotanalytics/channels/secure/messages/put', '{"request":{"message":"{}"},"id":"c1"}', { qos: 1 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"c1"}']);
    await device.client.endAsync();
    expect(await attempt(url, { ca: certs.caCert })).toBe('refused');
    await m.stop();
  });
});

describe('operations', () => {
  it('serves Prometheus metrics and /healthz', async () => {
    const m = await startModule(base, { iotAnalytics: endpoint.client() });
    const device = await connectDevice(m.mqtt.url);
    await device.client.publishAsync('iotanalytics/channels/ops/messages/put', '{"request":{"message":"{\\"a\\":1}"},"id":"o1"}', { qos: 1 });
    await device.waitFor(1);
    const text = await (await fetch(m.metricsUrl)).text();
    expect(text).toMatch(/iot_ingest_edge_accepted_total\{input="mqtt"\} 1/);
    expect(text).toMatch(/iot_ingest_edge_sent_total 1/);
    expect(text).toMatch(/iot_ingest_edge_batch_messages_count 1/);
    const health = await fetch(m.metricsUrl.replace('/metrics', '/healthz'));
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', sink: 'iotanalytics' });
    await device.client.endAsync();
    await m.stop();
  });

  it('SIGTERM-style stop without persistence: keeps trying until the deadline, then fails the rest with ShutdownException', async () => {
    const failing = await startBatchPutEndpoint();
    failing.fail(1_000_000, 503, 'ServiceUnavailableException');
    const m = await startModule({ ...base, SHUTDOWN_DEADLINE_SECONDS: '1' }, { iotAnalytics: failing.client() });
    const device = await connectDevice(m.mqtt.url);
    for (let i = 0; i < 5; i++) await device.client.publishAsync('iotanalytics/channels/stuck/messages/put', `{"request":{"message":"${i}"},"id":"x${i}"}`, { qos: 1 });
    const startedAt = Date.now();
    await m.stop();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    const statuses = (await device.waitFor(5)).map((s) => JSON.parse(s) as { response: { status: string; error: string }; id: string });
    expect(statuses.map((s) => s.id).sort()).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
    expect(new Set(statuses.map((s) => s.response.error))).toEqual(new Set(['ShutdownException']));
    await device.client.endAsync();
    await failing.close();
  });
});
