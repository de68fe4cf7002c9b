/**
 * `query cold`: per (partition, hour) of the time range, the hour's Parquet file when the compactor made
 * it from the objects as they are now, else its JSON Lines objects (@iot-ingest/cold decides). Files are
 * kept in a local cache keyed by blob name and ETag, so a repeated query downloads only what changed
 * (progress on stderr). A partition-hour read from JSON Lines is parsed once per version: DuckDB converts
 * its objects to a local Parquet file with the record types, cached under the digest of the objects' names
 * and ETags, so the analyst's SQL only ever scans Parquet (the `telemetry` view). A summary line on stderr
 * says how many files were read and downloaded. `cold compact` is here too.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { HOUR_MS, compactHour, isClosedHour, listPartitionHours } from '@iot-ingest/cold';
import type { PartitionCompaction, StoredFile } from '@iot-ingest/cold';
import { detectColumnsSql, loadDuckDb, openSandboxedDuckDb, telemetryViewSql, toParquetSql } from './duckdb.js';
import type { DuckDbModule } from './duckdb.js';
import type { StorageTarget } from './endpoints.js';
import { oneLine } from './errors.js';
import { createProgress } from './progress.js';
import type { ProgressStream } from './progress.js';
import { hourInRange, hourWithin, prefixesFor } from './time-range.js';
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
const DOWNLOAD_CONCURRENCY = 8;
/** Conversions at a time: DuckDB reads one gzip file with one thread. */
const CONVERT_CONCURRENCY = 4;

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

/** Runs at most `limit` of the given tasks at a time, in the order they are handed in. */
function limiter(limit: number): <R>(work: () => Promise<R>) => Promise<R> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <R>(work: () => Promise<R>): Promise<R> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await work();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
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

/** What one partition-hour of the range is read from: its current Parquet file, else its JSON Lines objects. */
export interface PartitionHourRead {
  readonly prefix: string;
  readonly partition: string;
  /** Digest of the JSON Lines objects' names and ETags (a JSON Lines read's version). */
  readonly sources: string;
  readonly files: readonly QueryFile[];
}

export async function listRangeReads(cold: ContainerClient, parquet: ContainerClient, range: TimeRange): Promise<PartitionHourRead[]> {
  const lists = limiter(LIST_CONCURRENCY);
  const perPrefix = await Promise.all(prefixesFor(range).map((prefix) => lists(() => listPartitionHours(cold, parquet, prefix))));
  return perPrefix.flat().filter((hour) => hourInRange(hour.prefix, range)).map((hour) => ({
    prefix: hour.prefix,
    partition: hour.partition,
    sources: hour.sources,
    files:
      hour.compacted && hour.parquet
        ? [{ ...hour.parquet, container: parquet, kind: 'parquet' as const }]
        : hour.jsonl.map((o) => ({ ...o, container: cold, kind: 'jsonl' as const })),
  }));
}

const digest = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 24);

/**
 * A cache entry `<cache>/<key>-<digest of version>.<ext>`: the path, and whether it exists. Once a new
 * version is in place (`replaceOlder`), older versions of the same key are removed (an open hour grows).
 */
async function cacheEntry(dir: string, key: string, version: string, ext: string): Promise<{ path: string; present: boolean }> {
  const target = path.join(dir, `${key}-${digest(version)}${ext}`);
  return { path: target, present: await stat(target).then(() => true, () => false) };
}

async function replaceOlder(dir: string, key: string, current: string): Promise<void> {
  for (const old of await readdir(dir)) {
    // Another query may be writing a `.partial` of this key right now: leave those alone.
    if (old.startsWith(`${key}-`) && !old.endsWith('.partial') && path.join(dir, old) !== current) await rm(path.join(dir, old), { force: true });
  }
}

/** The cached copy of a blob version (written under a temporary name, renamed when complete). */
async function cachedFile(dir: string, file: QueryFile): Promise<{ path: string; downloaded: boolean }> {
  const key = digest(`${file.container.url}/${file.name}`);
  const entry = await cacheEntry(dir, key, file.etag, file.kind === 'parquet' ? '.parquet' : '.jsonl.gz');
  if (entry.present) return { path: entry.path, downloaded: false };
  const partial = `${entry.path}.${process.pid}.partial`;
  // Under the listed ETag: a file that moved meanwhile fails here rather than mixing versions.
  await file.container.getBlobClient(file.name).downloadToFile(partial, 0, undefined, { conditions: { ifMatch: file.etag } });
  await rename(partial, entry.path);
  await replaceOlder(dir, key, entry.path);
  return { path: entry.path, downloaded: true };
}

type Connection = Awaited<ReturnType<Awaited<ReturnType<DuckDbModule['DuckDBInstance']['create']>>['connect']>>;

