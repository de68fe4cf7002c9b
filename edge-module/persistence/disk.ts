/**
 * The durable Store: append-only segment files with fsync group commit, a byte quota and a TTL.
 *
 * Layout under `dir`: `<firstSeq, 20 digits>.seg` segment files and `checkpoint` (the committed seq,
 * replaced atomically). A frame is `[u32 dataLength][u32 crc32 of the rest][f64 seq][f64 appendedAt][data]`.
 *
 * Why it is safe under `kill -9`: `append` resolves only after the frame's bytes are written and
 * `datasync`ed; a torn last frame (crash mid-write) fails its length or CRC check and is cut off on open,
 * and it was never acknowledged. Losing the checkpoint file only means records are sent again
 * (at-least-once), never lost. Appends waiting at the same time share one write + one datasync.
 */
import { mkdir, open, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { Store, StoreOptions, StoredRecord } from './store.js';
import { StoreFullError } from './store.js';

const HEADER_BYTES = 24;
const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

interface Segment {
  readonly firstSeq: number;
  readonly file: string;
  lastSeq: number;
}

interface Pending {
  readonly frame: Buffer;
  readonly seq: number;
  readonly resolve: (seq: number) => void;
  readonly reject: (err: Error) => void;
}

export interface DiskStoreOptions extends StoreOptions {
  readonly dir: string;
  /** Roll to a new segment file after this many bytes. */
  readonly segmentBytes?: number;
}

function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}

function encodeFrame(seq: number, appendedAt: number, data: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + data.byteLength);
  frame.writeUInt32LE(data.byteLength, 0);
  frame.writeDoubleLE(seq, 8);
  frame.writeDoubleLE(appendedAt, 16);
  frame.set(data, HEADER_BYTES);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
}

/** Valid frames of one segment file, and the byte length up to the last valid one. */
function decodeFrames(buf: Buffer): { records: StoredRecord[]; validBytes: number } {
  const records: StoredRecord[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= buf.length) {
    const length = buf.readUInt32LE(offset);
    const end = offset + HEADER_BYTES + length;
    if (end > buf.length) break;
    if (crc32(buf.subarray(offset + 8, end)) !== buf.readUInt32LE(offset + 4)) break;
    records.push({
      seq: buf.readDoubleLE(offset + 8),
      appendedAt: buf.readDoubleLE(offset + 16),
      data: buf.subarray(offset + HEADER_BYTES, end),
    });
    offset = end;
  }
  return { records, validBytes: offset };
}

export class DiskStore implements Store {
  private segments: Segment[] = [];
  private handle: FileHandle | undefined;
  private handleBytes = 0;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** Uncommitted records' data sizes in seq order, for the quota. */
  private sizes: { seq: number; bytes: number }[] = [];
  private sizesHead = 0;
  private used = 0;
  private nextSeq = 1;
  private committed = 0;
  private closed = false;
  private readonly now: () => number;
  private readonly segmentBytes: number;

  private constructor(private readonly options: DiskStoreOptions) {
    this.now = options.now ?? Date.now;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  }

  static async open(options: DiskStoreOptions): Promise<DiskStore> {
    const store = new DiskStore(options);
    await store.recover();
    return store;
  }

  private get checkpointPath(): string {
    return path.join(this.options.dir, 'checkpoint');
  }

