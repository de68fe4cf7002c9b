/**
 * `npm run bench:cold`: the cold store over a synthetic run, time simulated — HOURS hours × PARTITIONS
 * partitions at RATE readings/s in total (one reading per event, the worst case for batching), batched as
 * the local host batches them with the repository's host.json (devstack/functions-host/batching.ts), fed
 * to the real coldPath handler and then the real compactor against Azurite. Baseline in the same run: the
 * earlier per-invocation layout (one blob per invocation and partition-hour) written from the same
 * batches. Both are queried by the real `query cold` code (count(*) plus a GROUP BY deviceId over the
 * whole run; the baseline with an empty cache, as every query ran before), the new layout a second time
 * to show the cache.
 *
 * Writes are counted as the HTTP PUT requests the Blob client sends (stageBlock, commitBlockList,
 * uploads), seen through node:diagnostics_channel.
 *
 * Environment: BENCH_COLD_HOURS (6), BENCH_COLD_PARTITIONS (4), BENCH_COLD_RATE (20 readings/s in total).
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BlobServiceClient } from '@azure/storage-blob';
import azureFunctions from '@azure/functions';
import type { ReceivedEventData } from '@azure/event-hubs';
import { HOUR_MS, encodeBlock, hourPrefix, listPartitionHours, runCompaction } from '../cold/index.js';
import { runColdQuery } from '../cli/cold.js';
import { loadDuckDb } from '../cli/duckdb.js';
import { startStorage } from '../devstack/storage/index.js';
import { BatchAccumulator } from '../devstack/functions-host/batching.js';
import { parseHostJson } from '../devstack/functions-host/host-json.js';
import { toTriggerInput } from '../devstack/functions-host/trigger-input.js';
import { createRuntime } from '../functions/clients.js';
import { createColdPathHandler } from '../functions/coldPath.js';
import { loadFunctionsConfig } from '../functions/config.js';
import type { TelemetryRecord } from '../functions/record.js';

const HOURS = Number(process.env.BENCH_COLD_HOURS ?? 6);
const PARTITIONS = Number(process.env.BENCH_COLD_PARTITIONS ?? 4);
const RATE = Number(process.env.BENCH_COLD_RATE ?? 20);
const DEVICES = 16;
const START_MS = Date.UTC(2026, 10, 23, 0);
const GRACE_MS = 10 * 60_000;
/** count(*) and the GROUP BY in one pass: the total is the sum of the groups. */
const SQL = 'SELECT deviceId, count(*) AS n, sum(count(*)) OVER () AS total FROM telemetry GROUP BY deviceId ORDER BY deviceId';
const { InvocationContext } = azureFunctions;

/** PUT requests per container (the first path segment after the account). */
const puts = new Map<string, number>();
subscribe('http.client.request.start', (message) => {
  const request = (message as { request: ClientRequest }).request;
  if (request.method !== 'PUT') return;
  const container = request.path.split('/')[2]?.split('?')[0] ?? '';
  puts.set(container, (puts.get(container) ?? 0) + 1);
});
const putsTo = (...containers: string[]): number => containers.reduce((n, c) => n + (puts.get(c) ?? 0), 0);

