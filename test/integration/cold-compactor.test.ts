/**
 * The hourly Parquet copy against Azurite, read back with DuckDB: one file per closed partition-hour with
 * typed columns, every reading exactly once, a rerun writes nothing, a late append makes the hour stale
 * until the next run rewrites it, and a run resumes from where the last one stopped.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { loadDuckDb } from '../../cli/duckdb.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryRecord } from '@iot-ingest/contracts';
import { startStorage } from '../../devstack/storage/index.js';
import { ColdAppender, COMPACTOR_STATE_BLOB, HOUR_MS, listPartitionHours, parseHour, runCompaction } from '../../cold/index.js';

const H0 = Date.UTC(2026, 10, 23, 10);
const silent = { info: () => undefined, warn: () => undefined };

function records(partition: string, from: number, count: number, hourMs: number): TelemetryRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const sequenceNumber = from + i;
    const enqueuedAt = new Date(hourMs + i * 1000).toISOString();
    return {
      id: `${partition}-${sequenceNumber}-0`,
      deviceId: `dev-${i % 3}`,
      channel: 'c',
      ts: enqueuedAt,
      enqueuedAt,
      partition,
      sequenceNumber,
      index: 0,
      properties: { channel: 'c' },
      body: { v: i },
    };
  });
}

describe('the hourly Parquet compaction against Azurite', () => {
  let dir: string;
  let storage: Awaited<ReturnType<typeof startStorage>>;
  let cold: ContainerClient;
  let parquet: ContainerClient;

  async function parquetRows(sql: string): Promise<Record<string, unknown>[]> {
    const files: string[] = [];
    for await (const blob of parquet.listBlobsFlat()) {
      if (!blob.name.endsWith('.parquet')) continue;
      const file = path.join(dir, blob.name.replace(/\//g, '_'));
      await writeFile(file, await parquet.getBlockBlobClient(blob.name).downloadToBuffer());
      files.push(file);
    }
    const db = await (await loadDuckDb()).DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      await connection.run(`CREATE VIEW t AS SELECT * FROM read_parquet([${files.map((f) => `'${f}'`).join(',')}])`);
      return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
    } finally {
      connection.closeSync();
      db.closeSync();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-compactor-'));
    storage = await startStorage({ dir });
    const service = BlobServiceClient.fromConnectionString(storage.connection.connectionString);
    cold = service.getContainerClient('telemetry');
    parquet = service.getContainerClient('telemetry-parquet');
    const appender = new ColdAppender(cold);
    for (const partition of ['0', '1']) {
      await appender.append(records(partition, 0, 30, H0));
      await appender.append(records(partition, 30, 20, H0 + HOUR_MS));
    }
    await appender.append(records('0', 50, 5, H0 + 2 * HOUR_MS)); // the open hour
  }, 30_000);

  afterAll(async () => {
    await storage?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one Parquet file per closed partition-hour, typed, each reading once; the open hour waits', async () => {
    const now = H0 + 2 * HOUR_MS + 11 * 60_000; // hour 11 closed 11 minutes ago, grace 10
    const run = await runCompaction(cold, parquet, { nowMs: now, graceMs: 10 * 60_000, log: silent });
    expect(run).toMatchObject({ written: 4, failed: 0, compactedThrough: new Date(H0 + HOUR_MS).toISOString() });
    const types = await parquetRows("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM t) WHERE column_name IN ('ts', 'enqueuedAt', 'sequenceNumber', 'index', 'body')");
    expect(Object.fromEntries(types.map((r) => [r.column_name, r.column_type]))).toEqual({
      ts: 'TIMESTAMP',
      enqueuedAt: 'TIMESTAMP',
      sequenceNumber: 'BIGINT',
      index: 'INTEGER',
      body: 'JSON',
    });
    const [counts] = await parquetRows("SELECT count(*) AS n, count(DISTINCT id) AS ids, sum((body->>'v')::INT) AS v FROM t");
    expect(counts).toEqual({ n: '100', ids: '100', v: String(2 * (435 + 190)) });
    const hours = await listPartitionHours(cold, parquet, 'year=2026/month=11/day=23/');
    expect(hours.map((h) => [h.prefix.slice(-8), h.partition, h.compacted])).toEqual([
      ['hour=10/', '0', true],
      ['hour=10/', '1', true],
      ['hour=11/', '0', true],
      ['hour=11/', '1', true],
      ['hour=12/', '0', false],
    ]);
  });

  it('a rerun writes nothing; a late append makes the hour stale until the next run rewrites it, still once each', async () => {
    const now = H0 + 2 * HOUR_MS + 11 * 60_000;
    expect(await runCompaction(cold, parquet, { nowMs: now, graceMs: 10 * 60_000, log: silent })).toMatchObject({ written: 0, current: 4 });
    await new ColdAppender(cold).append(records('1', 50, 3, H0 + HOUR_MS)); // late events of hour 11
    const stale = await listPartitionHours(cold, parquet, 'year=2026/month=11/day=23/hour=11/');
    expect(stale.map((h) => [h.partition, h.compacted])).toEqual([
      ['0', true],
      ['1', false],
    ]);
    expect(await runCompaction(cold, parquet, { nowMs: now, graceMs: 10 * 60_000, log: silent })).toMatchObject({ written: 1, current: 3 });
    const [counts] = await parquetRows('SELECT count(*) AS n, count(DISTINCT id) AS ids FROM t');
    expect(counts).toEqual({ n: '103', ids: '103' });
  });

  it('resumes from its state: the next hour is compacted once it closes, and the state says how far it got', async () => {
    const now = H0 + 3 * HOUR_MS + 10 * 60_000;
    expect(await runCompaction(cold, parquet, { nowMs: now, graceMs: 10 * 60_000, log: silent })).toMatchObject({
      written: 1,
      compactedThrough: new Date(H0 + 2 * HOUR_MS).toISOString(),
    });
    const state = JSON.parse((await parquet.getBlockBlobClient(COMPACTOR_STATE_BLOB).downloadToBuffer()).toString('utf8')) as unknown;
    expect(state).toEqual({ compactedThrough: new Date(H0 + 2 * HOUR_MS).toISOString() });
  });

  it('--hour takes the start of an hour, and names a time that is not one', () => {
    expect(parseHour('2026-11-23T10:00:00Z')).toBe(H0);
    expect(parseHour('2026-11-23T10Z')).toBe(H0);
    expect(() => parseHour('2026-11-23T10:30:00Z')).toThrow(/not the start of an hour/);
    expect(() => parseHour('yesterday')).toThrow(/--hour: 'yesterday'/);
  });
});