/**
 * A partition-hour's JSON Lines objects as one local Parquet file with the record columns, made once per
 * version (the objects' names and ETags) and then reused.
 */
async function convertedJsonLines(dir: string, connection: Connection, cold: ContainerClient, read: PartitionHourRead, local: readonly string[]): Promise<string> {
  const key = `jsonl-${digest(`${cold.url}/${read.prefix}p${read.partition}`)}`;
  const entry = await cacheEntry(dir, key, read.sources, '.parquet');
  if (entry.present) return entry.path;
  const partial = `${entry.path}.${process.pid}.partial`;
  try {
    const described = await connection.runAndReadAll(detectColumnsSql(local));
    const rawColumns = new Map(described.getRowObjectsJson().map((r) => [String(r.column_name), String(r.column_type)] as const));
    await connection.run(toParquetSql(local, rawColumns, partial));
  } catch (err) {
    await rm(partial, { force: true });
    throw new Error(`cannot read the cold blobs of ${read.prefix}p${read.partition} as JSON Lines: ${oneLine(err)}`, { cause: err });
  }
  await rename(partial, entry.path);
  await replaceOlder(dir, key, entry.path);
  return entry.path;
}

export async function runColdQuery(query: ColdQuery): Promise<QueryResult> {
  // DuckDB loads while the range is listed; a missing DuckDB still fails before any download.
  const loading = loadDuckDb();
  loading.catch(() => undefined);
  const { cold, parquet } = await containerClients(query.storage, query.parquetContainer);
  let reads: PartitionHourRead[];
  try {
    reads = await listRangeReads(cold, parquet, query.range);
  } catch (err) {
    throw storageError(err, query.storage);
  }
  const duckdb = await loading;

  const dir = path.join(query.cacheDir ?? cacheDir(), 'cold');
  await mkdir(dir, { recursive: true });
  const files = reads.flatMap((r) => r.files);
  const progress = createProgress(query.progressStream, files.length);
  const downloads = limiter(DOWNLOAD_CONCURRENCY);
  const conversions = limiter(CONVERT_CONCURRENCY);
  const downloaded: QueryFile[] = [];
  // Created while the first files download (it takes a moment); the first conversion waits for it.
  const instance = duckdb.DuckDBInstance.create(':memory:', {
    // Everything needed (json, parquet, icu) is built in; never reach for the network.
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  });
  instance.catch(() => undefined);
  try {
    // Per partition-hour: its files from the cache or the store, then (JSON Lines) its conversion, which
    // runs on DuckDB's threads while other downloads go on. JSON Lines first: they take longest.
    const ordered = [...reads].sort((a, b) => Number(a.files[0]?.kind === 'parquet') - Number(b.files[0]?.kind === 'parquet'));
    const parquetFiles = await Promise.all(
      ordered.map(async (read) => {
        const local = await Promise.all(
          read.files.map((file) =>
            downloads(async () => {
              const cached = await cachedFile(dir, file).catch((err: unknown) => {
                throw storageError(err, query.storage);
              });
              if (cached.downloaded) downloaded.push(file);
              progress.advance(file.sizeBytes);
              return cached.path;
            }),
          ),
        );
        const whole = hourWithin(read.prefix, query.range);
        if (read.files[0]?.kind === 'parquet') return { path: local[0] as string, whole };
        return conversions(async () => {
          const connection = await (await instance).connect();
          try {
            return { path: await convertedJsonLines(dir, connection, cold, read, local), whole };
          } finally {
            connection.closeSync();
          }
        });
      }),
    ).finally(() => progress.done());

    // The analyst's SQL can read these files and nothing else (cli/duckdb.ts); the conversions above are
    // the CLI's own SQL, writing only into the cache.
    const { connection, close } = await openSandboxedDuckDb(duckdb, parquetFiles.map((f) => f.path));
    try {
      await connection.run(telemetryViewSql(parquetFiles, query.range, query.deviceId));
      let reader;
      try {
        reader = await connection.runAndReadAll(query.sql);
      } catch (err) {
        throw new Error(`SQL error: ${oneLine(err)}`, { cause: err });
      }
      const columns = reader.columnNames();
      const types = reader.columnTypes().map((t) => ({ alias: t.alias, name: t.toString() }));
      const rows = reader.getRowsJson();
      const summary = {
        parquet: files.filter((f) => f.kind === 'parquet').length,
        jsonl: files.filter((f) => f.kind === 'jsonl').length,
        downloaded: downloaded.length,
        downloadedBytes: downloaded.reduce((n, f) => n + f.sizeBytes, 0),
      };
      return { columns, rows: rows.map((values) => rowObject(columns, types, values)), files: summary };
    } finally {
      close();
    }
  } finally {
    (await instance.catch(() => undefined))?.closeSync();
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
