/**
 * The cold store's layout (docs/contracts.md §5), pure: which object a record goes to, how an append is
 * split into blocks, and what a block id says.
 *
 * - One object per (partition, hour of `enqueuedAt`): `year=YYYY/month=MM/day=DD/hour=HH/p{partition}.jsonl.gz`,
 *   then `p{partition}-1.jsonl.gz`, `-2`, … when an object would pass the block limit.
 * - Each append is one block: a gzip member of JSON Lines (concatenated members are one valid gzip file).
 * - A block id is the sequence range of the events it holds (`{first}-{last}`, 20 digits each, so every id
 *   of an object has the same length, as Blob Storage requires). A record whose sequence number lies in a
 *   committed block's range is already stored: a redelivered batch, however the host split it, is never
 *   appended twice.
 */
import { gzipSync } from 'node:zlib';
import type { TelemetryRecord } from '@iot-ingest/contracts';

export const COLD_CONTENT_TYPE = 'application/x-ndjson';
/** Blob Storage's limit on committed blocks per block blob. */
export const MAX_BLOCKS_PER_OBJECT = 50_000;

export interface SequenceRange {
  readonly first: number;
  readonly last: number;
}

/** `year=YYYY/month=MM/day=DD/hour=HH/` of an ISO instant, UTC. */
export function hourPrefix(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `year=${d.getUTCFullYear()}/month=${pad(d.getUTCMonth() + 1)}/day=${pad(d.getUTCDate())}/hour=${pad(d.getUTCHours())}/`;
}

/** The n-th object (0 = the first) of a partition-hour. */
export function coldObjectName(prefix: string, partition: string, rollover: number): string {
  return `${prefix}p${partition}${rollover === 0 ? '' : `-${rollover}`}.jsonl.gz`;
}

/** The rollover number of a blob name if it is an object of this partition (`p1` never matches `p10`). */
export function rolloverOf(name: string, prefix: string, partition: string): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const match = /^p([^/-]+)(?:-(\d+))?\.jsonl\.gz$/.exec(name.slice(prefix.length));
  if (!match || match[1] !== partition) return undefined;
  return match[2] === undefined ? 0 : Number(match[2]);
}

export function blockId(range: SequenceRange): string {
  const digits = (n: number): string => String(n).padStart(20, '0');
  return Buffer.from(`${digits(range.first)}-${digits(range.last)}`, 'utf8').toString('base64');
}

/** The range a block id holds; undefined for an id this layout did not write. */
export function rangeOfBlockId(id: string): SequenceRange | undefined {
  const match = /^(\d{20})-(\d{20})$/.exec(Buffer.from(id, 'base64').toString('utf8'));
  return match ? { first: Number(match[1]), last: Number(match[2]) } : undefined;
}

export interface RecordGroup {
  readonly prefix: string;
  readonly partition: string;
  readonly records: readonly TelemetryRecord[];
}

/** Records by (hour, partition), each group in the order given (partition order). */
export function groupByObject(records: readonly TelemetryRecord[]): RecordGroup[] {
  const groups = new Map<string, { prefix: string; partition: string; records: TelemetryRecord[] }>();
  for (const record of records) {
    const prefix = hourPrefix(record.enqueuedAt);
    const key = `${prefix}\u0000${record.partition}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { prefix, partition: record.partition, records: [] }));
    group.records.push(record);
  }
  return [...groups.values()];
}

export interface PlannedBlock {
  readonly id: string;
  readonly range: SequenceRange;
  readonly records: readonly TelemetryRecord[];
}

/**
 * The blocks to append for a group, given the ranges already committed to the partition-hour's objects:
 * records already stored are left out, and the rest split wherever a committed range lies between them
 * (so no two blocks' ranges ever overlap).
 */
export function planBlocks(records: readonly TelemetryRecord[], committed: readonly SequenceRange[]): PlannedBlock[] {
  // Committed ranges never overlap, so sorted by start they are sorted by end too: binary search.
  const ranges = [...committed].sort((a, b) => a.first - b.first);
  const firstEndingFrom = (seq: number): SequenceRange | undefined => {
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((ranges[mid] as SequenceRange).last < seq) lo = mid + 1;
      else hi = mid;
    }
    return ranges[lo];
  };
  const committedBetween = (a: number, b: number): boolean => {
    const range = firstEndingFrom(a);
    return range !== undefined && range.first <= b;
  };
  const isCovered = (seq: number): boolean => committedBetween(seq, seq);
  const fresh = records.filter((r) => !isCovered(r.sequenceNumber)).sort((a, b) => a.sequenceNumber - b.sequenceNumber || a.index - b.index);
  const blocks: PlannedBlock[] = [];
  let run: TelemetryRecord[] = [];
  const close = (): void => {
    if (run.length === 0) return;
    const range = { first: (run[0] as TelemetryRecord).sequenceNumber, last: (run[run.length - 1] as TelemetryRecord).sequenceNumber };
    blocks.push({ id: blockId(range), range, records: run });
    run = [];
  };
  for (const record of fresh) {
    const previous = run[run.length - 1];
    if (previous && committedBetween(previous.sequenceNumber, record.sequenceNumber)) close();
    run.push(record);
  }
  close();
  return blocks;
}

/** One block's bytes: a gzip member of JSON Lines (no timestamp in the header: same records, same bytes). */
export function encodeBlock(records: readonly TelemetryRecord[]): Buffer {
  return gzipSync(Buffer.from(records.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8'));
}
