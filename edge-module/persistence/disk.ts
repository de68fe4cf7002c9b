/**
 * The durable Store: a @iot-ingest/durable-log DurableLog (segment files, group-commit fsync, recovery
 * that keeps every frame it can read) plus what only store-and-forward needs: a byte quota, a
 * time-to-live, a commit checkpoint and a stable store id.
 *
 * Layout under `dir`:
 * - `store.json`: `{ "format": 2, "storeId": "<uuid>" }`, written (durably) when the store is created and
 *   before its first append is acknowledged. `log/` is trusted only when it exists.
 * - `checkpoint`: the committed seq, replaced atomically. Losing it only means records are sent again
 *   (at least once), never lost.
 * - `log/`: the durable log; a frame's payload is the record's data, its timestamp the append time.
 *
 * Why it is safe under `kill -9` and failing disks: see durable-log/README.md. In short, `append`
 * resolves only after the frame is written and fdatasynced; a failed or short write or fsync rejects the
 * append (the input gets a StorageException status) and the log stops. The store then refuses every
 * append for `reopenDelayMs`, reopens the log (recovery cuts what the failed write left) and tries again;
 * each failed reopen doubles the wait, up to 5 minutes.
 *
 * A store written before the shared log (`<seq>.seg` files directly in `dir`, see legacy.ts) is migrated
 * on open: its unsent records are appended to `log/` with their append times, then `store.json` is
 * written, then the old files are deleted. A crash at any step repeats the migration on the next open.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@iot-ingest/contracts';
import { DurableLog, FRAME_HEADER_BYTES, frameFor } from '@iot-ingest/durable-log';
import { LogStoppedError } from '@iot-ingest/durable-log';
import type { LogFileSystem, LogLogger } from '@iot-ingest/durable-log';
import { readLegacyStore, removeLegacySegments } from './legacy.js';
import type { Store, StoreOptions, StoredRecord } from './store.js';
import { StoreFullError } from './store.js';

const STORE_FORMAT = 2;
const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
const DEFAULT_REOPEN_DELAY_MS = 5_000;
const MAX_REOPEN_DELAY_MS = 5 * 60_000;

export interface DiskStoreOptions extends StoreOptions {
  readonly dir: string;
  /** Roll to a new segment file after this many bytes. */
  readonly segmentBytes?: number;
  /** Default: the real filesystem (tests pass a FaultyFileSystem). */
  readonly fs?: LogFileSystem;
  readonly logger?: LogLogger;
  /** After a failed write, how long appends are refused before the log is reopened. Default 5000 ms. */
  readonly reopenDelayMs?: number;
}

interface StoreIdentity {
  readonly format: number;
  readonly storeId: string;
}

async function readCheckpoint(file: string): Promise<number> {
  try {
    const value = Number((await readFile(file, 'utf8')).trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return 0;
  }
}

/** The identity file: undefined when missing; a fresh id (and a warning) when it cannot be read. */
async function readIdentity(file: string, logger: LogLogger | undefined): Promise<StoreIdentity | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<StoreIdentity>;
    if (parsed.format === STORE_FORMAT && typeof parsed.storeId === 'string' && parsed.storeId.length > 0) {
      return { format: STORE_FORMAT, storeId: parsed.storeId };
    }
  } catch {
    // unreadable: handled below
  }
  const identity = { format: STORE_FORMAT, storeId: randomUUID() };
  logger?.warn(
    { file, storeId: identity.storeId },
    'persistence store.json is unreadable; the store keeps its records under a new store id',
  );
  await writeFileAtomic(file, `${JSON.stringify(identity)}\n`, { durable: true });
  return identity;
}

