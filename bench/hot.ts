/**
 * `npm run bench:hot`: readings through the real hotPath handler (rules, per-device state in Cosmos,
 * alert documents, webhook POSTs) against the same readings through a plain loop that only parses them
 * (the trigger's events into records, as every function does first), in the same run.
 *
 * Setup: the devstack Cosmos DB server in its own process, the devstack alert webhook receiver (HTTP on
 * loopback), trigger inputs in the exact shape the Functions host delivers, batches of host.json's
 * `maxEventBatchSize` per partition, partitions invoked concurrently and each in order (as the host does).
 * Readings carry anomalies (temperature spikes) so alerts are raised and resolved all along.
 *
 * Alert latency: from the reading's enqueue (the moment its batch is handed to the handler, stamped as
 * its `enqueuedTimeUtc`) to the webhook receiving the POST; for a window alert from the window's end,
 * which is earlier than the reading that closed it, so the figure errs high.
 *
 * Environment: BENCH_HOT_READINGS (default 100000), BENCH_HOT_DEVICES (16), BENCH_HOT_PARTITIONS (4),
 * BENCH_HOT_BATCH (host.json maxEventBatchSize). Last line:
 * `hot: <N> readings/s, <R>x of parse-only, alert p99 <L> ms`. Goals: R >= 0.5, L <= 1000.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import azureFunctions from '@azure/functions';
import type { ReceivedEventData } from '@azure/event-hubs';
import { CosmosClient } from '@azure/cosmos';
import { startCosmosChild } from './cosmos-child.js';
import { toTriggerInput } from '../devstack/functions-host/trigger-input.js';
import type { TriggerInput } from '../devstack/functions-host/trigger-input.js';
import { startWebhookReceiver } from '../devstack/webhook/index.js';
import { parseHostJson } from '../devstack/functions-host/host-json.js';

// The functions' logger reads its level when it loads: per-batch info lines would be measured too.
process.env.IOT_INGEST_LOG_LEVEL ??= 'warn';
const { DEFAULT_TRUSTED_MODULES, loadFunctionsConfig } = await import('../functions/config.js');
const { createRuntime } = await import('../functions/clients.js');
const { createHotPathHandler } = await import('../functions/hotPath.js');
const { eventsFromTrigger } = await import('../functions/trigger.js');
const { toReadingsAll } = await import('../functions/record.js');

const { InvocationContext } = azureFunctions;

const READINGS = Number(process.env.BENCH_HOT_READINGS ?? 100_000);
const DEVICES = Number(process.env.BENCH_HOT_DEVICES ?? 16);
const PARTITIONS = Number(process.env.BENCH_HOT_PARTITIONS ?? 4);
const HOST_JSON = parseHostJson(JSON.parse(await readFile('host.json', 'utf8')) as unknown);
const BATCH = Number(process.env.BENCH_HOT_BATCH ?? HOST_JSON.maxEventBatchSize);
/** A spike starts at about one reading in this many, per device, and lasts SPIKE_READINGS readings. */
const SPIKE_EVERY = 5000;
const SPIKE_READINGS = 20;

const RULES = {
  rules: [
    { id: 'too-hot', field: 'temperatureC', op: '>', value: 30 },
    { id: 'too-humid', field: 'humidityPct', op: '>=', value: 90 },
    { id: 'avg-hot', field: 'temperatureC', op: '>', value: 26, window: { seconds: 1, agg: 'avg' } },
    { id: 'vibration-peak', field: 'vibrationMmS', op: '>=', value: 6, window: { seconds: 1, agg: 'max' } },
    { id: 'busy', field: 'temperatureC', op: '>', value: 1000, window: { seconds: 1, agg: 'count' } },
    { id: 'silent', staleSeconds: 60 },
  ],
};

interface PartitionBatches {
  readonly partitionId: string;
  readonly batches: TriggerInput[];
}

