/**
 * The durable log: append-only segment files in one directory, an in-memory index, group commit.
 * The invariants are in README.md; recovery is in recover.ts, the frame format in frame.ts.
 *
 * `T` is what an append resolves with: the caller builds it from the sequence number and byte position
 * the frame gets (`tag`), and receives it again in `onDurable` once the frame is on disk.
 */
import path from 'node:path';
import { EntryIndex } from './entry-index.js';
import { LogClosedError, LogStoppedError, LogWriteError, ShortWriteError } from './errors.js';
import type { WriteStep } from './errors.js';
import { checkFrame, DEFAULT_MAX_PAYLOAD_BYTES, FRAME_HEADER_BYTES, sealFrame } from './frame.js';
import { nodeFileSystem } from './fs.js';
import type { AppendHandle, LogFileSystem, ReadHandle } from './fs.js';
import { silentLogger } from './logger.js';
import type { LogLogger } from './logger.js';
import { recoverSegments, segmentFileName } from './recover.js';

export interface DurableLogOptions<T> {
  /** The log's directory (created if missing); it holds `<20-digit base position>.seg` files only. */
  readonly dir: string;
  /** Default: the real filesystem. Tests pass a FaultyFileSystem. */
  readonly fs?: LogFileSystem;
  /** A new segment file starts when a frame would grow the current one past this. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Longest an append waits for its group's write and fsync. 0 (default): start as soon as none is running. */
  readonly flushDelayMs?: number;
  /** Pending bytes that start a write before flushDelayMs ends. Default 1 MiB. */
  readonly flushBytes?: number;
  /** Sequence number of an empty log's first frame, and the lowest the next append may get. Default 0. */
  readonly firstSeq?: number;
  /** Larger payloads are refused. Default 64 MiB. */
  readonly maxPayloadBytes?: number;
  readonly logger?: LogLogger;
  /** Fields added to every log line (e.g. `{ partition: 3 }`). */
  readonly logFields?: Readonly<Record<string, unknown>>;
  /** Called for each append once it is durable, in sequence order, before its promise resolves. */
  readonly onDurable?: (value: T) => void;
  /** Called when a run of writes ends with nothing left pending (a moment for retention). */
  readonly onFlushed?: () => void;
}

/** What a retention rule sees of the oldest segment. */
export interface SegmentInfo {
  readonly file: string;
  readonly firstSeq: number;
  /** Sequence numbers it holds (sound and unreadable); its last is firstSeq + entries − 1. */
  readonly entries: number;
  readonly bytes: number;
  /** Timestamp of its newest sound frame (0 if none). */
  readonly lastTimestampMs: number;
}

export interface LogStats {
  /** Frames found damaged (on open or on a read) and skipped; the frames around them are kept. */
  readonly unreadableFrames: number;
  readonly unreadableBytes: number;
  /** Bytes of torn tail cut off when the log was opened (a write that never finished). */
  readonly tornTailBytes: number;
  /** The write failure that stopped appends, if one did. */
  readonly failure: LogWriteError | undefined;
}

export interface ReadFrame {
  readonly seq: number;
  readonly timestampMs: number;
  /** A view into a read buffer shared by the frames of one read. */
  readonly payload: Buffer;
}

export interface ReadResult {
  readonly frames: ReadFrame[];
  /** Where the next read continues. */
  readonly next: number;
}

interface Segment {
  readonly basePosition: number;
  readonly file: string;
  firstSeq: number;
  entries: number;
  /** Bytes that are durable (what readers may touch). */
  committedBytes: number;
  /** Bytes given to frames, durable or pending (decides rolling). */
  assignedBytes: number;
  lastTimestampMs: number;
  writer: AppendHandle | undefined;
  reader: ReadHandle | undefined;
  /** Made by a roll and not on disk yet: the directory is synced after its first write. */
  isNew: boolean;
}

interface PendingAppend<T> {
  readonly frame: Buffer;
  readonly timestampMs: number;
  readonly value: T;
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
}

interface PendingGroup<T> {
  readonly segment: Segment;
  readonly items: PendingAppend<T>[];
}

const DEFAULTS = { segmentBytes: 64 * 1024 * 1024, flushDelayMs: 0, flushBytes: 1024 * 1024, firstSeq: 0 } as const;
const READ_CHUNK_BYTES = 1024 * 1024;

