/**
 * The warm path's Cosmos DB writer (docs/contracts.md §5).
 *
 * Invariants:
 * - readings are upserted with `id` = the record id, so a replayed batch rewrites the same documents;
 * - `pk = "{deviceId}:{yyyy-MM-dd of enqueuedAt, UTC}"` spreads a device's data over day partitions;
 * - each reading carries `ttl` (seconds) — the container must have TTL switched on (any default);
 * - one `latest` document per device (per leaf behind the edge module) moves only forward: it is replaced
 *   with IfMatch on its etag, so two concurrent batches cannot move it backwards (412 → re-read and
 *   decide again; 409 on create → the same). Losing that race to a newer reading is expected, not an
 *   error. "Newer" reads `ts` clamped to [enqueuedAt − 30 days, enqueuedAt + 5 min] (contracts §5), so a
 *   device with a wrong clock cannot pin it;
 * - 429 and transient errors are retried (per operation here, per request by the SDK); what still fails makes `writeWarm` throw, so the
 *   host's retry policy replays the whole batch (harmless: every write is idempotent).
 */
import type { Container, JSONObject, OperationInput } from '@azure/cosmos';
import { BulkOperationType } from '@azure/cosmos';
import { bulkWithRetry } from './cosmosBulk.js';
import { latestDocumentId } from '@iot-ingest/contracts';
import type { TelemetryRecord } from './record.js';

export interface ReadingDocument extends TelemetryRecord {
  type: 'reading';
  pk: string;
  /** Seconds; -1 never expires. */
  ttl: number;
}

export interface LatestDocument extends Omit<TelemetryRecord, 'id'> {
  id: string;
  pk: string;
  type: 'latest';
  /** The id of the reading this document copies. */
  readingId: string;
  /** The latest document never expires. */
  ttl: -1;
}

export interface WarmWriteResult {
  readonly documents: number;
  readonly latestUpdated: number;
  /** Devices whose stored `latest` was already as new or newer. */
  readonly latestUnchanged: number;
}

export interface WarmWriteOptions {
  readonly ttlSeconds: number;
  /** Concurrent `latest` updates (each is a read plus a conditional write). */
  readonly latestConcurrency?: number;
}

export function partitionKeyFor(deviceId: string, enqueuedAt: string): string {
  return `${deviceId}:${enqueuedAt.slice(0, 10)}`;
}

export function latestId(deviceId: string): string {
  return latestDocumentId(deviceId);
}

/** How far after IoT Hub accepted it a reading's own time may be (clock skew), for ordering `latest`. */
export const LATEST_MAX_FUTURE_MS = 5 * 60_000;
/** How far before (a reading buffered at the edge), for ordering `latest`. */
export const LATEST_MAX_PAST_MS = 30 * 24 * 3600_000;

/**
 * The time `latest` orders a reading by: its `ts` clamped to [enqueuedAt − 30 days, enqueuedAt + 5 min].
 * A far-future `ts` cannot pin the document; a far-past one cannot outrank data timed within the window.
 */
export function latestOrderingTime(record: Pick<TelemetryRecord, 'ts' | 'enqueuedAt'>): number {
  const enqueued = Date.parse(record.enqueuedAt);
  const ts = Date.parse(record.ts);
  if (Number.isNaN(enqueued)) return Number.isNaN(ts) ? 0 : ts;
  if (Number.isNaN(ts)) return enqueued;
  return Math.min(enqueued + LATEST_MAX_FUTURE_MS, Math.max(enqueued - LATEST_MAX_PAST_MS, ts));
}

export function toReadingDocument(record: TelemetryRecord, ttlSeconds: number): ReadingDocument {
  return { ...record, type: 'reading', pk: partitionKeyFor(record.deviceId, record.enqueuedAt), ttl: ttlSeconds };
}

export function toLatestDocument(record: TelemetryRecord): LatestDocument {
  const { id: readingId, ...rest } = record;
  const id = latestId(record.deviceId);
  return { ...rest, id, pk: id, type: 'latest', readingId, ttl: -1 };
}

/**
 * Whether reading `a` is newer than `b`: by the reading's own timestamp (clamped, see
 * latestOrderingTime), then by position in the device's partition (sequence number, envelope index),
 * which is the hub's arrival order.
 */