/** Readings like the simulator's, spread over partitions by device, cut into trigger batches. */
function makeBatches(devicePrefix: string, readings: number): PartitionBatches[] {
  const perPartition: ReceivedEventData[][] = Array.from({ length: PARTITIONS }, () => []);
  const spikeLeft = new Array<number>(DEVICES).fill(0);
  let random = 42;
  const next = (): number => (random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < readings; i++) {
    const device = i % DEVICES;
    const deviceId = `${devicePrefix}-${String(device).padStart(3, '0')}`;
    const seq = Math.floor(i / DEVICES);
    if (spikeLeft[device] === 0 && next() < 1 / SPIKE_EVERY) spikeLeft[device] = SPIKE_READINGS;
    const spiking = spikeLeft[device]! > 0;
    if (spiking) spikeLeft[device]!--;
    const body = {
      readingId: `${deviceId}:${seq}`,
      deviceId,
      seq,
      ts: new Date(Date.UTC(2026, 10, 23) + seq).toISOString(),
      temperatureC: Number(((spiking ? 36 : 22) + next() * 2).toFixed(2)),
      humidityPct: Number((45 + next() * 10).toFixed(1)),
      vibrationMmS: Number((1 + next() * (next() < 0.01 ? 8 : 1)).toFixed(3)),
    };
    const events = perPartition[device % PARTITIONS]!;
    events.push({
      body: Buffer.from(JSON.stringify(body)),
      properties: {},
      enqueuedTimeUtc: new Date(0),
      partitionKey: null,
      offset: String(events.length * 400),
      sequenceNumber: events.length,
      systemProperties: {
        'iothub-connection-device-id': deviceId,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
      },
      getRawAmqpMessage: () => {
        throw new Error('not used');
      },
    });
  }
  return perPartition.map((events, p) => {
    const partition = {
      fullyQualifiedNamespace: 'localhost',
      eventHubName: 'bench',
      consumerGroup: 'hot',
      partitionId: String(p),
    };
    const batches: TriggerInput[] = [];
    for (let i = 0; i < events.length; i += BATCH)
      batches.push(toTriggerInput(events.slice(i, i + BATCH), partition, 'binary'));
    return { partitionId: String(p), batches };
  });
}

/** The baseline: the trigger's events into records, nothing else. */
function parseOnly(partitions: readonly PartitionBatches[]): { readings: number; ms: number } {
  let readings = 0;
  const t0 = performance.now();
  for (const { batches } of partitions) {
    for (const batch of batches) {
      readings += toReadingsAll(eventsFromTrigger(batch.messages, batch.triggerMetadata), { defaultChannel: undefined, trustedModules: new Set(DEFAULT_TRUSTED_MODULES) })
        .readings.length;
    }
  }
  return { readings, ms: performance.now() - t0 };
}

