/**
 * One partition of the hub's log: a @iot-ingest/durable-log DurableLog (segments, group commit, index,
 * recovery) plus what only the hub needs — events decoded, a cache of recent ones, listeners, and
 * retention by size and age.
 *
 * Invariants (the durable log's own are in durable-log/README.md):
 * - sequence numbers start at 0 and grow by one per event; offsets are byte positions in the partition's
 *   logical byte stream (segment file name = its base offset), so they only grow and survive restarts;
 * - an append resolves only after its record is written and fdatasync'ed (group commit: the first append
 *   arms a timer of `fsyncIntervalMs`, a full `flushBytes` flushes at once, and appends that arrive while
 *   a flush runs go out in the next one right after it); a failed write stops the partition's appends;
 * - readers (`read`, `onAppend`) only ever see committed (synced) events, so nothing a consumer saw can
 *   vanish in a crash;
 * - on open, a torn tail of the newest segment is truncated; a damaged frame anywhere else is counted,
 *   logged and skipped, and the events after it are served;
 * - retention deletes whole, fully committed segments, oldest first, never the one being written.
 */
import { DurableLog } from '@iot-ingest/durable-log';
import type { ReadFrame } from '@iot-ingest/durable-log';
import type { Logger } from 'pino';
import type { HubEventInput, PartitionInfo, StoredEvent } from '../log-types.js';
import { decodeEvent, encodeEventFrame } from './record.js';

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

export class PartitionLog {
  private log!: DurableLog<StoredEvent>;
  // Recent committed events, contiguous by sequence number from recent[recentHead], and their frame sizes.
  private recent: StoredEvent[] = [];
  private recentSizes: number[] = [];
  private recentHead = 0;
  private recentBytes = 0;
  private closed = false;
  private readonly listeners = new Set<(event: StoredEvent) => void>();

  private constructor(
    readonly partition: number,
    private readonly options: PartitionLogOptions,
  ) {}

  static async open(partition: number, dir: string, options: PartitionLogOptions): Promise<PartitionLog> {
    const partitionLog = new PartitionLog(partition, options);
    partitionLog.log = await DurableLog.open<StoredEvent>({
      dir,
      segmentBytes: options.segmentBytes,
      flushDelayMs: options.fsyncIntervalMs,
      flushBytes: options.flushBytes,
      firstSeq: 0,
      logger: options.logger,
      logFields: { partition },
      onDurable: (event) => partitionLog.committed(event),
      onFlushed: () => partitionLog.enforceRetention(Date.now()),
    });
    partitionLog.enforceRetention(Date.now());
    return partitionLog;
  }

  /** Unreadable frames skipped so far (on open and on reads), and the write failure that stopped appends. */
  health(): { unreadableFrames: number; tornTailBytes: number; failure: string | undefined } {
    const stats = this.log.stats();
    return {
      unreadableFrames: stats.unreadableFrames,
      tornTailBytes: stats.tornTailBytes,
      failure: stats.failure?.message,
    };
  }

  append(event: HubEventInput): Promise<StoredEvent> {
    if (this.closed) return Promise.reject(new Error(`log partition ${this.partition} is closed`));
    // Enqueued times never go backwards within a partition, even if the clock does.
    const enqueuedTimeUtc = Math.max(Date.now(), this.log.newestTimestamp);
    return this.log.append(encodeEventFrame(event), enqueuedTimeUtc, (sequenceNumber, position) => ({
      ...event,
      partition: this.partition,
      sequenceNumber,
      offset: String(position),
      enqueuedTimeUtc,
    }));
  }

