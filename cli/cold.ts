/**
 * `query cold`: list only the partitions of the time range in the cold container, download those
 * blobs to a temporary directory (progress on stderr), and run the analyst's SQL with DuckDB over the
 * `telemetry` view. The temporary directory is always removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { loadDuckDb, rawSource, telemetryViewSql } from './duckdb.js';
import type { StorageTarget } from './endpoints.js';
import { oneLine } from './errors.js';
import { createProgress } from './progress.js';
import type { ProgressStream } from './progress.js';
import { prefixesFor } from './time-range.js';
import type { TimeRange } from './time-range.js';

export interface ColdQuery {
  storage: StorageTarget;
  range: TimeRange;
  deviceId?: string;
  sql: string;
  /** Where the progress bar goes (stderr). */
  progressStream: ProgressStream;
}

export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
}

const LIST_CONCURRENCY = 8;
const DOWNLOAD_CONCURRENCY = 4;

// A person is waiting: retry transient errors briefly instead of the SDK's 4 tries 4 s apart.
const RETRY_OPTIONS = { maxTries: 3, retryDelayInMs: 250, maxRetryDelayInMs: 2_000 };

async function containerClient(target: StorageTarget): Promise<ContainerClient> {
  const service =
    'connectionString' in target
      ? BlobServiceClient.fromConnectionString(target.connectionString, { retryOptions: RETRY_OPTIONS })
      : new BlobServiceClient(target.accountUrl, new (await import('@azure/identity')).DefaultAzureCredential(), {
          retryOptions: RETRY_OPTIONS,
        });
  return service.getContainerClient(target.container);
}

/** Runs `work` over `items` with at most `limit` at a time, keeping the input order of results. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function storageError(err: unknown, target: StorageTarget): Error {
  const e = err as { statusCode?: number; code?: string };
  const where = 'connectionString' in target ? 'the storage account' : target.accountUrl;
  if (e?.statusCode === 404 || e?.code === 'ContainerNotFound') {
    return new Error(`cold container '${target.container}' does not exist in ${where}`, { cause: err });
  }
  return new Error(`cannot read ${where}: ${oneLine(err)}`, { cause: err });
}

export async function listRangeBlobs(
  container: ContainerClient,
  range: TimeRange,
): Promise<{ name: string; sizeBytes: number }[]> {
  const perPrefix = await mapLimited(prefixesFor(range), LIST_CONCURRENCY, async (prefix) => {
    const found: { name: string; sizeBytes: number }[] = [];
    for await (const blob of container.listBlobsFlat({ prefix })) {
      found.push({ name: blob.name, sizeBytes: blob.properties.contentLength ?? 0 });
    }
    return found;
  });
  return perPrefix.flat();
}

export async function runColdQuery(query: ColdQuery): Promise<QueryResult> {
  // Fail on a missing DuckDB before any download.
  const duckdb = await loadDuckDb();
  const container = await containerClient(query.storage);
  let blobs: { name: string; sizeBytes: number }[];
  try {
    blobs = await listRangeBlobs(container, query.range);
  } catch (err) {
    throw storageError(err, query.storage);
  }

  const tempDir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-cold-'));
  try {
    const progress = createProgress(query.progressStream, blobs.length);
    let files: string[];
    try {
      files = await mapLimited(blobs, DOWNLOAD_CONCURRENCY, async (blob) => {
        // Flattened name keeps the extension (.jsonl.gz), which tells DuckDB how to decompress.
        const file = path.join(tempDir, blob.name.replace(/[^A-Za-z0-9._=-]/g, '_'));
        await container.getBlobClient(blob.name).downloadToFile(file);
        progress.advance(blob.sizeBytes);
        return file;
      });
    } catch (err) {
      throw storageError(err, query.storage);
    } finally {
      progress.done();
    }

    const instance = await duckdb.DuckDBInstance.create(':memory:', {
      // Everything needed (json, icu) is built in; never reach for the network.
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    const connection = await instance.connect();
    try {
      await connection.run("SET TimeZone = 'UTC'");
      let rawColumns: Map<string, string> | undefined;
      if (files.length > 0) {
        try {
          const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${rawSource(files)}`);
          rawColumns = new Map(
            described.getRowObjectsJson().map((r) => [String(r.column_name), String(r.column_type)] as const),
          );
        } catch (err) {
          throw new Error(`cannot read the cold blobs as JSON Lines: ${oneLine(err)}`, { cause: err });
        }
      }
      await connection.run(telemetryViewSql(files, rawColumns, query.range, query.deviceId));
      let reader;
      try {
        reader = await connection.runAndReadAll(query.sql);
      } catch (err) {
        throw new Error(`SQL error: ${oneLine(err)}`, { cause: err });
      }
      const columns = reader.columnNames();
      const types = reader.columnTypes().map((t) => ({ alias: t.alias, name: t.toString() }));
      const rows = reader.getRowsJson();
      return { columns, rows: rows.map((values) => rowObject(columns, types, values)) };
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}

const INTEGER_TYPES = new Set(['BIGINT', 'HUGEINT', 'UBIGINT', 'UHUGEINT']);

/** DuckDB's JSON-safe values, made friendlier: JSON columns parsed, safe big integers as numbers. */
function rowObject(
  columns: string[],
  types: { alias: string | undefined; name: string }[],
  values: readonly unknown[],
): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  columns.forEach((name, i) => {
    let value = values[i];
    const type = types[i];
    if (typeof value === 'string' && type?.alias === 'JSON') {
      try {
        value = JSON.parse(value) as unknown;
      } catch {
        // leave it as text
      }
    } else if (typeof value === 'string' && type && INTEGER_TYPES.has(type.name) && /^-?\d+$/.test(value)) {
      const n = Number(value);
      if (Number.isSafeInteger(n)) value = n;
    }
    row[name] = value;
  });
  return row;
}
