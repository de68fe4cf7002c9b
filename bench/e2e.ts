/**
 * `npm run bench:e2e`: the whole local pipeline (devices → edge module / IoT Hub emulator → Functions host
 * → Cosmos DB, Blob, IoT Analytics) against its own sink's ceiling, measured in the same run: the warm
 * path's writer straight to the same kind of Cosmos server (trigger-sized batches, one writer per hub
 * partition). Three phases:
 *
 * 1. **Ceiling** — the warm writer alone against a fresh Cosmos server: W readings/s.
 * 2. **Throughput** — devices offer BENCH_E2E_RATE readings/s (above W) for BENCH_E2E_SECONDS: N readings/s
 *    = readings / (last reading in Cosmos − first publish). Goal: N ≥ 0.8 W.
 * 3. **Latency** — devices offer W/2 readings/s for BENCH_E2E_LATENCY_SECONDS: p50/p99 from a device's
 *    publish to its reading being in Cosmos. Goal: p99 ≤ 3,000 ms.
 * Both pipeline runs must lose nothing (every sent reading in Cosmos, checked by id).
 *
 * Processes: Cosmos, Azurite and the IoT Analytics emulator each run in a process of their own (their
 * `npm run cosmos|storage|iotanalytics` entries), so the pipeline's process (hub, edge module, Functions
 * host, simulator) has a core to itself rather than sharing one event loop with the servers; each phase
 * starts them fresh. The ceiling is measured the same way (its Cosmos server in its own process).
 *
 * Latency is observed through `latest` documents (point reads every POLL_MS): one per direct device, and
 * the edge device's for everything sent through the edge module. When a `latest` document's `ts` reaches
 * T, every reading of that stream published up to T has been upserted: the writer upserts readings before
 * it moves `latest`, a direct device's readings stay in order on one partition, and the Greengrass-style
 * devices use `put` only here, so their readings share one FIFO channel. A reading's `ts` is its publish
 * time.
 *
 * Environment: BENCH_E2E_RATE (offered readings/s in the throughput phase, default 5000),
 * BENCH_E2E_SECONDS (default 3), BENCH_E2E_LATENCY_SECONDS (default 10), BENCH_E2E_LATENCY_RATE (default
 * half the measured ceiling), BENCH_E2E_DEVICES (default 8, half through the edge module),
 * BENCH_E2E_BASELINE_READINGS (default 5000).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CosmosClient } from '@azure/cosmos';
import { readConnections } from '../contracts/connections.js';
import { waitForReadyLine } from './child-ready.js';
import { cosmosClientOptions } from '../contracts/cosmos.js';
import { DEFAULT_CHANNEL, TELEMETRY_CHANNEL } from '../devstack/orchestrator/components.js';
import { startStack } from '../devstack/orchestrator/stack.js';
import type { Simulator } from '../devstack/simulator/simulator.js';
import { SensorModel } from '../devstack/simulator/telemetry.js';
import { compare, cosmosContent } from '../devstack/simulator/verify.js';
import type { TelemetryRecord } from '../functions/record.js';
import { writeWarm } from '../functions/warmWriter.js';

const RATE = Number(process.env.BENCH_E2E_RATE ?? 5000);
const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 3);
const LATENCY_SECONDS = Number(process.env.BENCH_E2E_LATENCY_SECONDS ?? 10);
/** The baseline's rate is measured on this many readings (it is a rate, not a drain). */
const BASELINE_READINGS = Number(process.env.BENCH_E2E_BASELINE_READINGS ?? 5000);
const DEVICES = Number(process.env.BENCH_E2E_DEVICES ?? 8);
const PARTITIONS = 4;
/** The edge module sends a channel's next batch as soon as the previous one is acknowledged. */
const PUBLISH_INTERVAL_S = 0;
const POLL_MS = 50;
const DRAIN_TIMEOUT_MS = 120_000;
const SERVER_START_TIMEOUT_MS = 60_000;
/** The check of every id reads all readings in one query, possibly while the server still works off a backlog. */
const VERIFY_TIMEOUT_MS = 600_000;