function event(seq: number, partition: number, atMs: number): ReceivedEventData {
  const deviceId = `dev-${String((seq * PARTITIONS + partition) % DEVICES).padStart(2, '0')}`;
  const ts = new Date(atMs).toISOString();
  return {
    body: Buffer.from(JSON.stringify({ deviceId, ts, temperature: 20 + (seq % 100) / 10, humidity: 40 + (seq % 50) / 5 })),
    properties: {},
    enqueuedTimeUtc: new Date(atMs),
    partitionKey: null,
    offset: String(seq),
    sequenceNumber: seq,
    systemProperties: { 'iothub-connection-device-id': deviceId },
    getRawAmqpMessage: () => {
      throw new Error('not used');
    },
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-bench-cold-'));
  const storage = await startStorage({ dir, containers: ['telemetry-parquet', 'per-invocation'] });
  const settings = parseHostJson(JSON.parse(await readFile('host.json', 'utf8')) as unknown);
  const config = loadFunctionsConfig({
    IOTHUB_EVENTS: 'Endpoint=sb://localhost;EntityPath=hub',
    COSMOS_ENDPOINT: 'https://127.0.0.1:1',
    COLD_STORAGE_CONNECTION_STRING: storage.connection.connectionString,
    AWS_REGION: 'us-east-1',
  });
  const runtime = createRuntime(config);
  const handler = createColdPathHandler(runtime);
  const service = BlobServiceClient.fromConnectionString(storage.connection.connectionString);
  const cold = service.getContainerClient('telemetry');
  const parquet = service.getContainerClient('telemetry-parquet');
  const perInvocation = service.getContainerClient('per-invocation');
  const readings = HOURS * 3600 * RATE;
  process.stdout.write(
    `cold bench: ${HOURS} h × ${PARTITIONS} partitions at ${RATE} readings/s in total = ${readings} readings, one per event; ` +
      `host.json minEventBatchSize ${settings.minEventBatchSize}, maxEventBatchSize ${settings.maxEventBatchSize}, maxWaitTime ${settings.maxWaitTimeMs} ms\n`,
  );

  try {
    // Simulated time, one second at a time: events arrive round-robin over the partitions, each partition
    // batches as the host does, each batch is one invocation.
    const batchers = Array.from({ length: PARTITIONS }, () => new BatchAccumulator<ReceivedEventData>(settings));
    const nextSeq = new Array<number>(PARTITIONS).fill(0);
    let invocations = 0;
            let sent = 0;
    const perSecond = RATE;
    const t0 = performance.now();
    const endMs = START_MS + HOURS * HOUR_MS;
    for (let nowMs = START_MS; nowMs < endMs || batchers.some((b) => b.size > 0); nowMs += 1000) {
      for (let i = 0; i < perSecond && nowMs < endMs; i++, sent++) {
        const partition = sent % PARTITIONS;
        batchers[partition]?.add([event(nextSeq[partition]!++, partition, nowMs + Math.floor((i * 1000) / perSecond))], nowMs);
      }
      const due = nowMs >= endMs ? nowMs + settings.maxWaitTimeMs : nowMs;
      await Promise.all(
        batchers.map(async (batcher, partition) => {
          for (let batch = batcher.take(due); batch; batch = batcher.take(due)) {
            invocations++;
            const { messages, triggerMetadata } = toTriggerInput(
              batch,
              { fullyQualifiedNamespace: 'localhost', eventHubName: 'hub', consumerGroup: 'cold', partitionId: String(partition) },
              'binary',
            );
            await handler(messages, new InvocationContext({ invocationId: `i${invocations}`, functionName: 'coldPath', triggerMetadata, logHandler: () => undefined }));
            // The earlier layout from the same records: one blob per invocation and partition-hour.
            const records = batch.map((e) => JSON.parse((e.body as Buffer).toString('utf8')) as { deviceId: string; ts: string });
            const byHour = new Map<string, TelemetryRecord[]>();
            batch.forEach((e, k) => {
              const r = records[k] as { deviceId: string; ts: string };
              const record: TelemetryRecord = {
                id: `${partition}-${e.sequenceNumber}-0`,
                deviceId: r.deviceId,
                channel: null,
                ts: r.ts,
                enqueuedAt: (e.enqueuedTimeUtc as Date).toISOString(),
                partition: String(partition),
                sequenceNumber: e.sequenceNumber,
                index: 0,
                properties: {},
                body: r,
              };
              const hour = hourPrefix(record.enqueuedAt);
              byHour.set(hour, [...(byHour.get(hour) ?? []), record]);
            });
            await Promise.all(
              [...byHour.entries()].map(([hour, group]) =>
                perInvocation
                  .getBlockBlobClient(`${hour}p${partition}-${group[0]!.sequenceNumber}-${group[group.length - 1]!.sequenceNumber}.jsonl.gz`)
                  .uploadData(encodeBlock(group), { blobHTTPHeaders: { blobContentType: 'application/x-ndjson', blobContentEncoding: 'gzip' } }),
              ),
            );
          }
        }),
      );
    }
    const log = { info: () => undefined, warn: (f: Record<string, unknown>, m: string) => process.stderr.write(`${m} ${JSON.stringify(f)}\n`) };
    const compaction = await runCompaction(cold, parquet, { nowMs: endMs, graceMs: GRACE_MS, log });
    const newPuts = putsTo('telemetry', 'telemetry-parquet');
    const baselinePuts = putsTo('per-invocation');
    const writeSeconds = (performance.now() - t0) / 1000;

    let objects = 0;
    let parquetFiles = 0;
    for (let h = 0; h < HOURS; h++) {
      for (const ph of await listPartitionHours(cold, parquet, hourPrefix(new Date(START_MS + h * HOUR_MS).toISOString()))) {
        objects += ph.jsonl.length;
        if (ph.compacted) parquetFiles++;
      }
    }
    let baselineBlobs = 0;
    for await (const _ of perInvocation.listBlobsFlat()) baselineBlobs++;
    process.stdout.write(
      `wrote ${sent} readings in ${invocations} invocations (${writeSeconds.toFixed(1)} s): ${objects} JSON Lines objects, ${parquetFiles} Parquet files ` +
        `(${compaction.written} written), ${newPuts} PUTs; per-invocation layout ${baselineBlobs} blobs, ${baselinePuts} PUTs\n`,
    );

    const range = { fromMs: START_MS, toMs: endMs };
    const query = async (container: string, cacheDir: string): Promise<{ ms: number; total: unknown; files: unknown }> => {
      const q0 = performance.now();
      const result = await runColdQuery({
        storage: { connectionString: storage.connection.connectionString, container },
        parquetContainer: 'telemetry-parquet',
        cacheDir,
        range,
        sql: SQL,
        progressStream: { write: () => true },
      });
      return { ms: performance.now() - q0, total: result.rows[0]?.total, files: result.files };
    };
    // DuckDB's module is loaded once per process, before any timed query: otherwise the first query would
    // pay it and the baseline, run after it, would not.
    await loadDuckDb();
    const first = await query('telemetry', path.join(dir, 'cache-new'));
    const repeat = await query('telemetry', path.join(dir, 'cache-new'));
    const baseline = await query('per-invocation', path.join(dir, 'cache-baseline'));
    process.stdout.write(
      `query: ${first.ms.toFixed(0)} ms (${JSON.stringify(first.files)}, ${String(first.total)} rows), repeated ${repeat.ms.toFixed(0)} ms ` +
        `(${(first.ms / repeat.ms).toFixed(1)}x faster, ${JSON.stringify(repeat.files)}); per-invocation layout ${baseline.ms.toFixed(0)} ms (${String(baseline.total)} rows)\n`,
    );
    if (Number(first.total) !== sent || Number(baseline.total) !== sent) process.stdout.write(`ROW COUNT MISMATCH: sent ${sent}\n`);
    const o = objects / (HOURS * PARTITIONS);
    const w = (newPuts / sent) * 1000;
    process.stdout.write(
      `cold: ${o.toFixed(2)} objects per partition-hour, ${w.toFixed(1)} writes per 1000 readings, query ${first.ms.toFixed(0)} ms, ` +
        `${(baseline.ms / first.ms).toFixed(1)}x of per-invocation layout (${baseline.ms.toFixed(0)} ms)\n`,
    );
  } finally {
    await runtime.close();
    await storage.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
