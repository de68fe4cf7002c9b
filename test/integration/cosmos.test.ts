import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startCosmos } from '../../devstack/cosmos/index.js';
import type { CosmosServer } from '../../devstack/cosmos/index.js';
import { CosmosClient } from '@azure/cosmos';
import { cosmosClientOptions } from '../../contracts/cosmos.js';

function get(url: string, ca?: string): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...(ca ? { ca } : {}), agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on('error', reject);
  });
}

describe('devstack cosmos (@vercel/cosmosdb-server over HTTPS)', () => {
  let dir = '';
  let cosmos: CosmosServer;
  let client: CosmosClient;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-cosmos-'));
    cosmos = await startCosmos({ dir, port: 0, defaultTtlSeconds: 3600 });
    client = new CosmosClient(cosmosClientOptions(cosmos.connection));
  });

  afterAll(async () => {
    client?.dispose();
    await cosmos?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves on a free port with the contract connection and a CA under <dir>/certs', () => {
    const { connection } = cosmos;
    expect(connection.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(connection.database).toBe('iot-ingest');
    expect(connection.container).toBe('telemetry');
    expect(connection.key.length).toBeGreaterThan(20);
    expect(connection.caCertPath).toBe(path.join(dir, 'certs', 'ca.pem'));
  });

  it('presents a certificate that only the devstack CA trusts, and keeps connections alive', async () => {
    const ca = await readFile(cosmos.connection.caCertPath, 'utf8');
    const trusted = await get(cosmos.connection.endpoint, ca);
    expect(trusted.connection).toBe('keep-alive');
    await expect(get(cosmos.connection.endpoint)).rejects.toThrow(/self[- ]signed|unable to verify|issuer/i);
  });

  it('creates the container with partition key /pk and the default TTL', async () => {
    const { resource } = await client.database('iot-ingest').container('telemetry').read();
    expect(resource?.partitionKey?.paths).toEqual(['/pk']);
    expect(resource?.defaultTtl).toBe(3600);
  });

  it('the real SDK upserts, bulk-writes and queries with parameters', async () => {
    const container = client.database('iot-ingest').container('telemetry');
    await container.items.upsert({ id: '0-1-0', pk: 'dev1:2026-11-23', type: 'reading', deviceId: 'dev1', t: 20 });
    const bulk = await container.items.executeBulkOperations(
      [1, 2, 3].map((i) => ({
        operationType: 'Upsert' as const,
        partitionKey: 'dev1:2026-11-23',
        resourceBody: { id: `0-2-${i}`, pk: 'dev1:2026-11-23', type: 'reading', deviceId: 'dev1', t: 20 + i },
      })),
    );
    expect(bulk.map((r) => r.response?.statusCode)).toEqual([201, 201, 201]);
    const { resources } = await container.items
      .query<{ id: string }>({
        query: 'SELECT c.id FROM c WHERE c.deviceId = @d AND c.t > @t ORDER BY c.t',
        parameters: [
          { name: '@d', value: 'dev1' },
          { name: '@t', value: 20 },
        ],
      })
      .fetchAll();
    expect(resources.map((r) => r.id)).toEqual(['0-2-1', '0-2-2', '0-2-3']);
  });

  it('a bad TTL is refused with an error naming the setting', async () => {
    await expect(startCosmos({ dir, defaultTtlSeconds: 0 })).rejects.toThrow(/cosmos defaultTtlSeconds: 0/);
  });
});
