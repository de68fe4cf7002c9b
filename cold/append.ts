/**
 * Appending to the cold objects (coldLayout.ts) in Blob Storage: per (partition, hour) group, stage each
 * new block (`stageBlock`) and commit the object's block list plus the new ids (`commitBlockList`) under
 * the ETag last seen (`If-None-Match: *` for a new object). A 412/409 means another writer (a second host
 * during a rebalance) committed first: reload its block list, drop what it already stored, stage again and
 * retry — so racing writers never lose or duplicate a block.
 *
 * What each object holds (ETag, committed ids and ranges) is remembered per writer, so an append costs
 * two write operations and no read; a partition-hour is listed only the first time it is seen.
 */
import type { BlobHTTPHeaders, ContainerClient } from '@azure/storage-blob';
import type { TelemetryRecord } from '@iot-ingest/contracts';
import type { SequenceRange } from './layout.js';
import {
  COLD_CONTENT_TYPE,
  MAX_BLOCKS_PER_OBJECT,
  coldObjectName,
  encodeBlock,
  groupByObject,
  planBlocks,
  rangeOfBlockId,
  rolloverOf,
} from './layout.js';

export const COLD_HEADERS: BlobHTTPHeaders = Object.freeze({ blobContentType: COLD_CONTENT_TYPE, blobContentEncoding: 'gzip' });

export interface ColdAppendOptions {
  /** Roll over to the next object before an object would hold more blocks than this (tests use a few). */
  readonly maxBlocksPerObject?: number;
  /** Attempts per group when other writers keep committing first. */
  readonly maxAttempts?: number;
}

export interface ColdAppendResult {
  /** Blocks committed. */
  readonly blocks: number;
  /** Objects written to (names). */
  readonly objects: readonly string[];
  /** Records left out because a committed block already held them (a redelivery). */
  readonly alreadyStored: number;
  /** Storage write operations (stageBlock + commitBlockList calls). */
  readonly writeOperations: number;
}

interface ObjectState {
  readonly name: string;
  /** Undefined: the object does not exist yet. */
  etag: string | undefined;
  blockIds: string[];
  ranges: SequenceRange[];
}

/** Objects of one partition-hour, in rollover order (appends go to the last). */
interface PartitionHour {
  readonly objects: ObjectState[];
  /** The rollover number the next new object gets. */
  nextRollover: number;
}

/** How many partition-hours a writer remembers (the current and the previous hour of many partitions). */
const REMEMBERED_PARTITION_HOURS = 256;

export class ColdAppender {
  private readonly known = new Map<string, PartitionHour>();
  private readonly maxBlocks: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly container: ContainerClient,
    options: ColdAppendOptions = {},
  ) {
    this.maxBlocks = options.maxBlocksPerObject ?? MAX_BLOCKS_PER_OBJECT;
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  async append(records: readonly TelemetryRecord[]): Promise<ColdAppendResult> {
    const results = await Promise.all(groupByObject(records).map((g) => this.appendGroup(g.prefix, g.partition, g.records)));
    return {
      blocks: results.reduce((n, r) => n + r.blocks, 0),
      objects: results.flatMap((r) => r.objects),
      alreadyStored: results.reduce((n, r) => n + r.alreadyStored, 0),
      writeOperations: results.reduce((n, r) => n + r.writeOperations, 0),
    };
  }

  private async appendGroup(prefix: string, partition: string, records: readonly TelemetryRecord[]): Promise<ColdAppendResult> {
    const key = `${prefix}p${partition}`;
    let writeOperations = 0;
    for (let attempt = 1; ; attempt++) {
      const hour = this.known.get(key) ?? (await this.load(prefix, partition));
      this.remember(key, hour);
      const { objects } = hour;
      const blocks = planBlocks(
        records,
        objects.flatMap((o) => o.ranges),
      );
      const alreadyStored = records.length - blocks.reduce((n, b) => n + b.records.length, 0);
      if (blocks.length === 0) return { blocks: 0, objects: [], alreadyStored, writeOperations };

      let target = objects[objects.length - 1];
      if (!target || target.blockIds.length + blocks.length > this.maxBlocks) {
        target = { name: coldObjectName(prefix, partition, hour.nextRollover++), etag: undefined, blockIds: [], ranges: [] };
        objects.push(target);
      }
      const blob = this.container.getBlockBlobClient(target.name);
      await Promise.all(
        blocks.map((b) => {
          const bytes = encodeBlock(b.records);
          return blob.stageBlock(b.id, bytes, bytes.length);
        }),
      );
      writeOperations += blocks.length;
      try {
        writeOperations++;
        const committed = await blob.commitBlockList([...target.blockIds, ...blocks.map((b) => b.id)], {
          blobHTTPHeaders: COLD_HEADERS,
          conditions: target.etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: target.etag },
        });
        target.etag = committed.etag;
        target.blockIds.push(...blocks.map((b) => b.id));
        target.ranges.push(...blocks.map((b) => b.range));
        return { blocks: blocks.length, objects: [target.name], alreadyStored, writeOperations };
      } catch (err) {
        if (!isLostRace(err) || attempt >= this.maxAttempts) throw err;
        // Another writer committed first: its blocks decide what is left to append. A short random
        // pause keeps two writers from colliding again in lockstep.
        this.known.delete(key);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  /** The partition-hour's objects as stored: names in rollover order, each one's ETag and committed blocks. */
  private async load(prefix: string, partition: string): Promise<PartitionHour> {
    const found: Array<{ name: string; rollover: number }> = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: `${prefix}p${partition}` })) {
      const rollover = rolloverOf(blob.name, prefix, partition);
      if (rollover !== undefined) found.push({ name: blob.name, rollover });
    }
    found.sort((a, b) => a.rollover - b.rollover);
    const objects = await Promise.all(
      found.map(async ({ name }): Promise<ObjectState> => {
        const list = await this.container.getBlockBlobClient(name).getBlockList('committed');
        const blockIds = (list.committedBlocks ?? []).map((b) => b.name);
        return { name, etag: list.etag, blockIds, ranges: blockIds.map(rangeOfBlockId).filter((r): r is SequenceRange => r !== undefined) };
      }),
    );
    return { objects, nextRollover: found.length === 0 ? 0 : (found[found.length - 1] as { rollover: number }).rollover + 1 };
  }

  private remember(key: string, hour: PartitionHour): void {
    this.known.delete(key);
    this.known.set(key, hour);
    while (this.known.size > REMEMBERED_PARTITION_HOURS) this.known.delete(this.known.keys().next().value as string);
  }
}

/** The commit lost to another writer: the ETag moved (412), or the object appeared meanwhile (409). */
function isLostRace(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string };
  return e?.statusCode === 412 || (e?.statusCode === 409 && e.code === 'BlobAlreadyExists') || e?.code === 'ConditionNotMet';
}
