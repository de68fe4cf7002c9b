import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BlobServiceClient } from '@azure/storage-blob';
import { startStorage } from '../../devstack/storage/index.js';
import type { StorageServer } from '../../devstack/storage/index.js';

describe('devstack storage (Azurite in process)', () => {
  const started: StorageServer[] = [];
  let dir = '';

  afterAll(async () => {
    for (const s of started) await s.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('listens on a free port, creates the pipeline containers and serves the real SDK', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-storage-'));
    const storage = await startStorage({ dir, port: 0, containers: ['checkpoints'] });
    started.push(storage);
    const { connection } = storage;
    expect(connection.coldContainer).toBe('telemetry');
    expect(connection.deadLetterContainer).toBe('analytics-deadletter');
    expect(connection.blobEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    expect(connection.connectionString).toBe(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
        'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
        `BlobEndpoint=${connection.blobEndpoint};`,
    );

    const service = BlobServiceClient.fromConnectionString(connection.connectionString);
    const names: string[] = [];
    for await (const c of service.listContainers()) names.push(c.name);
    expect(names.sort()).toEqual(['analytics-deadletter', 'checkpoints', 'telemetry']);

    const container = service.getContainerClient('telemetry');
    const body = gzipSync('{"id":"0-1-0"}\n');
    await container
      .getBlockBlobClient('year=2026/month=11/day=23/hour=14/p0-1-1.jsonl.gz')
      .uploadData(body, { blobHTTPHeaders: { blobContentType: 'application/x-ndjson', blobContentEncoding: 'gzip' } });
    await container.getBlockBlobClient('year=2026/month=11/day=23/hour=15/p0-2-2.jsonl.gz').uploadData(body);
    const listed: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: 'year=2026/month=11/day=23/hour=14/' }))
      listed.push(b.name);
    expect(listed).toEqual(['year=2026/month=11/day=23/hour=14/p0-1-1.jsonl.gz']);
    const downloaded = await container.getBlockBlobClient(listed[0]!).downloadToBuffer();
    expect(gunzipSync(downloaded).toString()).toBe('{"id":"0-1-0"}\n');

    // State is under <dir>/azurite, never the working directory.
    expect((await readdir(path.join(dir, 'azurite'))).sort()).toContain('__blobstorage__');
  });

  it('a restart on the same directory keeps the blobs', async () => {
    const first = started.pop()!;
    await first.stop();
    await first.stop(); // stopping twice is harmless
    const second = await startStorage({ dir, port: 0 });
    started.push(second);
    const container = BlobServiceClient.fromConnectionString(second.connection.connectionString).getContainerClient(
      'telemetry',
    );
    const listed: string[] = [];
    for await (const b of container.listBlobsFlat()) listed.push(b.name);
    expect(listed).toHaveLength(2);
    const downloaded = await container
      .getBlockBlobClient('year=2026/month=11/day=23/hour=14/p0-1-1.jsonl.gz')
      .downloadToBuffer();
    expect(gunzipSync(downloaded).toString()).toBe('{"id":"0-1-0"}\n');
  });

  it('a port outside 0–65535 is refused with an error naming the setting', async () => {
    await expect(startStorage({ dir, port: 70000 })).rejects.toThrow(/storage port: 70000/);
  });
});
