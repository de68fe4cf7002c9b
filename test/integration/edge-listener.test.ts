/**
 * The operations endpoints and graceful shutdown. (The listener's security rules are the hostile-client
 * suite, test/integration/edge-hostile/.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, startBatchPutEndpoint, startModule } from './edge-helpers.js';
import type { BatchPutEndpoint } from './edge-helpers.js';

let endpoint: BatchPutEndpoint;
const base = { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '1024', PublishInterval: '0' };

beforeAll(async () => {
  endpoint = await startBatchPutEndpoint();
});

afterAll(async () => {
  await endpoint?.close();
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
