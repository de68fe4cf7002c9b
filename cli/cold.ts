/**
 * `query cold`: per (partition, hour) of the time range, the hour's Parquet file when the compactor made
 * it from the objects as they are now, else its JSON Lines objects (@iot-ingest/cold decides). Files are
 * kept in a local cache keyed by blob name and ETag, so a repeated query downloads only what changed
 * (progress on stderr), then the analyst's SQL runs with DuckDB over the `telemetry` view. A summary line
 * on stderr says how many files were read and downloaded. `cold compact` is here too.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { HOUR_MS, compactHour, isClosedHour, listPartitionHours } from '@iot-ingest/cold';
import type { PartitionCompaction, StoredFile } from '@iot-ingest/cold';
import { loadDuckDb, openSandboxedDuckDb, rawSource, telemetryViewSql } from './duckdb.js';
import type { StorageTarget } from './endpoints.js';
import { oneLine } from './errors.js';
import { createProgress } from './progress.js';
import type { ProgressStream } from './progress.js';
import { prefixesFor } from './time-range.js';
import type { TimeRange } from './time-range.js';

export interface ColdQuery {
  storage: StorageTarget;
  /** The Parquet container (default telemetry-parquet). */
  parquetContainer: string;
  /** Local cache of downloaded files (default: cacheDir()). */
  cacheDir?: string;
  range: TimeRange;
  deviceId?: string;
  sql: string;
  /** Where the progress bar goes (stderr). */
  progressStream: ProgressStream;
}

export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
  /** Files the query read, by kind, and how many of them had to be downloaded. */
  files: { parquet: number; jsonl: number; downloaded: number; downloadedBytes: number };
}

export const DEFAULT_PARQUET_CONTAINER = 'telemetry-parquet';

/** `IOT_INGEST_CACHE_DIR`, else `$XDG_CACHE_HOME/iot-ingest`, else `~/.cache/iot-ingest`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IOT_INGEST_CACHE_DIR) return path.resolve(env.IOT_INGEST_CACHE_DIR);
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'iot-ingest');
}

const LIST_CONCURRENCY = 8;
const DOWNLOAD_CONCURRENCY = 4;

// A person is waiting: retry transient errors briefly instead of the SDK's 4 tries 4 s apart.
const RETRY_OPTIONS = { maxTries: 3, retryDelayInMs: 250, maxRetryDelayInMs: 2_000 };

async function containerClients(target: StorageTarget, parquetContainer: string): Promise<{ cold: ContainerClient; parquet: ContainerClient }> {
  const service =
    'connectionString' in target
      ? BlobServiceClient.fromConnectionString(target.connectionString, { retryOptions: RETRY_OPTIONS })
      : new BlobServiceClient(target.accountUrl, new (await import('@azure/identity')).DefaultAzureCredential(), {
          retryOptions: RETRY_OPTIONS,
        });
  return { cold: service.getContainerClient(target.container), parquet: service.getContainerClient(parquetContainer) };
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

interface QueryFile extends StoredFile {
  readonly container: ContainerClient;
  readonly kind: 'parquet' | 'jsonl';
}

/** What the range reads: per partition-hour the current Parquet file, else its JSON Lines objects. */
export async function listRangeFiles(cold: ContainerClient, parquet: ContainerClient, range: TimeRange): Promise<QueryFile[]> {
  const perPrefix = await mapLimited(prefixesFor(range), LIST_CONCURRENCY, (prefix) => listPartitionHours(cold, parquet, prefix));
  return perPrefix.flat().flatMap((hour): QueryFile[] =>
    hour.compacted && hour.parquet
      ? [{ ...hour.parquet, container: parquet, kind: 'parquet' }]
      : hour.jsonl.map((o) => ({ ...o, container: cold, kind: 'jsonl' as const })),
  );
}

/**
 * The cached copy of a blob version: `<cache>/<digest of container URL + name>-<digest of ETag>.<ext>`.
 * A new version of the same name replaces the old one (an open hour's object grows).
 */
