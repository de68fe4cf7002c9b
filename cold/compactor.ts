/**
 * The hourly Parquet copy: for a closed hour, each partition's JSON Lines objects become one Parquet file
 * `year=YYYY/month=MM/day=DD/hour=HH/p{partition}.parquet` in the Parquet container.
 *
 * - Exactly once: the records of the objects (each downloaded under its listed ETag, so the file is made
 *   from one consistent state) are de-duplicated by `id` and written in partition order.
 * - Idempotent: a partition-hour whose Parquet was made from the objects as they are now is skipped; a
 *   rerun over changed objects rewrites the same file name in one upload (readers never see half a file).
 * - Resumable: `runCompaction` keeps `compactedThrough` (the newest hour compacted with every hour before
 *   it) in `_state/compactor.json`, continues from there, and re-checks the last day of hours for late
 *   events; a run does at most MAX_HOURS_PER_RUN hours, the next run goes on.
 */
import { gunzipSync } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import type { TelemetryRecord } from '@iot-ingest/contracts';
import { RECORDS_METADATA, SOURCES_METADATA, listPartitionHours, parquetName } from './catalog.js';
import type { PartitionHour } from './catalog.js';
import { hourPrefix } from './layout.js';
import { encodeParquet } from './parquet.js';

export const HOUR_MS = 3_600_000;
export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';
export const COMPACTOR_STATE_BLOB = '_state/compactor.json';
/** Hours re-checked on every run for events that arrived after their hour was compacted. */
export const RECHECK_HOURS = 24;
export const MAX_HOURS_PER_RUN = 48;

export interface CompactionLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface PartitionCompaction {
  readonly name: string;
  readonly status: 'written' | 'current';
  readonly records: number;
  readonly sourceObjects: number;
}

/** The newest hour (start, epoch ms) that has closed, grace period included. */
export function lastClosedHour(nowMs: number, graceMs: number): number {
  return Math.floor((nowMs - graceMs) / HOUR_MS) * HOUR_MS - HOUR_MS;
}

export function isClosedHour(hourMs: number, nowMs: number, graceMs: number): boolean {
  return hourMs + HOUR_MS + graceMs <= nowMs;
}

/** Parse `--hour`: an ISO time on an hour boundary (`2026-11-23T14:00:00Z`, `2026-11-23T14Z`). */
export function parseHour(text: string): number {
  const normalised = /^\d{4}-\d{2}-\d{2}T\d{2}(Z|[+-]\d{2}:?\d{2})?$/.test(text) ? text.replace(/T(\d{2})/, 'T$1:00') : text;
  const ms = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(normalised) ? normalised : `${normalised}Z`);
  if (Number.isNaN(ms)) throw new Error(`--hour: '${text}' is not an ISO 8601 time (e.g. 2026-11-23T14:00:00Z)`);
  if (ms % HOUR_MS !== 0) throw new Error(`--hour: '${text}' is not the start of an hour (e.g. 2026-11-23T14:00:00Z)`);
  return ms;
}

/** Compact every partition of one hour. */
export async function compactHour(cold: ContainerClient, parquet: ContainerClient, hourMs: number): Promise<PartitionCompaction[]> {
  const prefix = hourPrefix(new Date(hourMs).toISOString());
  const results: PartitionCompaction[] = [];
  for (const partitionHour of await listPartitionHours(cold, parquet, prefix)) {
    results.push(await compactPartitionHour(cold, parquet, partitionHour));
  }
  return results;
}

