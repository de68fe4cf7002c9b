/**
 * `npm run bench:warm`: the warm path's Cosmos writer against a naive sequential `items.upsert` loop,
 * the same records, the same Cosmos server (its own process), in one run — on loopback and through a
 * TCP proxy adding 5 ms of round-trip time (2.5 ms each way), as an in-region Cosmos account has.
 * Goals: >= 2x on loopback, >= 10x at 5 ms RTT.
 *
 * Earlier lines also print the cold path's blob writes per batch and the forwarder's BatchPutMessage
 * calls per channel for a typical trigger batch (the real grouping code, no servers needed).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CosmosClient } from '@azure/cosmos';
import type { Container } from '@azure/cosmos';
import type { TelemetryRecord } from '../functions/record.js';
import { toReadingDocument, writeWarm } from '../functions/warmWriter.js';
import { groupByObject } from '../cold/layout.js';
import { forwardReadings } from '../functions/analyticsForwarder.js';
import type { Reading } from '../functions/record.js';
import { loadConnectorConfig } from '../batching/config.js';
import type { ConnectorConfig } from '../batching/config.js';
import type { Sink } from '../batching/types.js';
import { startCosmosChild } from './cosmos-child.js';
import type { CosmosChild } from './cosmos-child.js';

/** How many BatchPutMessage calls per channel forwarding these readings takes (no network: a counting sink). */
async function countBatchPutCalls(
  channels: readonly string[],
  config: ConnectorConfig,
): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  const sink: Sink = {
    send: async (batch) => {
      calls[batch.channel] = (calls[batch.channel] ?? 0) + 1;
      return { type: 'delivered', failures: [] };
    },
  };
  const readings: Reading[] = channels.map((channel, i) => ({
    record: {
      id: `0-${i}-0`,
      deviceId: 'd',
      channel,
      ts: '',
      enqueuedAt: '',
      partition: '0',
      sequenceNumber: i,
      index: 0,
      properties: {},
    },
    payload: Buffer.from(`{"i":${i}}`),
  }));
  await forwardReadings(readings, { config, sink, deadlineMs: Date.now() + 60_000 });
  return calls;
}

const RECORDS = Number(process.env.BENCH_WARM_RECORDS ?? 20_000);
/** Through the delay proxy the naive loop is timed on fewer records and reported as a rate. */
const NAIVE_RECORDS_RTT = Number(process.env.BENCH_WARM_NAIVE_RTT_RECORDS ?? 1_000);
const DEVICES = 50;
const TTL_SECONDS = 30 * 24 * 3600;
const ONE_WAY_DELAY_MS = 2.5;