function openStoreLog(options: DiskStoreOptions, committed: number): Promise<DurableLog<number>> {
  return DurableLog.open<number>({
    dir: path.join(options.dir, 'log'),
    firstSeq: committed + 1,
    segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
    ...(options.fs ? { fs: options.fs } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    logFields: { component: 'persistence' },
  });
}

export class DiskStore implements Store {
  private committed: number;
  /** Data bytes of uncommitted records, pending appends included (the quota). */
  private used = 0;
  private closed = false;
  private commitChain: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  // After a failed write: when the log may be reopened, the wait after the next failure, the reopen running.
  private reopenAt: number | undefined;
  private reopenDelayMs: number;
  private reopening: Promise<void> | undefined;
  /** Why appends are refused while the log is stopped (its write failure, or a failed reopen). */
  private stopped: Error | undefined;

  private constructor(
    readonly storeId: string,
    private log: DurableLog<number>,
    committed: number,
    private readonly options: DiskStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.committed = committed;
    this.reopenDelayMs = options.reopenDelayMs ?? DEFAULT_REOPEN_DELAY_MS;
    this.used = this.uncommittedBytes();
  }

  private uncommittedBytes(): number {
    let bytes = 0;
    for (let seq = Math.max(this.committed + 1, this.log.beginSeq); seq < this.log.endSeq; seq += 1)
      bytes += this.dataBytesOf(seq);
    return bytes;
  }

  static async open(options: DiskStoreOptions): Promise<DiskStore> {
    const { dir } = options;
    await mkdir(dir, { recursive: true });
    const committed = await readCheckpoint(path.join(dir, 'checkpoint'));
    const identityFile = path.join(dir, 'store.json');
    const openLog = () => openStoreLog(options, committed);
    let identity = await readIdentity(identityFile, options.logger);
    let log: DurableLog<number>;
    if (identity) {
      await removeLegacySegments(dir); // left behind by a migration that ended before deleting them
      log = await openLog();
    } else {
      // No identity yet: nothing in log/ was acknowledged (a new store, or a migration cut short).
      await rm(path.join(dir, 'log'), { recursive: true, force: true });
      log = await openLog();
      await migrateLegacyStore(dir, committed, log, options.logger);
      identity = { format: STORE_FORMAT, storeId: randomUUID() };
      await writeFileAtomic(identityFile, `${JSON.stringify(identity)}\n`, { durable: true });
      await removeLegacySegments(dir);
    }
    return new DiskStore(identity.storeId, log, committed, options);
  }

  private dataBytesOf(seq: number): number {
    const frameBytes = this.log.frameBytesOf(seq);
    return frameBytes > 0 ? frameBytes - FRAME_HEADER_BYTES : 0;
  }

  append(data: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (this.log.writeFailure || this.reopening) return this.appendAfterFailure(data);
    if (this.used + data.byteLength > this.options.maxBytes) {
      return Promise.reject(new StoreFullError(this.used, this.options.maxBytes, data.byteLength));
    }
    this.used += data.byteLength;
    return this.log
      .append(frameFor(data), this.now(), (seq) => seq)
      .catch((err: unknown) => {
        this.used -= data.byteLength;
        throw err;
      });
  }

  /** The log stopped after a failed write: refuse until the wait is over, then reopen it (once) and append. */
  private async appendAfterFailure(data: Uint8Array): Promise<number> {
    if (!this.reopening) {
      const failure = this.log.writeFailure;
      this.stopped ??= failure ? new LogStoppedError(this.log.dir, failure) : undefined;
      this.reopenAt ??= Date.now() + this.reopenDelayMs;
      if (Date.now() < this.reopenAt) throw this.stopped ?? new Error('persistence is stopped');
      this.reopening = this.reopen().finally(() => {
        this.reopening = undefined;
      });
    }
    await this.reopening;
    return this.append(data);
  }

  private async reopen(): Promise<void> {
    try {
      await this.log.close();
      this.log = await openStoreLog(this.options, this.committed);
    } catch (err) {
      this.stopped = err as Error;
      this.reopenDelayMs = Math.min(this.reopenDelayMs * 2, MAX_REOPEN_DELAY_MS);
      this.reopenAt = Date.now() + this.reopenDelayMs;
      this.options.logger?.error(
        { dir: this.options.dir, err, retryInMs: this.reopenDelayMs },
        'persistence could not reopen its log',
      );
      throw err;
    }
    this.used = this.uncommittedBytes();
    this.stopped = undefined;
    this.reopenAt = undefined;
    this.reopenDelayMs = this.options.reopenDelayMs ?? DEFAULT_REOPEN_DELAY_MS;
    this.options.logger?.info(
      { dir: this.options.dir },
      'persistence reopened its log after a failed write; taking input again',
    );
  }

  /** Waits out a reopen in progress, so reads and commits use the log that will stay. */
  private async settledLog(): Promise<DurableLog<number>> {
    await this.reopening?.catch(() => undefined);
    return this.log;
  }

  async read(from: number): Promise<StoredRecord[]> {
    const log = await this.settledLog();
    await log.settled();
    const oldest = this.options.ttlMs > 0 ? this.now() - this.options.ttlMs : -Infinity;
    const out: StoredRecord[] = [];
    let next = Math.max(from, this.committed + 1);
    while (next < log.endSeq) {
      const { frames, next: after } = await log.read(next);
      for (const frame of frames) {
        if (frame.seq > this.committed && frame.timestampMs >= oldest) {
          out.push({ seq: frame.seq, appendedAt: frame.timestampMs, data: frame.payload });
        }
      }
      next = after;
    }
    return out;
  }

  commit(upTo: number): Promise<void> {
    // Serialised: each commit rewrites the checkpoint file and may delete segments.
    const run = this.commitChain.then(() => this.commitNow(upTo));
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private async commitNow(upTo: number): Promise<void> {
    await this.settledLog();
    const target = Math.min(upTo, this.log.endSeq - 1);
    if (target <= this.committed) return;
    for (let seq = Math.max(this.committed + 1, this.log.beginSeq); seq <= target; seq += 1)
      this.used -= this.dataBytesOf(seq);
    this.committed = target;
    await writeFileAtomic(path.join(this.options.dir, 'checkpoint'), String(this.committed));
    // Whole segments holding only committed records go (never the one being written).
    const committed = this.committed;
    this.log.deleteOldestSegmentsWhile((oldest) => oldest.firstSeq + oldest.entries - 1 <= committed);
  }

  lastSeq(): number {
    return this.log.nextSeq - 1;
  }

  usedBytes(): number {
    return this.used;
  }

  unreadableRecords(): number {
    return this.log.stats().unreadableFrames;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.commitChain;
    await (await this.settledLog()).close();
  }
}

/** Appends the unsent records of an old-layout store to the new log, keeping their order and append times. */
async function migrateLegacyStore(
  dir: string,
  committed: number,
  log: DurableLog<number>,
  logger: LogLogger | undefined,
): Promise<void> {
  const legacy = await readLegacyStore(dir);
  if (legacy.files.length === 0) return;
  const unsent = legacy.records.filter((record) => record.seq > committed);
  await Promise.all(unsent.map((record) => log.append(frameFor(record.data), record.appendedAt, (seq) => seq)));
  for (const { file, bytes } of legacy.unreadable) {
    logger?.warn({ file, bytes }, 'persistence migration: bytes after a bad frame of an old segment could not be read');
  }
  logger?.info(
    { dir, files: legacy.files.length, records: unsent.length },
    'persistence migrated to the durable log format',
  );
}
