/**
 * Reads a store written before the shared durable log, so an upgraded module still sends what the old
 * one kept. That layout was `<firstSeq, 20 digits>.seg` files directly in the store's directory, each a
 * run of `[u32 dataLength][u32 crc32 of the rest][f64 seq][f64 appendedAt][data]` frames (little endian).
 * Those frames cannot be resynchronised: a file is read up to its first bad frame, and the bytes after it
 * are reported as unreadable.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';

const LEGACY_SEGMENT = /^\d{20}\.seg$/;
const HEADER_BYTES = 24;

export interface LegacyRecord {
  readonly seq: number;
  readonly appendedAt: number;
  readonly data: Buffer;
}

export interface LegacyContents {
  readonly files: string[];
  readonly records: LegacyRecord[];
  /** Bytes after a bad frame, per file that had any. */
  readonly unreadable: { file: string; bytes: number }[];
}

function decodeLegacyFrames(buf: Buffer): { records: LegacyRecord[]; validBytes: number } {
  const records: LegacyRecord[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= buf.length) {
    const end = offset + HEADER_BYTES + buf.readUInt32LE(offset);
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

/** The old-layout segment files in `dir` and their records, in sequence order. */
export async function readLegacyStore(dir: string): Promise<LegacyContents> {
  const files = (await readdir(dir))
    .filter((name) => LEGACY_SEGMENT.test(name))
    .sort()
    .map((name) => path.join(dir, name));
  const records: LegacyRecord[] = [];
  const unreadable: { file: string; bytes: number }[] = [];
  for (const file of files) {
    const buf = await readFile(file);
    const decoded = decodeLegacyFrames(buf);
    records.push(...decoded.records);
    if (decoded.validBytes < buf.length) unreadable.push({ file, bytes: buf.length - decoded.validBytes });
  }
  records.sort((a, b) => a.seq - b.seq);
  return { files, records, unreadable };
}

export async function removeLegacySegments(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((name) => LEGACY_SEGMENT.test(name));
  await Promise.all(names.map((name) => rm(path.join(dir, name), { force: true })));
}