export async function compactPartitionHour(cold: ContainerClient, parquet: ContainerClient, hour: PartitionHour): Promise<PartitionCompaction> {
  const name = parquetName(hour.prefix, hour.partition);
  if (hour.compacted) return { name, status: 'current', records: -1, sourceObjects: hour.jsonl.length };
  const byId = new Map<string, TelemetryRecord>();
  for (const object of hour.jsonl) {
    // Under the listed ETag: if the object moved meanwhile this fails and the next run starts over.
    const raw = await cold.getBlockBlobClient(object.name).downloadToBuffer(0, undefined, { conditions: { ifMatch: object.etag } });
    for (const line of gunzipSync(raw).toString('utf8').split('\n')) {
      if (line === '') continue;
      const record = JSON.parse(line) as TelemetryRecord;
      if (!byId.has(record.id)) byId.set(record.id, record);
    }
  }
  const records = [...byId.values()].sort((a, b) => a.sequenceNumber - b.sequenceNumber || a.index - b.index);
  const bytes = encodeParquet(records);
  await parquet.getBlockBlobClient(name).uploadData(bytes, {
    blobHTTPHeaders: { blobContentType: PARQUET_CONTENT_TYPE },
    metadata: { [SOURCES_METADATA]: hour.sources, [RECORDS_METADATA]: String(records.length) },
  });
  return { name, status: 'written', records: records.length, sourceObjects: hour.jsonl.length };
}

interface CompactorState {
  /** ISO hour: it and every hour before it (since the first with data) are compacted. */
  compactedThrough?: string;
}

async function readState(parquet: ContainerClient): Promise<CompactorState> {
  try {
    return JSON.parse((await parquet.getBlockBlobClient(COMPACTOR_STATE_BLOB).downloadToBuffer()).toString('utf8')) as CompactorState;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return {};
    throw err;
  }
}

async function writeState(parquet: ContainerClient, state: CompactorState): Promise<void> {
  const body = JSON.stringify(state);
  await parquet.getBlockBlobClient(COMPACTOR_STATE_BLOB).upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
}

/** The oldest hour with any object (epoch ms), by walking the year=/month=/day=/hour= folders. */
export async function firstHourWithData(cold: ContainerClient): Promise<number | undefined> {
  let prefix = '';
  for (let level = 0; level < 4; level++) {
    let first: string | undefined;
    for await (const item of cold.listBlobsByHierarchy('/', { prefix })) {
      if (item.kind === 'prefix' && (first === undefined || item.name < first)) first = item.name;
    }
    if (first === undefined) return undefined;
    prefix = first;
  }
  const match = /^year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})\/$/.exec(prefix);
  return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4])) : undefined;
}

export interface CompactionRun {
  readonly hours: number;
  readonly written: number;
  readonly current: number;
  readonly failed: number;
  readonly compactedThrough: string | undefined;
}

/** One timer run: the closed hours not yet compacted, and the recent ones again (late events). */
export async function runCompaction(
  cold: ContainerClient,
  parquet: ContainerClient,
  options: { nowMs: number; graceMs: number; log: CompactionLog },
): Promise<CompactionRun> {
  await parquet.createIfNotExists();
  const state = await readState(parquet);
  const lastClosed = lastClosedHour(options.nowMs, options.graceMs);
  const through = state.compactedThrough === undefined ? undefined : Date.parse(state.compactedThrough);
  const start = through === undefined ? await firstHourWithData(cold) : Math.min(through + HOUR_MS, lastClosed - (RECHECK_HOURS - 1) * HOUR_MS);
  let contiguous = through;
  let hours = 0;
  let written = 0;
  let current = 0;
  let failed = 0;
  for (let hour = start ?? Infinity; hour <= lastClosed && hours < MAX_HOURS_PER_RUN; hour += HOUR_MS, hours++) {
    try {
      for (const result of await compactHour(cold, parquet, hour)) {
        if (result.status === 'written') {
          written++;
          options.log.info({ parquet: result.name, records: result.records, sourceObjects: result.sourceObjects }, 'hour compacted to Parquet');
        } else current++;
      }
      if (contiguous === undefined || hour === contiguous + HOUR_MS) contiguous = hour;
    } catch (err) {
      failed++;
      options.log.warn({ hour: new Date(hour).toISOString(), err: (err as Error).message }, 'hour not compacted; the next run retries it');
    }
  }
  if (contiguous !== undefined && contiguous !== through) await writeState(parquet, { compactedThrough: new Date(contiguous).toISOString() });
  return { hours, written, current, failed, compactedThrough: contiguous === undefined ? undefined : new Date(contiguous).toISOString() };
}