interface CosmosConnection {
  endpoint: string;
  key: string;
  database: string;
  container: string;
  caCertPath?: string;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

interface ServerProcess {
  readonly connection: unknown;
  stop(): Promise<void>;
}

/**
 * One devstack server in a process of its own (`tsx devstack/<part>/main.ts`, any free port, state under
 * `dir`): ready when it prints its `<part>:` line, its connection read from `dir`'s connections.json.
 */
async function startServerProcess(part: string, key: 'cosmos' | 'storage' | 'iotAnalytics', dir: string, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', `devstack/${part}/main.ts`, '--port', '0', ...args], {
    env: { ...process.env, IOT_INGEST_DEVSTACK_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const { outcome, exited } = await waitForReadyLine(child, (line) => line.startsWith(`${part}: `), SERVER_START_TIMEOUT_MS);
  if (outcome !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`${part} server ${outcome === 'exited' ? 'exited' : 'did not start'}: ${stderr.trim().split('\n').pop() ?? ''}`);
  }
  const connection = (await readConnections(dir))[key];
  return {
    connection,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** The warm writer alone, straight into a fresh Cosmos server: readings/s. */
async function measureWarmCeiling(): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-bench-e2e-ceiling-'));
  const server = await startServerProcess('cosmos', 'cosmos', dir);
  const cosmos = server.connection as CosmosConnection;
  const client = new CosmosClient(cosmosClientOptions(cosmos));
  try {
    const container = client.database(cosmos.database).container(cosmos.container);
    const batchSize = 100;
    const model = new SensorModel('baseline-0');
    const now = Date.now();
    const records: TelemetryRecord[] = Array.from({ length: BASELINE_READINGS }, (_, i) => {
      const reading = model.next(now + i);
      const deviceId = `baseline-${i % DEVICES}`;
      return {
        id: `b${i % PARTITIONS}-${i}-0`,
        deviceId,
        channel: null,
        ts: reading.ts,
        enqueuedAt: reading.ts,
        partition: String(i % PARTITIONS),
        sequenceNumber: i,
        index: 0,
        properties: {},
        body: { ...reading, deviceId, readingId: `${deviceId}:${i}` },
      };
    });
    const b0 = performance.now();
    await Promise.all(
      [...Array(PARTITIONS).keys()].map(async (p) => {
        const mine = records.filter((r) => r.partition === String(p));
        for (let i = 0; i < mine.length; i += batchSize) {
          await writeWarm(container, mine.slice(i, i + batchSize), { ttlSeconds: 30 * 24 * 3600 });
        }
      }),
    );
    return BASELINE_READINGS / ((performance.now() - b0) / 1000);
  } finally {
    client.dispose();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

interface PipelineRun {
  readonly total: number;
  readonly publishRate: number;
  /** Readings / (last reading in Cosmos − first publish). */
  readonly e2eRate: number;
  readonly p50: number;
  readonly p99: number;
  readonly lost: number;
  readonly summary: string;
}

/** Devices at `rate` readings/s for `seconds`, through a fresh pipeline, until Cosmos holds every reading. */
async function runPipeline(rate: number, seconds: number): Promise<PipelineRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-bench-e2e-'));
  const perDevice = Math.max(1, Math.round((rate * seconds) / DEVICES));
  const total = perDevice * DEVICES;
  const servers = await Promise.all([
    startServerProcess('cosmos', 'cosmos', dir),
    startServerProcess('storage', 'storage', dir),
    startServerProcess('iotanalytics', 'iotAnalytics', dir, ['--channels', `${TELEMETRY_CHANNEL},${DEFAULT_CHANNEL}`]),
  ]);
  const [cosmosServer, storageServer, analyticsServer] = servers;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  let client: CosmosClient | undefined;
  try {
    stack = await startStack({
      dir,
      devices: DEVICES,
      ratePerSecond: rate,
      partitionCount: PARTITIONS,
      external: { cosmos: cosmosServer?.connection, storage: storageServer?.connection, iotanalytics: analyticsServer?.connection },
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
    const cosmos = stack.connections.cosmos as CosmosConnection;
    client = new CosmosClient(cosmosClientOptions(cosmos));
    const container = client.database(cosmos.database).container(cosmos.container);

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
          if ([...last.entries()].every(([stream, publishedAtMs]) => (newest.get(stream) ?? -1) >= publishedAtMs)) return;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();

    await simulator.finished();
    publishingDone = true;
    const publishEndMs = Date.now();
    const drained = await Promise.race([
      poller.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS)),
    ]);
    polling = false;
    const drainSeconds = (Date.now() - publishEndMs) / 1000;

    // Zero loss: Cosmos holds exactly the sent readings, each once. The drain signal follows each stream's
    // `latest` document, which can move ahead of readings still in another invocation; "lost" must mean
    // never arrived, so re-check until complete or 30 s pass.
    const sent = [...simulator.sent.keys()];
    let comparison = compare(sent, await cosmosContent(cosmos, VERIFY_TIMEOUT_MS));
    for (const settleUntil = Date.now() + 30_000; comparison.missing.length > 0 && Date.now() < settleUntil; ) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      comparison = compare(sent, await cosmosContent(cosmos, VERIFY_TIMEOUT_MS));
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
    const counters = simulator.counters();
    return {
      total,
      publishRate,
      e2eRate,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      lost,
      summary:
        `${total} readings offered at ${rate.toFixed(0)}/s, published at ${publishRate.toFixed(0)}/s (send errors ${counters.sendErrors}, fail statuses ${counters.statusFail}); ` +
        `${drained ? 'drained' : 'drain TIMED OUT'} ${drainSeconds.toFixed(1)} s after the last publish; ${e2eRate.toFixed(0)} readings/s end to end, ` +
        `p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms; latency unobserved ${unobserved}; ` +
        `lost ${lost}, duplicates ${comparison.duplicated.length}, unexpected ${comparison.unexpected.length}`,
    };
  } finally {
    client?.dispose();
    await stack?.stop();
    await Promise.allSettled(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `e2e bench: ${DEVICES} devices (half via the edge module), ${PARTITIONS} partitions, PublishInterval ${PUBLISH_INTERVAL_S}; ` +
      `Cosmos, Azurite and IoT Analytics each in a process of their own\n`,
  );
  const ceiling = await measureWarmCeiling();
  process.stdout.write(`ceiling: warm writer straight to Cosmos ${ceiling.toFixed(0)} readings/s (${BASELINE_READINGS} readings)\n`);
  const throughput = await runPipeline(RATE, SECONDS);
  process.stdout.write(`throughput run: ${throughput.summary}\n`);
  const latencyRate = Number(process.env.BENCH_E2E_LATENCY_RATE ?? ceiling / 2);
  const latency = await runPipeline(latencyRate, LATENCY_SECONDS);
  process.stdout.write(`latency run: ${latency.summary}\n`);
  process.stdout.write(
    `e2e: ${throughput.e2eRate.toFixed(0)} readings/s, ${(throughput.e2eRate / ceiling).toFixed(2)}x of warm writer straight to Cosmos (${ceiling.toFixed(0)} readings/s), ` +
      `p50 ${latency.p50.toFixed(0)} ms, p99 ${latency.p99.toFixed(0)} ms, lost ${throughput.lost + latency.lost}\n`,
  );
}

await main();
