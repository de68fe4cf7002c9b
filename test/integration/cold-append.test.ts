/**
 * The cold store's append protocol against Azurite: one object per (partition, hour), one block per
 * append, redeliveries recognised by block id however the host split them, rollover before the block
 * limit, and two writers racing on one partition-hour losing nothing and duplicating nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryRecord } from '@iot-ingest/contracts';
import { startStorage } from '../../devstack/storage/index.js';
import { ColdAppender } from '../../cold/append.js';

const HOUR = 'year=2026/month=11/day=23/hour=10/';

function records(partition: string, from: number, count: number, perEvent = 1): TelemetryRecord[] {
  return Array.from({ length: count * perEvent }, (_, i) => {
    const sequenceNumber = from + Math.floor(i / perEvent);
    const index = i % perEvent;
    return {
      id: `${partition}-${sequenceNumber}-${index}`,
      deviceId: 'dev-1',
      channel: 'c',
      ts: '2026-11-23T10:15:00.000Z',
      enqueuedAt: '2026-11-23T10:15:00.000Z',
      partition,
      sequenceNumber,
      index,
      properties: {},
      body: { sequenceNumber, index },
    };
  });
}

async function storedIds(container: ContainerClient, name: string): Promise<string[]> {
  const raw = await container.getBlockBlobClient(name).downloadToBuffer();
  return gunzipSync(raw)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as TelemetryRecord).id);
}

async function names(container: ContainerClient): Promise<string[]> {
  const found: string[] = [];
  for await (const blob of container.listBlobsFlat()) found.push(blob.name);
  return found.sort();
}

describe('cold appends against Azurite', () => {
  let dir: string;
  let storage: Awaited<ReturnType<typeof startStorage>>;
  let container: ContainerClient;
  let n = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-cold-append-'));
    storage = await startStorage({ dir });
  });

  beforeEach(async () => {
    container = BlobServiceClient.fromConnectionString(storage.connection.connectionString).getContainerClient(`cold-${++n}`);
    await container.create();
  });

  afterAll(async () => {
    await storage?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('each append is one block of one object per partition-hour, and the object reads as one gzip file', async () => {
    const appender = new ColdAppender(container);
    const first = await appender.append(records('0', 0, 10, 3));
    const second = await appender.append(records('0', 10, 5));
    expect(first).toMatchObject({ blocks: 1, objects: [`${HOUR}p0.jsonl.gz`], alreadyStored: 0, writeOperations: 2 });
    expect(second).toMatchObject({ blocks: 1, writeOperations: 2 });
    expect(await names(container)).toEqual([`${HOUR}p0.jsonl.gz`]);
    const ids = await storedIds(container, `${HOUR}p0.jsonl.gz`);
    expect(ids).toEqual([...records('0', 0, 10, 3), ...records('0', 10, 5)].map((r) => r.id));
    const properties = await container.getBlockBlobClient(`${HOUR}p0.jsonl.gz`).getProperties();
    expect(properties).toMatchObject({ contentType: 'application/x-ndjson', contentEncoding: 'gzip' });
  });

  it('a redelivery split differently by another host is recognised: only the new events are appended', async () => {
    await new ColdAppender(container).append(records('0', 100, 100)); // 100..199, then the host died before its checkpoint
    const next = new ColdAppender(container); // the partition's next owner, knowing nothing
    expect(await next.append(records('0', 100, 50))).toMatchObject({ blocks: 0, alreadyStored: 50, writeOperations: 0 });
    expect(await next.append(records('0', 150, 111))).toMatchObject({ blocks: 1, alreadyStored: 50 });
    const ids = await storedIds(container, `${HOUR}p0.jsonl.gz`);
    expect(ids).toEqual(records('0', 100, 161).map((r) => r.id));
  });

  it('rolls over to p{partition}-1 before an object would pass the block limit', async () => {
    const appender = new ColdAppender(container, { maxBlocksPerObject: 2 });
    for (let i = 0; i < 5; i++) await appender.append(records('3', i * 10, 10));
    expect(await names(container)).toEqual([`${HOUR}p3-1.jsonl.gz`, `${HOUR}p3-2.jsonl.gz`, `${HOUR}p3.jsonl.gz`]);
    // A fresh writer finds the last object and still recognises what the earlier ones hold.
    const fresh = new ColdAppender(container, { maxBlocksPerObject: 2 });
    expect(await fresh.append(records('3', 0, 50))).toMatchObject({ blocks: 0, alreadyStored: 50 });
    expect(await fresh.append(records('3', 50, 10))).toMatchObject({ objects: [`${HOUR}p3-2.jsonl.gz`] });
    const all = [
      ...(await storedIds(container, `${HOUR}p3.jsonl.gz`)),
      ...(await storedIds(container, `${HOUR}p3-1.jsonl.gz`)),
      ...(await storedIds(container, `${HOUR}p3-2.jsonl.gz`)),
    ];
    expect(all).toEqual(records('3', 0, 60).map((r) => r.id));
  });

  it('two hosts racing on one partition-hour lose no block and store every event once', async () => {
    const a = new ColdAppender(container);
    const b = new ColdAppender(container);
    // Both own partition 5 for a while (a rebalance): each appends its batches in order, as a host does,
    // at the same time as the other, with overlapping ranges.
    const run = async (writer: ColdAppender, offset: number): Promise<void> => {
      for (let i = 0; i < 6; i++) await writer.append(records('5', (2 * i + offset) * 7, 10));
    };
    await Promise.all([run(a, 0), run(b, 1)]);
    const ids = await storedIds(container, `${HOUR}p5.jsonl.gz`);
    const expected = records('5', 0, 11 * 7 + 10).map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...expected].sort());
  });
});
