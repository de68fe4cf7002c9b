/**
 * coldPath (consumer group `cold`): one gzip JSON Lines blob per (hour of enqueuedAt, partition,
 * sequence range) at `year=YYYY/month=MM/day=DD/hour=HH/p{partition}-{firstSeq}-{lastSeq}.jsonl.gz`.
 *
 * Invariants: names and bytes depend only on the events (gzip without a timestamp), so a replayed
 * batch rewrites the same blobs with the same content; one line per record, in partition order.
 */
import { gzipSync } from 'node:zlib';
import type { EventHubHandler } from '@azure/functions';
import type { ContainerClient } from '@azure/storage-blob';
import type { Runtime } from './clients.js';
import { deadLetterMalformed, readTriggerBatch } from './invocation.js';
import type { TelemetryRecord } from './record.js';
import { defineEventHubFunction } from './registration.js';

export const COLD_PATH = 'coldPath';
export const COLD_CONTENT_TYPE = 'application/x-ndjson';

export interface ColdBlob {
  readonly name: string;
  readonly records: readonly TelemetryRecord[];
}

/** `year=YYYY/month=MM/day=DD/hour=HH/` of an ISO instant, UTC. */
export function hourPrefix(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `year=${d.getUTCFullYear()}/month=${pad(d.getUTCMonth() + 1)}/day=${pad(d.getUTCDate())}/hour=${pad(d.getUTCHours())}/`;
}

/** Group records into the blobs to write: one per (hour, partition), named by its sequence range. */
export function planColdBlobs(records: readonly TelemetryRecord[]): ColdBlob[] {
  const groups = new Map<string, TelemetryRecord[]>();
  for (const record of records) {
    const key = `${hourPrefix(record.enqueuedAt)}\u0000${record.partition}`;
    const group = groups.get(key);
    if (group) group.push(record);
    else groups.set(key, [record]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0] as TelemetryRecord;
    let firstSeq = first.sequenceNumber;
    let lastSeq = first.sequenceNumber;
    for (const r of group) {
      firstSeq = Math.min(firstSeq, r.sequenceNumber);
      lastSeq = Math.max(lastSeq, r.sequenceNumber);
    }
    return { name: `${hourPrefix(first.enqueuedAt)}p${first.partition}-${firstSeq}-${lastSeq}.jsonl.gz`, records: group };
  });
}

export function encodeColdBlob(records: readonly TelemetryRecord[]): Buffer {
  return gzipSync(Buffer.from(records.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8'));
}

/** Upload the planned blobs (overwriting a replay's identical blob is fine). Returns their names. */
export async function writeCold(container: ContainerClient, records: readonly TelemetryRecord[]): Promise<string[]> {
  const blobs = planColdBlobs(records);
  await Promise.all(
    blobs.map((blob) =>
      container.getBlockBlobClient(blob.name).uploadData(encodeColdBlob(blob.records), {
        blobHTTPHeaders: { blobContentType: COLD_CONTENT_TYPE, blobContentEncoding: 'gzip' },
      }),
    ),
  );
  return blobs.map((b) => b.name);
}

export function createColdPathHandler(runtime: Runtime): EventHubHandler {
  return async (messages, context) => {
    const batch = readTriggerBatch(COLD_PATH, messages, context, runtime);
    await deadLetterMalformed(batch, runtime);
    const names = await writeCold(runtime.coldContainer(), batch.readings.map((r) => r.record));
    runtime.counters.blobs += names.length;
    batch.log.info({ events: batch.events.length, records: batch.readings.length, blobs: names }, 'cold blobs written');
  };
}

export const coldPathFunction = defineEventHubFunction(COLD_PATH, 'cold', createColdPathHandler);
