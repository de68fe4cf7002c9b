/**
 * One partition of the durable log: append-only segment files plus an in-memory index.
 *
 * Invariants:
 * - sequence numbers start at 0 and grow by one per event; offsets are byte positions in the partition's
 *   logical byte stream (segment file name = its base offset), so they only grow and survive restarts;
 * - an append resolves only after its record is written and fdatasync'ed (group commit: the first append
 *   arms a timer of `fsyncIntervalMs`, a full `flushBytes` flushes at once, and appends that arrive while
 *   a flush runs go out in the next one right after it);
 * - readers (`read`, `onAppend`) only ever see committed (synced) events, so nothing a consumer saw can
 *   vanish in a crash;
 * - on open, a torn tail of the last segment is truncated; damage anywhere else refuses to open;
 * - retention deletes whole, fully committed segments, oldest first, never the one being written.
 */
import { mkdir, open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { HubEventInput, PartitionInfo, StoredEvent } from '../log-types.js';
import { decodeRecord, encodeRecord, scanRecords } from './record.js';

export interface PartitionLogOptions {
  /** Longest an append waits for its fsync batch. */
  readonly fsyncIntervalMs: number;
  /** Pending bytes that trigger a flush without waiting for the interval. */
  readonly flushBytes: number;
  /** A segment is closed and a new one started once it would grow past this. */
  readonly segmentBytes: number;
  /** Recent committed events kept in memory for readers. */
  readonly cacheBytes: number;
  /** Delete the oldest segments while the partition holds more than this (undefined: no limit). */
  readonly retentionBytes: number | undefined;
  /** Delete segments whose newest event is older than this (undefined: no limit). */
  readonly retentionMs: number | undefined;
  readonly logger: Logger;
}

interface Segment {
  readonly baseOffset: number;
  readonly file: string;
  /** Bytes of committed records (what readers may touch). */
  committedBytes: number;
  /** Bytes assigned to records, committed or not (decides rolling). */
  assignedBytes: number;
  /** Committed events in this segment. */
  count: number;
  lastEnqueuedTimeUtc: number;
  writer: FileHandle | undefined;
  readFd: number | undefined;
  /** Created by a roll and not yet on disk: the directory must be synced after its first write. */
  isNew: boolean;
}

interface PendingAppend {
  readonly frame: Buffer;
  readonly stored: StoredEvent;
  readonly resolve: (event: StoredEvent) => void;
  readonly reject: (error: Error) => void;
}

interface PendingGroup {
  readonly segment: Segment;
  readonly items: PendingAppend[];
}

const SEGMENT_NAME = /^(\d{20})\.seg$/;
const READ_CHUNK_BYTES = 1024 * 1024;

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.seg`;
}

export class PartitionLog {
  private readonly segments: Segment[] = [];
  // Index of committed, retained events: element i is sequence number beginSeq + i.
  private offsets: number[] = [];
  private times: number[] = [];
  private sizes: number[] = [];
  private beginSeq = 0;
  /** Next sequence number to commit (committed events are [beginSeq, committedNext)). */
  private committedNext = 0;
  private everHadEvents = false;
  // Assignment state (runs ahead of commits by the pending appends).
  private nextSeq = 0;
  private nextOffset = 0;
  private lastAssignedTimeUtc = 0;

  private recent: StoredEvent[] = [];
  private recentHead = 0;
  private recentBytes = 0;

  private pending: PendingGroup[] = [];
  private inflight: PendingGroup[] = [];
  private pendingBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  /** True from the start of a flush loop until it finds nothing more to write (set synchronously). */
  private flushActive = false;
  private flushDone: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private readonly listeners = new Set<(event: StoredEvent) => void>();

  private constructor(
    readonly partition: number,
    private readonly dir: string,
    private readonly options: PartitionLogOptions,
  ) {}

  static async open(partition: number, dir: string, options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(partition, dir, options);
    await log.recover();
    return log;
  }

  private async recover(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const names = (await readdir(this.dir)).filter((name) => SEGMENT_NAME.test(name)).sort();
    let expectedSeq: number | undefined;
    for (const [i, name] of names.entries()) {
      const file = path.join(this.dir, name);
      const baseOffset = Number(SEGMENT_NAME.exec(name)?.[1]);
      const bytes = await readFile(file);
      const scan = scanRecords(bytes);
      if (scan.stop !== 'end') {
        if (i !== names.length - 1) {
          throw new Error(
            `log segment ${file} is damaged at byte ${scan.validBytes} (${scan.stop}); only the newest segment may have a torn tail`,
          );
        }
        const handle = await open(file, 'r+');
        try {
          await handle.truncate(scan.validBytes);
          await handle.datasync();
        } finally {
          await handle.close();
        }
        this.options.logger.warn(
          { partition: this.partition, file, keptBytes: scan.validBytes, droppedBytes: bytes.length - scan.validBytes, reason: scan.stop },
          'truncated the torn tail of a log segment',
        );
      }
      const segment: Segment = {
        baseOffset,
        file,
        committedBytes: scan.validBytes,
        assignedBytes: scan.validBytes,
        count: scan.records.length,
        lastEnqueuedTimeUtc: 0,
        writer: undefined,
        readFd: undefined,
        isNew: false,
      };
      for (const record of scan.records) {
        if (expectedSeq !== undefined && record.sequenceNumber !== expectedSeq) {
          throw new Error(
            `log segment ${file}: sequence number ${record.sequenceNumber} where ${expectedSeq} was expected`,
          );
        }
        if (expectedSeq === undefined) this.beginSeq = record.sequenceNumber;
        expectedSeq = record.sequenceNumber + 1;
        this.offsets.push(baseOffset + record.position);
        this.times.push(record.enqueuedTimeUtc);
        this.sizes.push(record.frameBytes);
        segment.lastEnqueuedTimeUtc = record.enqueuedTimeUtc;
        this.lastAssignedTimeUtc = Math.max(this.lastAssignedTimeUtc, record.enqueuedTimeUtc);
      }
      this.segments.push(segment);
    }
    // If every retained record was lost (an emptied newest segment), numbering restarts at 0 but offsets
    // still continue from the segment's base, so offsets never repeat.
    this.committedNext = expectedSeq ?? 0;
    if (expectedSeq === undefined) this.beginSeq = 0;
    this.everHadEvents = expectedSeq !== undefined;
    this.nextSeq = this.committedNext;
    const last = this.segments.at(-1);
    this.nextOffset = last ? last.baseOffset + last.committedBytes : 0;
    if (!last) this.segments.push(this.newSegment(0));
    this.enforceRetention(Date.now());
  }

  private newSegment(baseOffset: number): Segment {
    return {
      baseOffset,
      file: path.join(this.dir, segmentFileName(baseOffset)),
      committedBytes: 0,
      assignedBytes: 0,
      count: 0,
      lastEnqueuedTimeUtc: 0,
      writer: undefined,
      readFd: undefined,
      isNew: true,
    };
  }

  append(event: HubEventInput): Promise<StoredEvent> {
    if (this.closed) return Promise.reject(new Error(`log partition ${this.partition} is closed`));
    if (this.failure) {
      return Promise.reject(new Error(`log partition ${this.partition} failed earlier: ${this.failure.message}`));
    }
    const sequenceNumber = this.nextSeq;
    const enqueuedTimeUtc = Math.max(Date.now(), this.lastAssignedTimeUtc);
    const frame = encodeRecord(event, sequenceNumber, enqueuedTimeUtc);
    let segment = this.segments.at(-1) as Segment;
    if (segment.assignedBytes > 0 && segment.assignedBytes + frame.length > this.options.segmentBytes) {
      segment = this.newSegment(this.nextOffset);
      this.segments.push(segment);
    }
    const stored: StoredEvent = {
      ...event,
      partition: this.partition,
      sequenceNumber,
      offset: String(this.nextOffset),
      enqueuedTimeUtc,
    };
    this.nextSeq += 1;
    this.nextOffset += frame.length;
    this.lastAssignedTimeUtc = enqueuedTimeUtc;
    segment.assignedBytes += frame.length;
    return new Promise<StoredEvent>((resolve, reject) => {
      let group = this.pending.at(-1);
      if (!group || group.segment !== segment) {
        group = { segment, items: [] };
        this.pending.push(group);
      }
      group.items.push({ frame, stored, resolve, reject });
      this.pendingBytes += frame.length;
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushActive) return; // the running flush loop picks these up right after its current write
    if (this.pendingBytes >= this.options.flushBytes || this.options.fsyncIntervalMs === 0) {
      this.startFlush();
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.startFlush();
      }, this.options.fsyncIntervalMs);
    }
  }

  private startFlush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.flushActive) return;
    this.flushActive = true;
    this.flushDone = this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.failure) {
        const groups = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        this.inflight = groups;
        try {
          for (const group of groups) await this.writeGroup(group);
        } catch (error) {
          this.fail(error instanceof Error ? error : new Error(String(error)), groups);
          break;
        } finally {
          this.inflight = [];
        }
        for (const group of groups) this.commitGroup(group);
      }
      if (!this.failure) this.enforceRetention(Date.now());
    } finally {
      // Cleared in the same synchronous step that saw an empty queue (not after an await), so an append
      // made by a caller whose promise was just resolved finds no running loop and arms a new flush.
      this.flushActive = false;
    }
  }

  private async writeGroup(group: PendingGroup): Promise<void> {
    const segment = group.segment;
    if (!segment.writer) segment.writer = await open(segment.file, 'a');
    const frames = group.items.map((item) => item.frame);
    await segment.writer.writev(frames);
    await segment.writer.datasync();
    if (segment.isNew) {
      // A new file's directory entry must be durable too, or a crash could lose the whole segment.
      const dirHandle = await open(this.dir, 'r');
      try {
        await dirHandle.sync();
      } finally {
        await dirHandle.close();
      }
      segment.isNew = false;
    }
    if (segment !== this.segments.at(-1)) {
      await segment.writer.close();
      segment.writer = undefined;
    }
  }

  private commitGroup(group: PendingGroup): void {
    const segment = group.segment;
    for (const item of group.items) {
      const stored = item.stored;
      this.offsets.push(Number(stored.offset));
      this.times.push(stored.enqueuedTimeUtc);
      this.sizes.push(item.frame.length);
      this.committedNext = stored.sequenceNumber + 1;
      this.everHadEvents = true;
      segment.count += 1;
      segment.committedBytes += item.frame.length;
      segment.lastEnqueuedTimeUtc = stored.enqueuedTimeUtc;
      this.remember(stored, item.frame.length);
      item.resolve(stored);
      for (const listener of this.listeners) {
        try {
          listener(stored);
        } catch (error) {
          this.options.logger.error({ partition: this.partition, err: error }, 'log append listener threw');
        }
      }
    }
  }

  private fail(error: Error, groups: PendingGroup[]): void {
    this.failure = error;
    this.options.logger.error(
      { partition: this.partition, dir: this.dir, err: error },
      'log write failed; the partition refuses further appends',
    );
    const wrapped = new Error(`log partition ${this.partition}: write to ${this.dir} failed: ${error.message}`);
    for (const group of [...groups, ...this.pending]) for (const item of group.items) item.reject(wrapped);
    this.pending = [];
    this.pendingBytes = 0;
  }

  private remember(event: StoredEvent, bytes: number): void {
    this.recent.push(event);
    this.recentBytes += bytes;
    while (this.recentBytes > this.options.cacheBytes && this.recent.length - this.recentHead > 1) {
      this.dropRecentHead();
    }
    if (this.recentHead > 1024 && this.recentHead * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.recentHead);
      this.recentHead = 0;
    }
  }

  private dropRecentHead(): void {
    const head = this.recent[this.recentHead];
    if (!head) return;
    this.recentBytes -= this.sizes[head.sequenceNumber - this.beginSeq] ?? 0;
    this.recent[this.recentHead] = undefined as unknown as StoredEvent;
    this.recentHead += 1;
  }

  /** Sequence number of the oldest event held in memory (committedNext when none). */
  private recentBase(): number {
    return this.recent[this.recentHead]?.sequenceNumber ?? this.committedNext;
  }

  read(fromSequenceNumber: number, max: number): readonly StoredEvent[] {
    if (!(max > 0) || this.closed) return []; // closed: its files are closed too
    const from = Math.max(Math.floor(fromSequenceNumber), this.beginSeq);
    if (from >= this.committedNext) return [];
    const end = Math.min(this.committedNext, from + max);
    const recentBase = this.recentBase();
    if (from >= recentBase) {
      const start = this.recentHead + (from - recentBase);
      return this.recent.slice(start, start + (end - from));
    }
    return this.readFromDisk(from, Math.min(end, recentBase));
  }

  private readFromDisk(from: number, end: number): StoredEvent[] {
    const firstOffset = this.offsets[from - this.beginSeq] as number;
    const segment = this.segmentFor(firstOffset);
    const segmentEnd = segment.baseOffset + segment.committedBytes;
    let count = 0;
    let bytes = 0;
    while (from + count < end) {
      const i = from + count - this.beginSeq;
      const size = this.sizes[i] as number;
      if ((this.offsets[i] as number) >= segmentEnd) break;
      if (count > 0 && bytes + size > READ_CHUNK_BYTES) break;
      bytes += size;
      count += 1;
    }
    if (segment.readFd === undefined) segment.readFd = openSync(segment.file, 'r');
    const buf = Buffer.allocUnsafe(bytes);
    const got = readSync(segment.readFd, buf, 0, bytes, firstOffset - segment.baseOffset);
    if (got !== bytes) throw new Error(`log segment ${segment.file}: short read (${got} of ${bytes} bytes)`);
    const events: StoredEvent[] = [];
    let at = 0;
    for (let k = 0; k < count; k += 1) {
      const decoded = decodeRecord(buf, at);
      const seq = from + k;
      events.push({
        ...decoded.event,
        partition: this.partition,
        sequenceNumber: decoded.sequenceNumber,
        offset: String(this.offsets[seq - this.beginSeq]),
        enqueuedTimeUtc: decoded.enqueuedTimeUtc,
      });
      at += this.sizes[seq - this.beginSeq] as number;
    }
    return events;
  }

  private segmentFor(offset: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo] as Segment;
  }

  /** First sequence number whose enqueued time is later than `epochMs` (committedNext if none). */
  sequenceNumberAfterTime(epochMs: number): number {
    return this.beginSeq + upperBound(this.times, epochMs);
  }

  /**
   * Sequence number of the event at `offset`; for an offset between events, the next event after it;
   * past the end, the next sequence number; before the oldest retained event, that event.
   * Undefined when `offset` is not a decimal number.
   */
  sequenceNumberForOffset(offset: string): number | undefined {
    if (!/^\d{1,16}$/.test(offset)) return undefined;
    return this.beginSeq + lowerBound(this.offsets, Number(offset));
  }

  info(): PartitionInfo {
    const count = this.committedNext - this.beginSeq;
    const lastIndex = count - 1;
    return {
      partition: this.partition,
      beginSequenceNumber: count > 0 ? this.beginSeq : this.everHadEvents ? this.committedNext : -1,
      lastSequenceNumber: this.everHadEvents ? this.committedNext - 1 : -1,
      lastOffset: count > 0 ? String(this.offsets[lastIndex]) : '-1',
      lastEnqueuedTimeUtc: count > 0 ? (this.times[lastIndex] as number) : 0,
      isEmpty: count === 0,
    };
  }

  onAppend(listener: (event: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Deletes whole old segments beyond the size or age limit. */
  enforceRetention(nowMs: number): void {
    const { retentionBytes, retentionMs } = this.options;
    if (retentionBytes === undefined && retentionMs === undefined) return;
    const busy = new Set<Segment>([...this.pending, ...this.inflight].map((group) => group.segment));
    let totalBytes = this.segments.reduce((sum, segment) => sum + segment.committedBytes, 0);
    while (this.segments.length > 1) {
      const oldest = this.segments[0] as Segment;
      if (busy.has(oldest)) break;
      const overSize = retentionBytes !== undefined && totalBytes > retentionBytes;
      const tooOld = retentionMs !== undefined && oldest.lastEnqueuedTimeUtc < nowMs - retentionMs;
      if (!overSize && !tooOld) break;
      this.deleteOldestSegment();
      totalBytes -= oldest.committedBytes;
    }
  }

  private deleteOldestSegment(): void {
    const segment = this.segments.shift() as Segment;
    if (segment.readFd !== undefined) closeSync(segment.readFd);
    segment.readFd = undefined;
    try {
      unlinkSync(segment.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    while (this.recent.length > this.recentHead && this.recentBase() < this.beginSeq + segment.count) {
      this.dropRecentHead();
    }
    this.offsets.splice(0, segment.count);
    this.times.splice(0, segment.count);
    this.sizes.splice(0, segment.count);
    this.beginSeq += segment.count;
    this.options.logger.info(
      { partition: this.partition, file: segment.file, events: segment.count, beginSequenceNumber: this.beginSeq },
      'retention deleted a log segment',
    );
  }

  /** Flushes what is pending (resolving those appends), then closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    while ((this.flushActive || this.pending.length > 0) && !this.failure) {
      if (!this.flushActive) this.startFlush();
      await this.flushDone;
    }
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.closed = true;
    this.listeners.clear();
    for (const segment of this.segments) {
      if (segment.writer) await segment.writer.close();
      segment.writer = undefined;
      if (segment.readFd !== undefined) closeSync(segment.readFd);
      segment.readFd = undefined;
    }
  }
}

/** Index of the first element > value. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element >= value. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