async function cachedFile(dir: string, file: QueryFile): Promise<{ path: string; downloaded: boolean }> {
  const digest = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 24);
  const key = digest(`${file.container.url}/${file.name}`);
  const target = path.join(dir, `${key}-${digest(file.etag)}${file.kind === 'parquet' ? '.parquet' : '.jsonl.gz'}`);
  if (await stat(target).then((s) => s.size === file.sizeBytes, () => false)) return { path: target, downloaded: false };
  const partial = `${target}.${process.pid}.partial`;
  // Under the listed ETag: a file that moved meanwhile fails here rather than mixing versions.
  await file.container.getBlobClient(file.name).downloadToFile(partial, 0, undefined, { conditions: { ifMatch: file.etag } });
  await rename(partial, target);
  for (const old of await readdir(dir)) {
    // Another query may be downloading a `.partial` of this name right now: leave those alone.
    if (old.startsWith(`${key}-`) && !old.endsWith('.partial') && path.join(dir, old) !== target) await rm(path.join(dir, old), { force: true });
  }
  return { path: target, downloaded: true };
}

export async function runColdQuery(query: ColdQuery): Promise<QueryResult> {
  // Fail on a missing DuckDB before any download.
  const duckdb = await loadDuckDb();
  const { cold, parquet } = await containerClients(query.storage, query.parquetContainer);
  let files: QueryFile[];
  try {
    files = await listRangeFiles(cold, parquet, query.range);
  } catch (err) {
    throw storageError(err, query.storage);
  }

  const dir = path.join(query.cacheDir ?? cacheDir(), 'cold');
  await mkdir(dir, { recursive: true });
  const progress = createProgress(query.progressStream, files.length);
  let local: Array<{ path: string; downloaded: boolean; kind: QueryFile['kind']; sizeBytes: number }>;
  try {
    local = await mapLimited(files, DOWNLOAD_CONCURRENCY, async (file) => {
      const cached = await cachedFile(dir, file);
      progress.advance(file.sizeBytes);
      return { ...cached, kind: file.kind, sizeBytes: file.sizeBytes };
    });
  } catch (err) {
    throw storageError(err, query.storage);
  } finally {
    progress.done();
  }
  const jsonlFiles = local.filter((f) => f.kind === 'jsonl').map((f) => f.path);
  const parquetFiles = local.filter((f) => f.kind === 'parquet').map((f) => f.path);
  const downloaded = local.filter((f) => f.downloaded);
  const summary = {
    parquet: parquetFiles.length,
    jsonl: jsonlFiles.length,
    downloaded: downloaded.length,
    downloadedBytes: downloaded.reduce((n, f) => n + f.sizeBytes, 0),
  };

  // The analyst's SQL can read these files and nothing else (cli/duckdb.ts).
  const { connection, close } = await openSandboxedDuckDb(duckdb, [...jsonlFiles, ...parquetFiles]);
  try {
    let rawColumns: Map<string, string> | undefined;
    if (jsonlFiles.length > 0) {
      try {
        const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${rawSource(jsonlFiles)}`);
        rawColumns = new Map(described.getRowObjectsJson().map((r) => [String(r.column_name), String(r.column_type)] as const));
      } catch (err) {
        throw new Error(`cannot read the cold blobs as JSON Lines: ${oneLine(err)}`, { cause: err });
      }
    }
    await connection.run(telemetryViewSql(jsonlFiles, rawColumns, query.range, query.deviceId, parquetFiles));
    let reader;
    try {
      reader = await connection.runAndReadAll(query.sql);
    } catch (err) {
      throw new Error(`SQL error: ${oneLine(err)}`, { cause: err });
    }
    const columns = reader.columnNames();
    const types = reader.columnTypes().map((t) => ({ alias: t.alias, name: t.toString() }));
    const rows = reader.getRowsJson();
    return { columns, rows: rows.map((values) => rowObject(columns, types, values)), files: summary };
  } finally {
    close();
  }
}

export interface ColdCompaction {
  storage: StorageTarget;
  parquetContainer: string;
  hourMs: number;
  nowMs: number;
}

/** `cold compact --hour`: the compactor's own code for one hour that has ended. */
export async function runColdCompaction(request: ColdCompaction): Promise<PartitionCompaction[]> {
  if (!isClosedHour(request.hourMs, request.nowMs, 0)) {
    throw new Error(
      `--hour ${new Date(request.hourMs).toISOString()}: the hour has not ended yet (it ends at ${new Date(request.hourMs + HOUR_MS).toISOString()})`,
    );
  }
  const { cold, parquet } = await containerClients(request.storage, request.parquetContainer);
  try {
    await parquet.createIfNotExists();
    return await compactHour(cold, parquet, request.hourMs);
  } catch (err) {
    throw storageError(err, request.storage);
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
