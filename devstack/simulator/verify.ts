/**
 * What each sink holds, by readingId: the Cosmos reading documents, the cold blobs' records and the IoT
 * Analytics emulator's stored messages. Used by the end-to-end tests and the e2e benchmark to compare
 * what arrived with what the simulator sent (exactly those ids, each once).
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BlobServiceClient } from '@azure/storage-blob';
import { CosmosClient } from '@azure/cosmos';
import { cosmosClientOptions } from '@iot-ingest/contracts';
import { readingIdOfPayload, readingIdOfRecord } from './telemetry.js';

/** readingId → how many times the sink holds it (readings only; anything else is counted as `unknown`). */
export interface SinkContent {
  readonly counts: ReadonlyMap<string, number>;
  readonly unknown: number;
}

function tally(ids: ReadonlyArray<string | undefined>): SinkContent {
  const counts = new Map<string, number>();
  let unknown = 0;
  for (const id of ids) {
    if (id === undefined) unknown++;
    else counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return { counts, unknown };
}

export interface CosmosReading {
  readonly readingId: string | undefined;
  readonly deviceId: string;
  /** Server write time, epoch seconds (`_ts`). */
  readonly writtenAtS: number;
}

/** `requestTimeoutMs`: a server still busy with a backlog can take longer than the SDK's 60 s for this one query. */
export async function cosmosReadings(
  connection: {
    endpoint: string;
    key: string;
    database: string;
    container: string;
    caCertPath?: string;
  },
  requestTimeoutMs = 60_000,
): Promise<CosmosReading[]> {
  const options = cosmosClientOptions(connection);
  const client = new CosmosClient({ ...options, connectionPolicy: { ...options.connectionPolicy, requestTimeout: requestTimeoutMs } });
  try {
    const { resources } = await client
      .database(connection.database)
      .container(connection.container)
      .items.query<{ readingId?: string; bodyBase64?: string; deviceId: string; _ts: number }>(
        // Only the id out of a JSON body: the whole documents of a long run are tens of megabytes.
        "SELECT c.body.readingId AS readingId, c.bodyBase64, c.deviceId, c._ts FROM c WHERE c.type = 'reading'",
        // One large page: the local server re-runs the query for every continuation page.
        { maxItemCount: 1_000_000 },
      )
      .fetchAll();
    return resources.map((doc) => ({
      readingId: doc.readingId ?? readingIdOfRecord({ bodyBase64: doc.bodyBase64 }),
      deviceId: doc.deviceId,
      writtenAtS: doc._ts,
    }));
  } finally {
    client.dispose();
  }
}

export async function cosmosContent(connection: Parameters<typeof cosmosReadings>[0], requestTimeoutMs?: number): Promise<SinkContent> {
  return tally((await cosmosReadings(connection, requestTimeoutMs)).map((r) => r.readingId));
}

/** Every record line of every cold blob (gzip JSON Lines). */
export async function coldContent(connectionString: string, containerName: string): Promise<SinkContent> {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
  const ids: Array<string | undefined> = [];
  for await (const blob of container.listBlobsFlat()) {
    const raw = await container.getBlockBlobClient(blob.name).downloadToBuffer();
    // Azurite returns the stored bytes (gzip) whatever the content encoding says.
    const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
    for (const line of text.split('\n')) {
      if (line.trim() !== '') ids.push(readingIdOfRecord(JSON.parse(line) as { body?: unknown; bodyBase64?: unknown }));
    }
  }
  return tally(ids);
}

/** Messages the IoT Analytics emulator stored, all channels (`<dir>/iotanalytics/<channel>.jsonl`). */
export async function iotAnalyticsContent(devstackDir: string): Promise<SinkContent> {
  const dir = path.join(devstackDir, 'iotanalytics');
  const ids: Array<string | undefined> = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.jsonl')) continue;
    const text = await readFile(path.join(dir, name), 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const message = JSON.parse(line) as { payload: string };
      ids.push(readingIdOfPayload(Buffer.from(message.payload, 'base64')));
    }
  }
  return tally(ids);
}

export interface Comparison {
  readonly missing: string[];
  readonly unexpected: string[];
  readonly duplicated: string[];
  readonly unknown: number;
}

/** Sent ids against a sink's content: what is missing, extra, or held more than once. */
export function compare(sent: Iterable<string>, content: SinkContent): Comparison {
  const expected = new Set(sent);
  const missing = [...expected].filter((id) => !content.counts.has(id));
  const unexpected = [...content.counts.keys()].filter((id) => !expected.has(id));
  const duplicated = [...content.counts.entries()].filter(([, n]) => n > 1).map(([id]) => id);
  return { missing, unexpected, duplicated, unknown: content.unknown };
}

export function exact(comparison: Comparison): boolean {
  return (
    comparison.missing.length === 0 &&
    comparison.unexpected.length === 0 &&
    comparison.duplicated.length === 0 &&
    comparison.unknown === 0
  );
}