export class DurableLog<T = number> {
  private readonly fs: LogFileSystem;
  private readonly logger: LogLogger;
  private readonly logFields: Readonly<Record<string, unknown>>;
  private readonly segmentBytes: number;
  private readonly flushDelayMs: number;
  private readonly flushBytes: number;
  private readonly maxPayloadBytes: number;
  private segments: Segment[] = [];
  private index = new EntryIndex(0);
  private assignedSeq = 0;
  private assignedPosition = 0;
  private newestTimestampMs = 0;
  private unreadableFrames = 0;
  private unreadableBytes = 0;
  private tornTailBytes = 0;
  /** Entries found damaged by a read after open (counted once each). */
  private readonly damagedOnRead = new Set<number>();

  private pending: PendingGroup<T>[] = [];
  private pendingBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  /** True from the start of a flush loop until it finds nothing more to write (set synchronously). */
  private flushActive = false;
  private flushDone: Promise<void> = Promise.resolve();
  private failure: LogWriteError | undefined;
  private closed = false;
  /** File removals and post-failure truncations still running (close waits for them). */
  private background: Promise<void> = Promise.resolve();

  private constructor(private readonly options: DurableLogOptions<T>) {
    this.fs = options.fs ?? nodeFileSystem;
    this.logger = options.logger ?? silentLogger;
    this.logFields = options.logFields ?? {};
    this.segmentBytes = options.segmentBytes ?? DEFAULTS.segmentBytes;
    this.flushDelayMs = options.flushDelayMs ?? DEFAULTS.flushDelayMs;
    this.flushBytes = options.flushBytes ?? DEFAULTS.flushBytes;
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  }

  /** Opens (or creates) the log in `options.dir`, recovering what is on disk. */
  static async open<T = number>(options: DurableLogOptions<T>): Promise<DurableLog<T>> {
    const log = new DurableLog<T>(options);
    await log.recover();
    return log;
  }

  private async recover(): Promise<void> {
    const recovery = await recoverSegments({
      fs: this.fs,
      dir: this.options.dir,
      firstSeq: this.options.firstSeq ?? DEFAULTS.firstSeq,
      maxPayloadBytes: this.maxPayloadBytes,
      logger: this.logger,
      logFields: this.logFields,
    });
    this.index = recovery.index;
    this.unreadableFrames = recovery.unreadableFrames;
    this.unreadableBytes = recovery.unreadableBytes;
    this.tornTailBytes = recovery.tornTailBytes;
    this.newestTimestampMs = recovery.maxTimestampMs;
    this.segments = recovery.segments.map((s) => ({
      ...s,
      committedBytes: s.bytes,
      assignedBytes: s.bytes,
      writer: undefined,
      reader: undefined,
      isNew: false,
    }));
    this.assignedSeq = this.index.endSeq;
    const newest = this.segments.at(-1);
    this.assignedPosition = newest ? newest.basePosition + newest.committedBytes : 0;
    if (!newest) this.segments.push(this.newSegment(0));
  }

