/**
 * `npm run bench:e2e`: sustained readings/s through the whole local pipeline (devices → edge module / IoT
 * Hub emulator → Functions host → Cosmos DB, Blob, IoT Analytics) with zero loss, and the latency from a
 * device's publish to its reading being in Cosmos DB, next to a baseline measured in the same run: the same
 * number of readings written straight to the same Cosmos server by the warm path's writer (the sink's
 * own ceiling), as a ratio. Goals: >= 5,000 readings/s and p99 <= PublishInterval + 1 s.
 *
 * Latency is observed through `latest` documents (point reads every POLL_MS): one per direct device, and
 * the edge device's for everything sent through the edge module. When a `latest` document's `ts` reaches
 * T, every reading of that stream published up to T has been upserted: the writer upserts readings before
 * it moves `latest`, a direct device's readings stay in order on one partition, and the Greengrass-style
 * devices use `put` only here, so their readings share one FIFO channel. A reading's `ts` is its publish
 * time.
 *
 * Environment: BENCH_E2E_RATE (target readings/s, default 5000), BENCH_E2E_SECONDS (default 2),
 * BENCH_E2E_DEVICES (default 8, half through the edge module), BENCH_E2E_BASELINE_READINGS (default 5000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CosmosClient } from '@azure/cosmos';
import { cosmosClientOptions } from '../contracts/cosmos.js';
import { startStack } from '../devstack/orchestrator/stack.js';
import type { Simulator } from '../devstack/simulator/simulator.js';
import { SensorModel } from '../devstack/simulator/telemetry.js';
import { compare, cosmosContent } from '../devstack/simulator/verify.js';
import type { TelemetryRecord } from '../functions/record.js';
import { writeWarm } from '../functions/warmWriter.js';

const RATE = Number(process.env.BENCH_E2E_RATE ?? 5000);
const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 2);
/** The baseline's rate is measured on at most this many readings (it is a rate, not a drain). */
const BASELINE_READINGS = Number(process.env.BENCH_E2E_BASELINE_READINGS ?? 5000);
const DEVICES = Number(process.env.BENCH_E2E_DEVICES ?? 8);
/** The edge module sends a channel's next batch as soon as the previous one is acknowledged. */
const PUBLISH_INTERVAL_S = 0;
const POLL_MS = 50;
const DRAIN_TIMEOUT_MS = 120_000;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-bench-e2e-'));
  const perDevice = Math.max(1, Math.round((RATE * SECONDS) / DEVICES));
  const total = perDevice * DEVICES;
  process.stdout.write(
    `e2e bench: ${DEVICES} devices (half via the edge module), target ${RATE} readings/s for ${SECONDS} s = ${total} readings, PublishInterval ${PUBLISH_INTERVAL_S}\n`,
  );

  const stack = await startStack({
    dir,
    devices: DEVICES,
    ratePerSecond: RATE,
    edgeSettings: {
      PublishInterval: String(PUBLISH_INTERVAL_S),
      IotAnalyticsBatchSizePerChannel: '100',
      // Room for the whole run: the bench measures the pipeline, not the connector's drop behaviour.
      IotAnalyticsQueueSizePerChannel: String(total),
      MemorySize: String(512 * 1024),
    },
    simulator: {
      readingsPerDevice: perDevice,
      trackReadings: true,
      greengrassInputs: ['put'],
      maxInFlightPerDevice: 5000,
    },
  });
  const simulator = stack.simulator as Simulator;
  const cosmos = stack.connections.cosmos as {
    endpoint: string;
    key: string;
    database: string;
    container: string;
    caCertPath?: string;
  };
  const client = new CosmosClient(cosmosClientOptions(cosmos));
  const container = client.database(cosmos.database).container(cosmos.container);

  try {
    // Streams whose `latest` document is polled: one per device, direct or behind the edge module (records
    // of readings sent through the module carry the publishing device as deviceId, contracts §5).
    const streamOf = (reading: { path: string; deviceId: string }): string => reading.deviceId;
    // Observations per stream: (time, newest reading timestamp in Cosmos).
    const observed = new Map<string, Array<{ atMs: number; tsMs: number }>>();
    const newest = new Map<string, number>();
    let lastArrivalMs = 0;
    let polling = true;
    const lastPublished = (): Map<string, number> => {
      const last = new Map<string, number>();
      for (const reading of simulator.sent.values()) {
        const stream = streamOf(reading);
        last.set(stream, Math.max(last.get(stream) ?? 0, reading.publishedAtMs));
      }
      return last;
    };
    let publishingDone = false;
    const poller = (async () => {
      while (polling) {
        const streams = [...new Set([...simulator.sent.values()].map(streamOf))];
        await Promise.all(
          streams.map(async (stream) => {
            const id = `latest:${stream}`;
            const { resource } = await container
              .item(id, id)
              .read<{ ts?: string }>()
              .catch(() => ({ resource: undefined }));
            const tsMs = resource?.ts === undefined ? Number.NaN : Date.parse(resource.ts);
            if (!(tsMs > (newest.get(stream) ?? -1))) return;
            const atMs = Date.now();
            newest.set(stream, tsMs);
            lastArrivalMs = atMs;
            const list = observed.get(stream) ?? [];
            list.push({ atMs, tsMs });
            observed.set(stream, list);
          }),
        );
        if (publishingDone) {
          const last = lastPublished();
          if ([...last.entries()].every(([stream, publishedAtMs]) => (newest.get(stream) ?? -1) >= publishedAtMs))
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();

    await simulator.finished();
    publishingDone = true;
    const publishEndMs = Date.now();
    process.stdout.write(`published; waiting for Cosmos to hold every reading (up to ${DRAIN_TIMEOUT_MS / 1000} s)\n`);
    const drained = await Promise.race([
      poller.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS)),
    ]);
    polling = false;

    // Zero loss: Cosmos holds exactly the sent readings, each once.
    process.stdout.write(
      `${drained ? 'drained' : 'drain timed out'} after ${((Date.now() - publishEndMs) / 1000).toFixed(1)} s; checking every id\n`,
    );
    const sent = [...simulator.sent.keys()];
    // The drain signal follows each stream's `latest` document, which can move ahead of readings still in
    // another invocation; "lost" must mean never arrived, so re-check until complete or 30 s pass.
    let comparison = compare(sent, await cosmosContent(cosmos));
    for (const settleUntil = Date.now() + 30_000; comparison.missing.length > 0 && Date.now() < settleUntil; ) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      comparison = compare(sent, await cosmosContent(cosmos));
    }
    const lost = comparison.missing.length + (sent.length < total ? total - sent.length : 0);
    const firstPublishMs = Math.min(...[...simulator.sent.values()].map((r) => r.publishedAtMs));
    const publishRate = total / ((publishEndMs - firstPublishMs) / 1000);
    const e2eRate = total / ((lastArrivalMs - firstPublishMs) / 1000);

    // Latency: a reading is in Cosmos at the first observation whose sequence reaches it.
    const latencies: number[] = [];
    let unobserved = 0;
    for (const tracked of simulator.sent.values()) {
      const hit = observed.get(streamOf(tracked))?.find((o) => o.tsMs >= tracked.publishedAtMs);
      if (hit) latencies.push(hit.atMs - tracked.publishedAtMs);
      else unobserved++;
    }
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const counters = simulator.counters();
    process.stdout.write(
      `devices published ${total} readings at ${publishRate.toFixed(0)} readings/s (send errors ${counters.sendErrors}, fail statuses ${counters.statusFail}); ` +
        `drained ${drained ? 'yes' : 'NO (timeout)'}; latency unobserved ${unobserved}; duplicates ${comparison.duplicated.length}, unexpected ${comparison.unexpected.length}\n`,
    );

    // Baseline: the same number of readings straight into Cosmos by the warm writer, in trigger-sized
    // batches, one writer per hub partition (as the warm function runs).
    const partitions = (stack.connections.iotHub?.partitionCount as number | undefined) ?? 4;
    const batchSize = 100;
    const model = new SensorModel('baseline-0');
    const now = Date.now();
    const baselineCount = Math.min(total, BASELINE_READINGS);
    const records: TelemetryRecord[] = Array.from({ length: baselineCount }, (_, i) => {
      const reading = model.next(now + i);
      const deviceId = `baseline-${i % DEVICES}`;
      return {
        id: `b${i % partitions}-${i}-0`,
        deviceId,
        channel: null,
        ts: reading.ts,
        enqueuedAt: reading.ts,
        partition: String(i % partitions),
        sequenceNumber: i,
        index: 0,
        properties: {},
        body: { ...reading, deviceId, readingId: `${deviceId}:${i}` },
      };
    });
    const b0 = performance.now();
    await Promise.all(
      [...Array(partitions).keys()].map(async (p) => {
        const mine = records.filter((r) => r.partition === String(p));
        for (let i = 0; i < mine.length; i += batchSize) {
          await writeWarm(container, mine.slice(i, i + batchSize), { ttlSeconds: 30 * 24 * 3600 });
        }
      }),
    );
    const baselineRate = baselineCount / ((performance.now() - b0) / 1000);

    process.stdout.write(
      `e2e: ${e2eRate.toFixed(0)} readings/s, ${(e2eRate / baselineRate).toFixed(2)}x of warm writer straight to Cosmos (${baselineRate.toFixed(0)} readings/s), ` +
        `p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, lost ${lost}\n`,
    );
  } finally {
    client.dispose();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
