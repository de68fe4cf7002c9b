/**
 * The re-send fault (issue 14 item 2) and the leaf's identity end to end (item 1), on the devstack's real
 * servers: a Greengrass-style device with MQTT client id `X` publishes through the edge module (a child
 * process, persistence on) to the IoT Hub emulator, read by the local Functions host into the Cosmos DB
 * server, Azurite and the IoT Analytics emulator.
 *
 * The module is killed (SIGKILL) right after IoT Hub acknowledged its first envelope and before its store
 * recorded that; restarted on the same store with a different batch size, it sends every reading again,
 * cut into other batches. The hub then holds each reading twice — and Cosmos, the cold files and IoT
 * Analytics hold it once, under the same id.
 */
import type { ChildProcess } from 'node:child_process';
import mqtt from 'mqtt';
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import type { ReceivedEventData } from '@azure/event-hubs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIotHub } from '../../devstack/iothub/emulator.js';
import { startFunctionsHost } from '../../devstack/functions-host/index.js';
import type { FunctionsHost } from '../../devstack/functions-host/index.js';
import type { LatestDocument, ReadingDocument } from '../../functions/warmWriter.js';
import type { TelemetryRecord } from '../../functions/record.js';
import { listBlobNames, queryAll, readColdBlob, startBackends, storedMessages, waitFor } from '../integration/functions-helpers.js';
import type { Backends } from '../integration/functions-helpers.js';
import { exited, startUntilReady } from './child-process.js';

const READINGS = 60;
const CHANNEL = 'iot_ingest_default';
const DEVICE = 'X';

type Hub = Awaited<ReturnType<typeof startIotHub>>;
const children: ChildProcess[] = [];
const started = Date.now();
/** Progress on stderr: the setup takes a while on a busy machine, and a timeout should say where. */
const step = (what: string): void => void process.stderr.write(`edge-resend: ${what} after ${Date.now() - started} ms\n`);

async function startChild(env: Record<string, string>): Promise<{ child: ChildProcess; mqttUrl: string; deviceId: string }> {
  const { child, ready } = await startUntilReady<{ msg?: string; mqttUrl?: string; deviceId?: string }>(
    'test/fault/resend-child.ts',
    env,
    (line) => line.msg === 'edge ready' && line.mqttUrl !== undefined && line.deviceId !== undefined,
    children,
    60_000,
  );
  return { child, mqttUrl: ready.mqttUrl as string, deviceId: ready.deviceId as string };
}