export function isNewer(
  a: Pick<TelemetryRecord, 'ts' | 'enqueuedAt' | 'sequenceNumber' | 'index'>,
  b: Pick<TelemetryRecord, 'ts' | 'enqueuedAt' | 'sequenceNumber' | 'index'>,
): boolean {
  const ta = latestOrderingTime(a);
  const tb = latestOrderingTime(b);
  if (ta !== tb) return ta > tb;
  if (a.sequenceNumber !== b.sequenceNumber) return a.sequenceNumber > b.sequenceNumber;
  return a.index > b.index;
}

/** The newest record of each device in a batch. */
export function newestPerDevice(records: readonly TelemetryRecord[]): TelemetryRecord[] {
  const newest = new Map<string, TelemetryRecord>();
  for (const record of records) {
    const current = newest.get(record.deviceId);
    if (!current || isNewer(record, current)) newest.set(record.deviceId, record);
  }
  return [...newest.values()];
}

/** Write one batch of records: bulk upsert of readings, then the `latest` documents. Throws if anything failed. */
export async function writeWarm(container: Container, records: readonly TelemetryRecord[], options: WarmWriteOptions): Promise<WarmWriteResult> {
  if (records.length === 0) return { documents: 0, latestUpdated: 0, latestUnchanged: 0 };
  await upsertReadings(container, records.map((r) => toReadingDocument(r, options.ttlSeconds)));
  const outcomes = await mapBounded(newestPerDevice(records), options.latestConcurrency ?? 16, (r) => advanceLatest(container, r));
  const latestUpdated = outcomes.filter((o) => o === 'updated').length;
  return { documents: records.length, latestUpdated, latestUnchanged: outcomes.length - latestUpdated };
}

/**
 * Upsert readings with `items.bulk` (cosmosBulk.ts): it sends each chunk at once. (`executeBulkOperations` in
 * @azure/cosmos 4.9 sleeps a full second before it looks for a finished partial batch, which put a 1 s
 * floor under every invocation and capped each partition at one trigger batch per second.) Throttled
 * operations are retried there with exponential backoff; what still fails throws, naming the first.
 */
export async function upsertReadings(container: Container, documents: readonly ReadingDocument[]): Promise<void> {
  const { responses, attempts } = await bulkWithRetry(
    container,
    documents.map((doc): OperationInput => ({ operationType: BulkOperationType.Upsert, partitionKey: doc.pk, resourceBody: doc as unknown as JSONObject })),
  );
  const failed = responses.flatMap((response, i) => (response.statusCode >= 200 && response.statusCode < 300 ? [] : [{ id: documents[i]!.id, status: response.statusCode }]));
  if (failed.length > 0) {
    throw new Error(
      `warm path: ${failed.length} of ${documents.length} upserts failed` +
        (attempts > 1 ? ` after ${attempts} attempts` : '') +
        `; first: id ${failed[0]!.id} status ${failed[0]!.status}`,
    );
  }
}

const MAX_LATEST_ATTEMPTS = 10;

/** Move the device's `latest` document to `record` unless it already holds a newer (or the same) reading. */
export async function advanceLatest(container: Container, record: TelemetryRecord): Promise<'updated' | 'unchanged'> {
  const id = latestId(record.deviceId);
  const doc = toLatestDocument(record);
  for (let attempt = 1; attempt <= MAX_LATEST_ATTEMPTS; attempt++) {
    const read = await container.item(id, id).read<LatestDocument>();
    const current = read.resource;
    if (!current || read.statusCode === 404) {
      try {
        await container.items.create(doc);
        return 'updated';
      } catch (err) {
        if (statusOf(err) === 409) continue; // someone created it first: re-read and compare
        throw err;
      }
    }
    if (current.readingId === doc.readingId || !isNewer(doc, current)) return 'unchanged';
    try {
      await container.item(id, id).replace(doc, { accessCondition: { type: 'IfMatch', condition: current._etag } });
      return 'updated';
    } catch (err) {
      if (statusOf(err) === 412) continue; // a concurrent writer moved it: re-read and compare
      throw err;
    }
  }
  throw new Error(`warm path: latest document for device '${record.deviceId}' kept changing; gave up after ${MAX_LATEST_ATTEMPTS} attempts`);
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Map with at most `limit` promises in flight, results in input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