/** A TCP proxy that delays every chunk by `delayMs` in each direction, keeping order. */
async function startDelayProxy(
  target: { host: string; port: number },
  delayMs: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const pipeDelayed = (from: net.Socket, to: net.Socket): void => {
    const queue: Array<{ due: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = (): void => {
      timer = undefined;
      const now = performance.now();
      while (queue.length > 0 && (queue[0] as { due: number }).due <= now)
        to.write((queue.shift() as { chunk: Buffer }).chunk);
      if (queue.length > 0) timer = setTimeout(drain, Math.max(0, (queue[0] as { due: number }).due - now));
    };
    from.on('data', (chunk: Buffer) => {
      queue.push({ due: performance.now() + delayMs, chunk });
      timer ??= setTimeout(drain, delayMs);
    });
    from.on('end', () => setTimeout(() => to.end(), delayMs + 1));
    from.on('error', () => to.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function makeRecords(count: number, runTag: string): TelemetryRecord[] {
  const start = Date.parse('2026-11-23T10:00:00Z');
  return Array.from({ length: count }, (_, i) => {
    const device = `bench-${i % DEVICES}`;
    const enqueuedAt = new Date(start + i * 10).toISOString();
    return {
      id: `${runTag}-${i % 4}-${i}-0`,
      deviceId: device,
      channel: 'bench_channel',
      ts: enqueuedAt,
      enqueuedAt,
      partition: String(i % 4),
      sequenceNumber: i,
      index: 0,
      properties: { channel: 'bench_channel' },
      body: { deviceId: device, temperature: 20 + (i % 10), humidity: 40 + (i % 7), ts: enqueuedAt },
    };
  });
}

async function containerFor(
  cosmos: CosmosChild,
  endpoint: string,
  ca: Buffer,
  name: string,
): Promise<{ container: Container; dispose(): void }> {
  const agent = new https.Agent({ ca, keepAlive: true });
  const cosmosClient = new CosmosClient({
    endpoint,
    key: cosmos.key,
    agent,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const { database } = await cosmosClient.databases.createIfNotExists({ id: cosmos.database });
  const { container } = await database.containers.createIfNotExists({
    id: name,
    partitionKey: { paths: ['/pk'] },
    defaultTtl: -1,
  });
  return {
    container,
    dispose: () => {
      cosmosClient.dispose();
      agent.destroy();
    },
  };
}

async function timeWriter(container: Container, records: TelemetryRecord[]): Promise<number> {
  const started = performance.now();
  await writeWarm(container, records, { ttlSeconds: TTL_SECONDS });
  return records.length / ((performance.now() - started) / 1000);
}

async function timeNaive(container: Container, records: TelemetryRecord[]): Promise<number> {
  const started = performance.now();
  for (const record of records) await container.items.upsert(toReadingDocument(record, TTL_SECONDS));
  return records.length / ((performance.now() - started) / 1000);
}

async function measure(
  label: string,
  cosmos: CosmosChild,
  endpoint: string,
  ca: Buffer,
  naiveCount: number,
): Promise<string> {
  const records = makeRecords(RECORDS, label);
  const writer = await containerFor(cosmos, endpoint, ca, `bench-writer-${label}`);
  const naive = await containerFor(cosmos, endpoint, ca, `bench-naive-${label}`);
  try {
    // Warm both connections (TLS handshake, account read) outside the timed part.
    await writer.container.items.upsert({ id: 'warmup', pk: 'warmup' });
    await naive.container.items.upsert({ id: 'warmup', pk: 'warmup' });
    const writerRate = await timeWriter(writer.container, records);
    const naiveRate = await timeNaive(naive.container, records.slice(0, naiveCount));
    const note = naiveCount < records.length ? ` [naive timed on ${naiveCount} of ${records.length} records]` : '';
    console.log(`  ${label}: writer ${records.length} docs, naive ${naiveCount} docs${note}`);
    return `warm ${label}: ${Math.round(writerRate)} docs/s, ${(writerRate / naiveRate).toFixed(1)}x of naive (${Math.round(naiveRate)} docs/s)`;
  } finally {
    writer.dispose();
    naive.dispose();
  }
}

async function main(): Promise<void> {
  // Cold path and forwarder shape for one typical trigger batch: 100 events of one partition within an
  // hour, each an edge envelope of 20 readings over 3 channels (the real grouping code).
  const cold = groupByObject(makeRecords(100, 'cold').map((r) => ({ ...r, partition: '0' })));
  console.log(`cold: ${cold.length} block append(s) per batch of 100 events (one per hour × partition object)`);
  const channels = ['temperature', 'humidity', 'power'];
  const perChannel = await countBatchPutCalls(
    Array.from({ length: 2000 }, (_, i) => channels[i % channels.length] as string),
    loadConnectorConfig({ MemorySize: '65536', PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '100' }),
  );
  console.log(
    `forwarder: BatchPutMessage calls per channel for 2000 readings: ${JSON.stringify(perChannel)} (batch size 100)`,
  );

  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-bench-warm-'));
  const cosmos = await startCosmosChild(dir);
  const ca = await readFile(cosmos.caCertPath);
  const url = new URL(cosmos.endpoint);
  const proxy = await startDelayProxy({ host: url.hostname, port: Number(url.port) }, ONE_WAY_DELAY_MS);
  try {
    const loopback = await measure('loopback', cosmos, cosmos.endpoint, ca, RECORDS);
    const delayed = await measure('rtt5ms', cosmos, `https://127.0.0.1:${proxy.port}/`, ca, NAIVE_RECORDS_RTT);
    console.log(loopback);
    console.log(delayed);
  } finally {
    await proxy.close();
    await cosmos.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:warm failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