  /** A committed event: into the recent cache, then to the listeners. */
  private committed(event: StoredEvent): void {
    this.remember(event, this.log.frameBytesOf(event.sequenceNumber));
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.error({ partition: this.partition, err: error }, 'log append listener threw');
      }
    }
  }

  private remember(event: StoredEvent, bytes: number): void {
    this.recent.push(event);
    this.recentSizes.push(bytes);
    this.recentBytes += bytes;
    while (this.recentBytes > this.options.cacheBytes && this.recent.length - this.recentHead > 1) {
      this.dropRecentHead();
    }
    if (this.recentHead > 1024 && this.recentHead * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.recentHead);
      this.recentSizes = this.recentSizes.slice(this.recentHead);
      this.recentHead = 0;
    }
  }

  private dropRecentHead(): void {
    if (this.recentHead >= this.recent.length) return;
    this.recentBytes -= this.recentSizes[this.recentHead] as number;
    this.recent[this.recentHead] = undefined as unknown as StoredEvent;
    this.recentHead += 1;
  }

  /** Sequence number of the oldest event held in memory (the log's end when none). */
  private recentBase(): number {
    return this.recent[this.recentHead]?.sequenceNumber ?? this.log.endSeq;
  }

  read(fromSequenceNumber: number, max: number): readonly StoredEvent[] {
    if (!(max > 0) || this.closed) return []; // closed: its files are closed too
    const from = Math.max(Math.floor(fromSequenceNumber), this.log.beginSeq);
    const committedEnd = this.log.endSeq;
    if (from >= committedEnd) return [];
    const end = Math.min(committedEnd, from + max);
    const recentBase = this.recentBase();
    if (from >= recentBase) {
      const start = this.recentHead + (from - recentBase);
      return this.recent.slice(start, start + (end - from));
    }
    const { frames } = this.log.readSync(from, Math.min(end, recentBase));
    return frames.map((frame) => this.toStoredEvent(frame));
  }

  private toStoredEvent(frame: ReadFrame): StoredEvent {
    return {
      ...decodeEvent(frame.payload),
      partition: this.partition,
      sequenceNumber: frame.seq,
      offset: String(this.log.positionOf(frame.seq)),
      enqueuedTimeUtc: frame.timestampMs,
    };
  }

  /** First sequence number whose enqueued time is later than `epochMs` (the next one if none). */
  sequenceNumberAfterTime(epochMs: number): number {
    return this.log.firstSeqAfterTime(epochMs);
  }

  /**
   * Sequence number of the event at `offset`; for an offset between events, the next event after it;
   * past the end, the next sequence number; before the oldest retained event, that event.
   * Undefined when `offset` is not a decimal number.
   */
  sequenceNumberForOffset(offset: string): number | undefined {
    if (!/^\d{1,16}$/.test(offset)) return undefined;
    return this.log.firstSeqAtOrAfterPosition(Number(offset));
  }

  info(): PartitionInfo {
    const begin = this.log.beginSeq;
    const end = this.log.endSeq;
    const count = end - begin;
    // Numbering restarts at 0 only when nothing was ever kept (see docs/iothub-amqp.md, Limits).
    const everHadEvents = end > 0;
    return {
      partition: this.partition,
      beginSequenceNumber: count > 0 ? begin : everHadEvents ? end : -1,
      lastSequenceNumber: everHadEvents ? end - 1 : -1,
      lastOffset: count > 0 ? String(this.log.positionOf(end - 1)) : '-1',
      lastEnqueuedTimeUtc: count > 0 ? this.log.timestampOf(end - 1) : 0,
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
    const deleted = this.log.deleteOldestSegmentsWhile(
      (oldest, totalBytes) =>
        (retentionBytes !== undefined && totalBytes > retentionBytes) ||
        (retentionMs !== undefined && oldest.lastTimestampMs < nowMs - retentionMs),
    );
    if (deleted === 0) return;
    const begin = this.log.beginSeq;
    while (this.recentHead < this.recent.length && this.recentBase() < begin) this.dropRecentHead();
    this.options.logger.info(
      { partition: this.partition, segments: deleted, beginSequenceNumber: begin },
      'retention deleted log segments',
    );
  }

  /** Flushes what is pending (resolving those appends), then closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.log.close();
    this.closed = true;
    this.listeners.clear();
  }
}
