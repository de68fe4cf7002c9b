/**
 * What the cold store holds under a prefix (a day or an hour), per (partition, hour): its JSON Lines
 * objects, and its Parquet file when the compactor wrote one. A Parquet file stands for its partition-hour
 * only while it is current — its `sources` metadata (a digest of the objects' names and ETags it was made
 * from) matches the objects as they are now. A late append after compaction changes an object's ETag, so
 * readers fall back to the JSON Lines until the compactor rewrites the Parquet: every reading is read
 * exactly once either way.
 */
import { createHash } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';

/** Blob metadata key on a Parquet file: the digest of the sources it was made from. */
export const SOURCES_METADATA = 'sources';
/** Blob metadata key on a Parquet file: how many records it holds. */
export const RECORDS_METADATA = 'records';

export interface StoredFile {
  readonly name: string;
  readonly etag: string;
  readonly sizeBytes: number;
}

export interface PartitionHour {
  /** `year=YYYY/month=MM/day=DD/hour=HH/` */
  readonly prefix: string;
  readonly partition: string;
  /** In rollover order. */
  readonly jsonl: readonly StoredFile[];
  readonly parquet: (StoredFile & { readonly sources: string | undefined }) | undefined;
  /** Digest of the JSON Lines objects as they are now. */
  readonly sources: string;
  /** The Parquet file exists and was made from exactly these objects. */
  readonly compacted: boolean;
}

// `p{partition}.jsonl.gz`, `p{partition}-{rollover}.jsonl.gz`, and the earlier layout's per-invocation
// `p{partition}-{firstSeq}-{lastSeq}.jsonl.gz` (still read, never written).
const OBJECT_NAME = /^(year=\d{4}\/month=\d{2}\/day=\d{2}\/hour=\d{2}\/)p([^/-]+)(?:-(\d+))?(-\d+)?\.jsonl\.gz$/;
const PARQUET_NAME = /^(year=\d{4}\/month=\d{2}\/day=\d{2}\/hour=\d{2}\/)p([^/-]+)\.parquet$/;

/** The Parquet file of a partition-hour. */
export function parquetName(prefix: string, partition: string): string {
  return `${prefix}p${partition}.parquet`;
}

export function sourcesDigest(objects: readonly StoredFile[]): string {
  const hash = createHash('sha256');
  for (const o of [...objects].sort((a, b) => a.name.localeCompare(b.name))) hash.update(`${o.name}\n${o.etag}\n`);
  return hash.digest('hex');
}

export async function listPartitionHours(cold: ContainerClient, parquet: ContainerClient, prefix: string): Promise<PartitionHour[]> {
  // The two listings are independent: side by side.
  const [groups, compacted] = await Promise.all([listJsonLines(cold, prefix), listParquet(parquet, prefix)]);
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, group]) => {
      const jsonl = group.jsonl.sort((a, b) => a.rollover - b.rollover || a.name.localeCompare(b.name)).map(({ name, etag, sizeBytes }) => ({ name, etag, sizeBytes }));
      const sources = sourcesDigest(jsonl);
      const file = compacted.get(key);
      return { prefix: group.prefix, partition: group.partition, jsonl, parquet: file, sources, compacted: file?.sources === sources };
    });
}

type JsonLinesGroups = Map<string, { prefix: string; partition: string; jsonl: Array<StoredFile & { rollover: number }> }>;

async function listJsonLines(cold: ContainerClient, prefix: string): Promise<JsonLinesGroups> {
  const groups: JsonLinesGroups = new Map();
  for await (const blob of cold.listBlobsFlat({ prefix })) {
    const match = OBJECT_NAME.exec(blob.name);
    if (!match) continue;
    const [, hour, partition, rollover, legacyLast] = match as unknown as [string, string, string, string | undefined, string | undefined];
    const key = `${hour}p${partition}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { prefix: hour, partition, jsonl: [] }));
    group.jsonl.push({ name: blob.name, etag: blob.properties.etag ?? '', sizeBytes: blob.properties.contentLength ?? 0, rollover: legacyLast === undefined ? Number(rollover ?? 0) : -1 });
  }
  return groups;
}

async function listParquet(parquet: ContainerClient, prefix: string): Promise<Map<string, StoredFile & { sources: string | undefined }>> {
  const compacted = new Map<string, StoredFile & { sources: string | undefined }>();
  try {
    for await (const blob of parquet.listBlobsFlat({ prefix, includeMetadata: true })) {
      const match = PARQUET_NAME.exec(blob.name);
      if (!match) continue;
      compacted.set(`${match[1]}p${match[2]}`, {
        name: blob.name,
        etag: blob.properties.etag ?? '',
        sizeBytes: blob.properties.contentLength ?? 0,
        sources: blob.metadata?.[SOURCES_METADATA],
      });
    }
  } catch (err) {
    // No Parquet container yet (nothing compacted so far): every partition-hour reads its JSON Lines.
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  return compacted;
}
