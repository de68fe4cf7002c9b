/**
 * kill -9 with persistence on: a real child process running the module is killed mid-stream; after a
 * restart on the same PERSISTENCE_DIR every message whose QoS 1 PUBACK the device received is delivered,
 * in order. (The upstream refuses everything before the kill, so all of it is still queued.)
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startBatchPutEndpoint } from '../integration/edge-helpers.js';
import type { BatchPutEndpoint } from '../integration/edge-helpers.js';
import { startUntilReady } from './child-process.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
let endpoint: BatchPutEndpoint | undefined;

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await endpoint?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function startChild(env: Record<string, string>): Promise<{ child: ChildProcess; mqttUrl: string }> {
  const { child, ready } = await startUntilReady<{ msg?: string; mqttUrl?: string }>(
    'edge-module/main.ts',
    env,
    (line) => line.msg === 'edge module ready' && line.mqttUrl !== undefined,
    children,
  );
  return { child, mqttUrl: ready.mqttUrl as string };
}

describe('kill -9 with persistence', () => {
  it('loses no acknowledged message: after restart all of them are delivered, in order', async () => {
    endpoint = await startBatchPutEndpoint();
    endpoint.fail(1_000_000, 503, 'ServiceUnavailableException');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-kill-'));
    dirs.push(dir);
    const env = {
      SINK: 'iotanalytics',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_IOTANALYTICS: endpoint.endpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_MAX_ATTEMPTS: '1',
      MemorySize: '65535',
      PublishInterval: '0',
      IotAnalyticsBatchSizePerChannel: '100',
      IotAnalyticsQueueSizePerChannel: '100000',
      PERSISTENCE_DIR: dir,
      MQTT_PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    };
    const first = await startChild(env);
    const device = await mqtt.connectAsync(first.mqttUrl, { reconnectPeriod: 0 });
    device.on('error', () => undefined);
    const acked: string[] = [];
    let killed = false;
    const publishes: Promise<void>[] = [];
    for (let i = 0; i < 3000 && !killed; i++) {
      const id = `k${i}`;
      publishes.push(
        device
          .publishAsync('iotanalytics/channels/durable/messages/put', JSON.stringify({ request: { message: `{"i":${i}}` }, id }), { qos: 1 })
          .then(
            () => {
              if (!killed) acked.push(id);
              if (acked.length >= 1000 && !killed) {
                killed = true;
                first.child.kill('SIGKILL');
              }
            },
            () => undefined,
          ),
      );
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await Promise.race([Promise.allSettled(publishes), new Promise((r) => setTimeout(r, 5000))]);
    if (!killed) {
      killed = true;
      first.child.kill('SIGKILL');
    }
    if (first.child.exitCode === null && first.child.signalCode === null) await new Promise((r) => first.child.once('exit', r));
    device.end(true);
    expect(acked.length).toBeGreaterThanOrEqual(1000);
    expect(endpoint.calls).toHaveLength(0);

    endpoint.fail(0, 503, 'ServiceUnavailableException');
    await startChild(env);
    const deadline = Date.now() + 30_000;
    const delivered = () => endpoint!.calls.flatMap((c) => c.messages.map((m) => m.messageId));
    while (Date.now() < deadline && !acked.every((id) => delivered().includes(id))) await new Promise((r) => setTimeout(r, 200));
    const got = delivered();
    const missing = acked.filter((id) => !got.includes(id));
    expect(missing).toEqual([]);
    // Queue order survives the restart.
    const positions = acked.map((id) => got.indexOf(id));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });
});