/** Stamp a batch as enqueued now (what the hub would have done just before the host delivered it). */
function enqueuedNow(batch: TriggerInput): void {
  const now = new Date().toISOString();
  const times = batch.triggerMetadata.enqueuedTimeUtcArray as string[];
  for (let i = 0; i < times.length; i++) times[i] = now;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-bench-hot-'));
  const cosmos = await startCosmosChild(dir);
  const receiver = await startWebhookReceiver();
  const agent = new https.Agent({ ca: await readFile(cosmos.caCertPath), keepAlive: true });
  const admin = new CosmosClient({
    endpoint: cosmos.endpoint,
    key: cosmos.key,
    agent,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const runtime = createRuntime(
    loadFunctionsConfig({
      IOTHUB_EVENTS: 'Endpoint=sb://localhost;EntityPath=bench',
      COSMOS_ENDPOINT: cosmos.endpoint,
      COSMOS_KEY: cosmos.key,
      COSMOS_CA_CERT_PATH: cosmos.caCertPath,
      COLD_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      AWS_REGION: 'us-east-1',
      HOT_RULES: JSON.stringify(RULES),
      HOT_WEBHOOK_URL: receiver.connection.url,
    }),
  );
  try {
    await admin
      .database(cosmos.database)
      .containers.createIfNotExists({ id: 'alerts', partitionKey: { paths: ['/pk'] } });
    const partitions = makeBatches('bench', READINGS);
    const batchCount = partitions.reduce((n, p) => n + p.batches.length, 0);

    // Both sides are warmed up outside the measurement, so the ratio compares steady states: the parse-only
    // loop on the first batches (JIT), the handler on readings of other devices (its JIT, the first TLS
    // connections to Cosmos and the webhook; the measured devices' state stays untouched).
    parseOnly(partitions.map((p) => ({ ...p, batches: p.batches.slice(0, 2) })));
    const handler = createHotPathHandler(runtime);
    const invoke = (partitionId: string, batch: TriggerInput, id: string): Promise<unknown> =>
      Promise.resolve(
        handler(
          batch.messages,
          new InvocationContext({
            invocationId: id,
            functionName: 'hotPath',
            triggerMetadata: batch.triggerMetadata,
            logHandler: () => undefined,
          }),
        ),
      ).catch((err: unknown) => {
        throw new Error(`hotPath failed on partition ${partitionId}: ${(err as Error).message}`);
      });
    const runAll = (set: readonly PartitionBatches[], label: string): Promise<unknown> =>
      Promise.all(
        set.map(async ({ partitionId, batches }) => {
          for (let i = 0; i < batches.length; i++) {
            enqueuedNow(batches[i]!);
            await invoke(partitionId, batches[i]!, `${label}-${partitionId}-${i}`);
          }
        }),
      );
    await runAll(makeBatches('warmup', Math.min(READINGS, PARTITIONS * BATCH * 3)), 'warmup');
    const countersAfterWarmup = { ...runtime.counters };

    // Parse-only is short and this machine is noisy: its rate is the median of three passes.
    const passes = [parseOnly(partitions), parseOnly(partitions), parseOnly(partitions)].sort((a, b) => a.ms - b.ms);
    const parse = passes[1]!;
    const parseRate = parse.readings / (parse.ms / 1000);
    console.log(
      `hot: parse-only ${Math.round(parseRate)} readings/s, median of 3 passes (${passes.map((p) => Math.round(p.ms)).join(', ')} ms; ${parse.readings} readings, ${batchCount} batches of up to ${BATCH}, ${DEVICES} devices, ${PARTITIONS} partitions)`,
    );

    const receivedBefore = receiver.received().length;
    const t0 = performance.now();
    await runAll(partitions, 'run');
    const hotMs = performance.now() - t0;
    // Deliveries are done inside the invocations; wait only for stragglers of the last batch.
    await new Promise((r) => setTimeout(r, 200));
    const hotRate = parse.readings / (hotMs / 1000);

    const alerts = receiver.received().slice(receivedBefore);
    const latencies = alerts.map((a) => a.receivedAtMs - Date.parse(a.body.at)).sort((a, b) => a - b);
    // The measured run's own counts (the warm-up's taken away).
    const since = (name: 'alertsRaised' | 'alertsResolved' | 'webhookDelivered' | 'webhookFailed'): number =>
      runtime.counters[name] - countersAfterWarmup[name];
    console.log(
      `hot: ${since('alertsRaised')} raised, ${since('alertsResolved')} resolved, ${since('webhookDelivered')} delivered (${receiver.counters().repeats} repeats), ` +
        `${since('webhookFailed')} failed; alert latency p50 ${Math.round(percentile(latencies, 50))} ms over ${latencies.length} notifications`,
    );
    console.log(
      `hot: ${Math.round(hotRate)} readings/s, ${(hotRate / parseRate).toFixed(2)}x of parse-only, alert p99 ${Math.round(percentile(latencies, 99))} ms`,
    );
  } finally {
    await runtime.close();
    admin.dispose();
    agent.destroy();
    await receiver.stop();
    await cosmos.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:hot failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