  private newSegment(basePosition: number): Segment {
    return {
      basePosition,
      file: path.join(this.options.dir, segmentFileName(basePosition)),
      firstSeq: this.assignedSeq,
      entries: 0,
      committedBytes: 0,
      assignedBytes: 0,
      lastTimestampMs: 0,
      writer: undefined,
      reader: undefined,
      isNew: true,
    };
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Oldest retained sequence number (endSeq when the log holds none). */
  get beginSeq(): number {
    return this.index.beginSeq;
  }

  /** One past the newest durable sequence number. */
  get endSeq(): number {
    return this.index.endSeq;
  }

  /** The sequence number the next append gets. */
  get nextSeq(): number {
    return this.assignedSeq;
  }

  /** The largest timestamp appended or recovered (a writer that wants times never to go back reads this). */
  get newestTimestamp(): number {
    return this.newestTimestampMs;
  }

  /** Byte position of a durable entry in the log's logical byte stream (segment base + position in it). */
  positionOf(seq: number): number {
    return this.index.position(seq);
  }

  /** Frame bytes of a durable entry; 0 for one that could not be read. */
  frameBytesOf(seq: number): number {
    return this.index.frameBytes(seq);
  }

  timestampOf(seq: number): number {
    return this.index.timestampMs(seq);
  }

  /** First durable sequence number whose timestamp is later than `epochMs` (endSeq if none). */
  firstSeqAfterTime(epochMs: number): number {
    return this.index.firstAfterTime(epochMs);
  }

  /** First durable sequence number at or after byte position `position` (endSeq if none). */
  firstSeqAtOrAfterPosition(position: number): number {
    return this.index.firstAtOrAfterPosition(position);
  }

  /** The write failure that stopped appends, if one did. */
  get writeFailure(): LogWriteError | undefined {
    return this.failure;
  }

  stats(): LogStats {
    return {
      unreadableFrames: this.unreadableFrames,
      unreadableBytes: this.unreadableBytes,
      tornTailBytes: this.tornTailBytes,
      failure: this.failure,
    };
  }

  /**
   * Appends a frame (from `allocFrame`/`frameFor`, payload in place; the log writes its header).
   * `tag` is called at once with the sequence number and position the frame gets; the promise resolves
   * with its result once the frame is written and fsynced, and rejects if that fails.
   */
  append(frame: Buffer, timestampMs: number, tag: (seq: number, position: number) => T): Promise<T> {
    if (this.closed) return Promise.reject(new LogClosedError(this.options.dir));
    if (this.failure) return Promise.reject(new LogStoppedError(this.options.dir, this.failure));
    const payloadBytes = frame.length - FRAME_HEADER_BYTES;
    if (payloadBytes < 0 || payloadBytes > this.maxPayloadBytes) {
      return Promise.reject(
        new RangeError(
          `durable log ${this.options.dir}: a ${payloadBytes}-byte payload is over the ${this.maxPayloadBytes}-byte limit`,
        ),
      );
    }
    const seq = this.assignedSeq;
    sealFrame(frame, seq, timestampMs);
    let segment = this.segments.at(-1) as Segment;
    if (segment.assignedBytes > 0 && segment.assignedBytes + frame.length > this.segmentBytes) {
      segment = this.newSegment(this.assignedPosition);
      this.segments.push(segment);
    }
    const value = tag(seq, this.assignedPosition);
    this.assignedSeq += 1;
    this.assignedPosition += frame.length;
    segment.assignedBytes += frame.length;
    if (timestampMs > this.newestTimestampMs) this.newestTimestampMs = timestampMs;
    return new Promise<T>((resolve, reject) => {
      let group = this.pending.at(-1);
      if (!group || group.segment !== segment) {
        group = { segment, items: [] };
        this.pending.push(group);
      }
      group.items.push({ frame, timestampMs, value, resolve, reject });
      this.pendingBytes += frame.length;
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushActive) return; // the running flush loop takes these right after its current write
    if (this.pendingBytes >= this.flushBytes || this.flushDelayMs === 0) {
      this.startFlush();
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.startFlush();
      }, this.flushDelayMs);
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

  /** Writes what is pending, one writev + one fdatasync per segment touched, until nothing is pending. */
  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.failure) {
        const groups = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        let written = 0;
        try {
          for (const group of groups) {
            await this.writeGroup(group);
            written += 1;
          }
        } catch (error) {
          // Groups written before the failure are durable: they are acknowledged, the rest is not.
          for (const group of groups.slice(0, written)) this.commitGroup(group);
          this.fail(error as LogWriteError, groups.slice(written));
          break;
        }
        for (const group of groups) this.commitGroup(group);
      }
      if (!this.failure) this.notifyFlushed();
    } finally {
      // Cleared in the same synchronous step that saw an empty queue (not after an await), so an append
      // made by a caller whose promise was just resolved finds no running loop and arms a new flush.
      this.flushActive = false;
    }
  }

  private notifyFlushed(): void {
    try {
      this.options.onFlushed?.();
    } catch (err) {
      this.logger.error({ ...this.logFields, err }, 'log onFlushed hook threw');
    }
  }

  private async step<R>(step: WriteStep, file: string, run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (error) {
      throw new LogWriteError(this.options.dir, file, step, error instanceof Error ? error : new Error(String(error)));
    }
  }

  private async writeGroup(group: PendingGroup<T>): Promise<void> {
    const segment = group.segment;
    const writer = segment.writer ?? (await this.step('open', segment.file, () => this.fs.openAppend(segment.file)));
    segment.writer = writer;
    const frames = group.items.map((item) => item.frame);
    let expected = 0;
    for (const frame of frames) expected += frame.length;
    const writtenBytes = await this.step('write', segment.file, () => writer.writev(frames));
    if (writtenBytes !== expected) {
      throw new LogWriteError(this.options.dir, segment.file, 'write', new ShortWriteError(writtenBytes, expected));
    }
    await this.step('fsync', segment.file, () => writer.datasync());
    if (segment.isNew) {
      // A new file's directory entry must be durable too, or a crash could lose the whole segment.
      await this.step('sync-dir', this.options.dir, () => this.fs.syncDir(this.options.dir));
      segment.isNew = false;
    }
    if (segment !== this.segments.at(-1)) {
      // Rolled past: its frames are durable already, so a failing close costs a descriptor, not data.
      segment.writer = undefined;
      await writer
        .close()
        .catch((err: unknown) =>
          this.logger.warn({ ...this.logFields, file: segment.file, err }, 'could not close a full log segment'),
        );
    }
  }

  private commitGroup(group: PendingGroup<T>): void {
    const segment = group.segment;
    const onDurable = this.options.onDurable;
    for (const item of group.items) {
      this.index.push(segment.basePosition + segment.committedBytes, item.frame.length, item.timestampMs);
      segment.entries += 1;
      segment.committedBytes += item.frame.length;
      segment.lastTimestampMs = item.timestampMs;
      onDurable?.(item.value);
      item.resolve(item.value);
    }
  }

  private fail(error: LogWriteError, groups: PendingGroup<T>[]): void {
    this.failure = error;
    this.logger.error(
      {
        ...this.logFields,
        dir: this.options.dir,
        file: error.file,
        step: error.step,
        code: error.code,
        err: error.cause,
      },
      'log write failed; the log takes no more appends',
    );
    const rejected = [...groups, ...this.pending];
    for (const group of rejected) for (const item of group.items) item.reject(error);
    this.pending = [];
    this.pendingBytes = 0;
    // Best effort: cut what the failed write left behind, so no frame that was refused comes back on reopen.
    for (const segment of new Set(rejected.map((group) => group.segment))) {
      const writer = segment.writer;
      if (!writer) continue;
      this.inBackground(
        () => writer.truncate(segment.committedBytes),
        (err) =>
          this.logger.error(
            { ...this.logFields, file: segment.file, err },
            'could not cut back a failed write; reopening truncates it',
          ),
      );
    }
  }

  private inBackground(run: () => Promise<void>, onError: (error: unknown) => void): void {
    this.background = this.background.then(run).catch(onError);
  }

  /** Resolves once nothing appended before this call is still waiting for its write. */
  async settled(): Promise<void> {
    while ((this.flushActive || this.pending.length > 0) && !this.failure) {
      if (!this.flushActive) this.startFlush();
      await this.flushDone;
    }
  }

  /** Durable frames from `from` (at least one frame unless none is left before `end`), from one segment. */
  readSync(from: number, end = Infinity, maxBytes = READ_CHUNK_BYTES): ReadResult {
    let next = Math.max(Math.floor(from), this.beginSeq);
    for (;;) {
      const plan = this.planRead(next, Math.min(end, this.endSeq), maxBytes);
      if (!plan) return { frames: [], next };
      const buf = Buffer.allocUnsafe(plan.bytes);
      const got = this.readerFor(plan.segment).readSync(buf, plan.startPosition - plan.segment.basePosition);
      const frames = this.framesOf(buf, got, plan);
      next = plan.from + plan.count;
      if (frames.length > 0) return { frames, next };
    }
  }

  /** As readSync, without blocking the event loop on the disk. */
  async read(from: number, end = Infinity, maxBytes = READ_CHUNK_BYTES): Promise<ReadResult> {
    let next = Math.max(Math.floor(from), this.beginSeq);
    for (;;) {
      const plan = this.planRead(next, Math.min(end, this.endSeq), maxBytes);
      if (!plan) return { frames: [], next };
      const buf = Buffer.allocUnsafe(plan.bytes);
      const got = await this.readerFor(plan.segment).read(buf, plan.startPosition - plan.segment.basePosition);
      const frames = this.framesOf(buf, got, plan);
      next = plan.from + plan.count;
      if (frames.length > 0) return { frames, next };
    }
  }

  /** The entries one positioned read covers: from `from`, within one segment, up to `maxBytes`. */
  private planRead(
    from: number,
    end: number,
    maxBytes: number,
  ): { segment: Segment; from: number; count: number; startPosition: number; bytes: number } | undefined {
    if (this.closed) return undefined; // its files are closed too
    let first = Math.max(from, this.beginSeq);
    while (first < end && this.index.frameBytes(first) === 0) first += 1;
    if (first >= end) return undefined;
    const startPosition = this.index.position(first);
    const segment = this.segmentFor(startPosition);
    const segmentEnd = segment.basePosition + segment.committedBytes;
    let count = 0;
    let bytes = 0;
    while (first + count < end) {
      const seq = first + count;
      const position = this.index.position(seq);
      const size = this.index.frameBytes(seq);
      if (position + size > segmentEnd) break;
      const span = position + size - startPosition;
      if (count > 0 && span > maxBytes) break;
      if (size > 0) bytes = span;
      count += 1;
    }
    return { segment, from: first, count, startPosition, bytes };
  }

  private framesOf(
    buf: Buffer,
    got: number,
    plan: { segment: Segment; from: number; count: number; startPosition: number; bytes: number },
  ): ReadFrame[] {
    if (got !== plan.bytes)
      throw new Error(`durable log segment ${plan.segment.file}: short read (${got} of ${plan.bytes} bytes)`);
    const frames: ReadFrame[] = [];
    for (let k = 0; k < plan.count; k += 1) {
      const seq = plan.from + k;
      const size = this.index.frameBytes(seq);
      if (size === 0) continue;
      const at = this.index.position(seq) - plan.startPosition;
      const check = checkFrame(buf, at, this.maxPayloadBytes);
      if (check.kind !== 'ok' || check.end !== at + size || check.seq !== seq) {
        this.noteDamagedOnRead(seq, plan.segment, size);
        continue;
      }
      frames.push({ seq, timestampMs: check.timestampMs, payload: buf.subarray(at + FRAME_HEADER_BYTES, check.end) });
    }
    return frames;
  }

  private noteDamagedOnRead(seq: number, segment: Segment, bytes: number): void {
    if (this.damagedOnRead.has(seq)) return;
    this.damagedOnRead.add(seq);
    this.unreadableFrames += 1;
    this.unreadableBytes += bytes;
    this.logger.warn(
      { ...this.logFields, file: segment.file, seq, position: this.index.position(seq) - segment.basePosition, bytes },
      'skipped a log frame that no longer passes its checksum',
    );
  }

  private readerFor(segment: Segment): ReadHandle {
    segment.reader ??= this.fs.openRead(segment.file);
    return segment.reader;
  }

  private segmentFor(position: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).basePosition <= position) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo] as Segment;
  }

  /**
   * Deletes whole segments, oldest first, while `shouldDelete` says so; never the newest one, nor one
   * with a write pending. Returns how many it deleted (their entries leave the index at once).
   */
  deleteOldestSegmentsWhile(shouldDelete: (oldest: SegmentInfo, totalBytes: number) => boolean): number {
    let totalBytes = 0;
    for (const segment of this.segments) totalBytes += segment.committedBytes;
    let deleted = 0;
    while (this.segments.length > 1) {
      const oldest = this.segments[0] as Segment;
      if (oldest.assignedBytes !== oldest.committedBytes) break;
      const info: SegmentInfo = {
        file: oldest.file,
        firstSeq: oldest.firstSeq,
        entries: oldest.entries,
        bytes: oldest.committedBytes,
        lastTimestampMs: oldest.lastTimestampMs,
      };
      if (!shouldDelete(info, totalBytes)) break;
      this.segments.shift();
      oldest.reader?.close();
      oldest.reader = undefined;
      for (let seq = oldest.firstSeq; seq < oldest.firstSeq + oldest.entries; seq += 1) this.damagedOnRead.delete(seq);
      this.index.dropOldest(oldest.entries);
      totalBytes -= oldest.committedBytes;
      deleted += 1;
      const writer = oldest.writer;
      oldest.writer = undefined;
      this.inBackground(
        async () => {
          await writer?.close();
          await this.fs.remove(oldest.file);
        },
        (err) => this.logger.error({ ...this.logFields, file: oldest.file, err }, 'could not delete a log segment'),
      );
    }
    return deleted;
  }

  /** Writes what is pending (resolving those appends), then closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.settled();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.closed = true;
    await this.background;
    for (const segment of this.segments) {
      const writer = segment.writer;
      segment.writer = undefined;
      await writer?.close().catch(() => undefined);
      segment.reader?.close();
      segment.reader = undefined;
    }
  }
}