  private async recover(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    try {
      const text = (await readFile(this.checkpointPath, 'utf8')).trim();
      const value = Number(text);
      if (Number.isSafeInteger(value) && value >= 0) this.committed = value;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const files = (await readdir(this.options.dir)).filter((f) => /^\d{20}\.seg$/.test(f)).sort();
    let maxSeq = this.committed;
    for (const name of files) {
      const file = path.join(this.options.dir, name);
      const buf = await readFile(file);
      const { records, validBytes } = decodeFrames(buf);
      // A torn tail was never acknowledged: cut it so later appends never follow garbage.
      if (validBytes < buf.length) await truncate(file, validBytes);
      const last = records.at(-1);
      if (!last || last.seq <= this.committed) {
        await rm(file, { force: true });
        continue;
      }
      this.segments.push({ firstSeq: Number(name.slice(0, 20)), file, lastSeq: last.seq });
      for (const r of records) {
        if (r.seq > this.committed) {
          this.sizes.push({ seq: r.seq, bytes: r.data.byteLength });
          this.used += r.data.byteLength;
        }
      }
      maxSeq = Math.max(maxSeq, last.seq);
    }
    this.nextSeq = maxSeq + 1;
  }

  append(data: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (this.used + data.byteLength > this.options.maxBytes) {
      return Promise.reject(new StoreFullError(this.used, this.options.maxBytes, data.byteLength));
    }
    const seq = this.nextSeq++;
    this.used += data.byteLength;
    this.sizes.push({ seq, bytes: data.byteLength });
    const frame = encodeFrame(seq, this.now(), data);
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ frame, seq, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /** Writes whatever is pending in one write + one datasync, until nothing is pending. */
  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.pending;
        this.pending = [];
        try {
          const first = group[0];
          if (!this.handle || this.handleBytes >= this.segmentBytes) await this.roll(first ? first.seq : this.nextSeq);
          const handle = this.handle as FileHandle;
          const bytes = Buffer.concat(group.map((p) => p.frame));
          await handle.write(bytes, 0, bytes.length, null);
          await handle.datasync();
          this.handleBytes += bytes.length;
          const segment = this.segments.at(-1);
          const last = group.at(-1);
          if (segment && last) segment.lastSeq = last.seq;
          for (const p of group) p.resolve(p.seq);
        } catch (err) {
          for (const p of group) p.reject(err as Error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async roll(firstSeq: number): Promise<void> {
    if (this.handle) await this.handle.close();
    const file = path.join(this.options.dir, segmentName(firstSeq));
    this.handle = await open(file, 'a');
    this.handleBytes = 0;
    this.segments.push({ firstSeq, file, lastSeq: firstSeq - 1 });
    // Make the new file's directory entry durable too.
    const dirHandle = await open(this.options.dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  async read(from: number): Promise<StoredRecord[]> {
    await this.flushing;
    const oldest = this.options.ttlMs > 0 ? this.now() - this.options.ttlMs : -Infinity;
    const out: StoredRecord[] = [];
    for (const segment of this.segments) {
      if (segment.lastSeq < from || segment.lastSeq <= this.committed) continue;
      const { records } = decodeFrames(await readFile(segment.file));
      for (const r of records) {
        if (r.seq >= from && r.seq > this.committed && r.appendedAt >= oldest) out.push(r);
      }
    }
    return out;
  }

  private commitChain: Promise<void> = Promise.resolve();

  commit(upTo: number): Promise<void> {
    // Serialised: each commit rewrites the checkpoint file and may delete segments.
    const run = this.commitChain.then(() => this.commitNow(upTo));
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private async commitNow(upTo: number): Promise<void> {
    if (upTo <= this.committed) return;
    this.committed = Math.min(upTo, this.nextSeq - 1);
    while (this.sizesHead < this.sizes.length && (this.sizes[this.sizesHead]?.seq ?? Infinity) <= this.committed) {
      this.used -= this.sizes[this.sizesHead]?.bytes ?? 0;
      this.sizesHead += 1;
    }
    if (this.sizesHead > 4096 && this.sizesHead * 2 > this.sizes.length) {
      this.sizes = this.sizes.slice(this.sizesHead);
      this.sizesHead = 0;
    }
    const temp = `${this.checkpointPath}.tmp`;
    await writeFile(temp, String(this.committed));
    await rename(temp, this.checkpointPath);
    // Delete whole segments that hold only committed records (never the one being written).
    const current = this.segments.at(-1);
    const keep: Segment[] = [];
    for (const segment of this.segments) {
      if (segment !== current && segment.lastSeq <= this.committed) await rm(segment.file, { force: true });
      else keep.push(segment);
    }
    this.segments = keep;
  }

  lastSeq(): number {
    return this.nextSeq - 1;
  }

  usedBytes(): number {
    return this.used;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.commitChain;
    await this.handle?.close();
    this.handle = undefined;
  }
}