describe('an envelope re-sent after the module died between the hub acknowledgement and its store commit', () => {
  let backends: Backends;
  let hub: Hub;
  let host: FunctionsHost;
  let consumer: EventHubConsumerClient;
  const upstream: ReceivedEventData[] = [];
  /** The module's envelopes at the hub (its statuses are events too: the devstack routes every output). */
  const envelopes = () =>
    upstream.filter((e) => e.properties?.['iot-ingest-schema'] === 'batch/v2').map((e) => e.body as { origin: string; messages: { n: number }[] });
  const entries = () => envelopes().reduce((n, e) => n + e.messages.length, 0);
  let gatewayId = '';
  /** Envelopes the first life sent; its last one was acknowledged by the hub but never committed. */
  let firstLife = 0;

  beforeAll(async () => {
    backends = await startBackends([CHANNEL]);
    hub = await startIotHub({ dir: backends.dir, mqttPort: 0, amqpPort: 0 });
    host = await startFunctionsHost({
      settings: { ...backends.settings, IotAnalyticsDefaultChannelName: CHANNEL, IOTHUB_EVENTS: hub.connection.eventHubsConnectionString, IOTHUB_EVENTHUB_NAME: hub.connection.eventHubName },
      hostSettings: { maxWaitTimeMs: 200 },
    });
    consumer = new EventHubConsumerClient('$Default', hub.connection.eventHubsConnectionString);
    consumer.subscribe({ processEvents: async (events) => void upstream.push(...events), processError: async () => undefined }, { startPosition: earliestEventPosition });

    const childEnv = (settings: Record<string, string>, killAfter: number) => ({
      DEVSTACK_DIR: backends.dir,
      HUB_CONNECTION: JSON.stringify(hub.connection),
      KILL_AFTER_UPSTREAM: String(killAfter),
      EDGE_SETTINGS: JSON.stringify({ IotAnalyticsDefaultChannelName: CHANNEL, LOG_LEVEL: 'warn', ...settings }),
    });
    // First life: the first reading goes at once, the rest wait for the next PublishInterval (10 s) and go
    // as one batch of up to 100; the module dies as soon as the hub has acknowledged that second envelope.
    const first: Awaited<ReturnType<typeof startChild>> & { sent?: number } = await startChild(childEnv({ PublishInterval: '10', IotAnalyticsBatchSizePerChannel: '100' }, 2));
    gatewayId = first.deviceId;
    step('first module life up');
    const device = await mqtt.connectAsync(first.mqttUrl, { clientId: DEVICE, reconnectPeriod: 0 });
    device.on('error', () => undefined);
    for (let i = 0; i < READINGS; i++) {
      // Python's json.dumps spacing: JSON that is not byte-for-byte canonical.
      const message = `{"i": ${i}, "temp": 23.33, "ts": "${new Date(Date.UTC(2026, 10, 23, 10, 0, i)).toISOString()}"}`;
      const acked = device.publishAsync(`iotanalytics/channels/${CHANNEL}/messages/put`, JSON.stringify({ request: { message }, id: `r${i}` }), { qos: 1 });
      await Promise.race([acked, exited(first.child)]);
    }
    expect(first.child.exitCode === null && first.child.signalCode === null, 'the module died before every reading was acknowledged').toBe(true);
    step('published');
    await exited(first.child);
    step('first module life killed');
    device.end(true);
    expect(first.child.signalCode).toBe('SIGKILL');
    await waitFor(() => envelopes().length >= 2, 30_000, 'the first life\'s two envelopes at the hub');
    firstLife = envelopes().length;
    Object.assign(first, { sent: entries() });
    // Second life on the same store: batches of 7, so the re-send is cut differently from the first send.
    await startChild(childEnv({ PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '7' }, 0));
    step('second module life up');
    const uncommitted = envelopes()[firstLife - 1]?.messages.length ?? 0;
    await waitFor(() => entries() >= (first.sent ?? 0) + uncommitted, 60_000, () => `the re-send at the hub (${entries()} entries)`);
    const container = backends.cosmosContainer();
    await waitFor(
      async () =>
        (await queryAll<number>(container, "SELECT VALUE COUNT(1) FROM c WHERE c.type = 'reading' AND c.deviceId = 'X'"))[0] === READINGS &&
        host.counters().events.coldPath === upstream.length &&
        host.counters().events.analyticsForwarder === upstream.length &&
        host.counters().events.warmPath === upstream.length,
      60_000,
      () => `every event through the three functions (${upstream.length} events; ${JSON.stringify(host.counters())})`,
    );
    step('all written');
  }, 240_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await consumer?.close();
    await host?.stop();
    await hub?.stop();
    await backends?.stop();
  });

  it('the hub got the first envelope twice, cut differently; Cosmos, the cold files and IoT Analytics have each reading once', async () => {
    const sent = envelopes();
    expect(firstLife).toBe(2);
    const uncommitted = sent[firstLife - 1]?.messages.map((m) => m.n) ?? [];
    expect(uncommitted.length).toBe(READINGS - 1);
    const secondLife = sent.slice(firstLife);
    expect(secondLife.every((e) => e.messages.length <= 7 && e.origin === sent[0]?.origin)).toBe(true);
    // The second life sent exactly the readings the first one could not record as sent, under the same n.
    expect(secondLife.flatMap((e) => e.messages.map((m) => m.n))).toEqual(uncommitted);

    const docs = await queryAll<ReadingDocument>(backends.cosmosContainer(), "SELECT * FROM c WHERE c.type = 'reading' AND c.deviceId = 'X'");
    const docIds = docs.map((d) => d.id);
    expect(docIds).toHaveLength(READINGS);
    expect(new Set(docIds).size).toBe(READINGS);
    expect(new Set(docs.map((d) => (d.body as { i: number }).i)).size).toBe(READINGS);

    const cold = backends.blobs('telemetry');
    const lines: TelemetryRecord[] = [];
    for (const name of await listBlobNames(cold)) lines.push(...(await readColdBlob(cold, name)).records);
    expect(new Set(lines.map((r) => r.id)).size).toBe(lines.length); // no line twice, statuses included
    const coldIds = lines.filter((r) => r.deviceId === DEVICE).map((r) => r.id);
    expect(coldIds).toHaveLength(READINGS);
    expect(new Set(coldIds)).toEqual(new Set(docIds));

    const ours = new Set(docIds);
    const forwarded = (await storedMessages(backends.iota, CHANNEL)).filter((m) => ours.has(m.messageId));
    expect(forwarded).toHaveLength(READINGS);
    expect(new Set(forwarded.map((m) => m.messageId))).toEqual(ours);
  });

  it('a device with client id X publishing through the module: deviceId X and gatewayId the edge device in Cosmos and the cold files, and latest:X', async () => {
    const docs = await queryAll<ReadingDocument>(backends.cosmosContainer(), "SELECT * FROM c WHERE c.type = 'reading' AND IS_DEFINED(c.gatewayId)");
    expect(docs).toHaveLength(READINGS);
    expect(docs.every((d) => d.deviceId === DEVICE && d.gatewayId === gatewayId && d.moduleId === 'iot-ingest')).toBe(true);
    expect(docs.every((d) => d.pk.startsWith(`${DEVICE}:`))).toBe(true);
    // JSON stays JSON: Python's spacing lands as body, and IoT Analytics got the device's exact bytes.
    const sample = docs.find((d) => (d.body as { i: number }).i === 5);
    expect(sample).toMatchObject({ body: { i: 5, temp: 23.33 }, requestId: 'r5' });
    const forwarded = await storedMessages(backends.iota, CHANNEL);
    const bytes = forwarded.find((m) => m.messageId === sample?.id)?.payload;
    expect(Buffer.from(bytes ?? '', 'base64').toString()).toBe('{"i": 5, "temp": 23.33, "ts": "2026-11-23T10:00:05.000Z"}');

    const cold = backends.blobs('telemetry');
    const lines: TelemetryRecord[] = [];
    for (const name of await listBlobNames(cold)) lines.push(...(await readColdBlob(cold, name)).records);
    const throughModule = lines.filter((r) => r.gatewayId !== undefined);
    expect(throughModule).toHaveLength(READINGS);
    expect(throughModule.every((r) => r.deviceId === DEVICE && r.gatewayId === gatewayId)).toBe(true);

    const latest = (await backends.cosmosContainer().item(`latest:${DEVICE}`, `latest:${DEVICE}`).read<LatestDocument>()).resource;
    expect(latest).toMatchObject({ type: 'latest', deviceId: DEVICE, gatewayId, body: { i: READINGS - 1 } });
  });
});
