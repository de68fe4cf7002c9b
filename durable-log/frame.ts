/**
 * The on-disk frame, and how a segment's bytes are scanned back into frames. Pure: no I/O.
 *
 * Frame, little endian: a 32-byte header, then the payload.
 *
 *   0  u32  magic 0xF7 'D' 'L' 0x01     where a reader looks for the next frame after damage
 *   4  u32  payloadBytes
 *   8  f64  seq                          assigned by the log, strictly increasing
 *  16  f64  timestampMs                  given by the writer (epoch ms)
 *  24  u32  CRC-32 of the payload
 *  28  u32  CRC-32 of bytes 0–27         the length is trusted only when this matches
 *  32  payload
 *
 * Because the header carries its own checksum, a scanner that meets damage can search forward for the
 * magic and accept the first position whose header checksum holds: the frames after a corrupt one are
 * found again instead of being lost with it.
 */
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_BYTES = 32;
const MAGIC = 0x014c44f7;
const MAGIC_BYTES = Buffer.from([0xf7, 0x44, 0x4c, 0x01]);
const HEADER_CHECKED_BYTES = 28;
/** A payload larger than this is refused on append and treated as damage on scan. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** A frame buffer with room for `payloadBytes`; the caller writes the payload at FRAME_HEADER_BYTES. */
export function allocFrame(payloadBytes: number): Buffer {
  return Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
}

/** A frame holding a copy of `payload`. */
export function frameFor(payload: Uint8Array): Buffer {
  const frame = allocFrame(payload.byteLength);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Writes the header of a frame whose payload is already in place. */
export function sealFrame(frame: Buffer, seq: number, timestampMs: number): void {
  frame.writeUInt32LE(MAGIC, 0);
  frame.writeUInt32LE(frame.length - FRAME_HEADER_BYTES, 4);
  frame.writeDoubleLE(seq, 8);
  frame.writeDoubleLE(timestampMs, 16);
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 24);
  frame.writeUInt32LE(crc32(frame.subarray(0, HEADER_CHECKED_BYTES)), 28);
}

export type FrameCheck =
  | { readonly kind: 'ok'; readonly end: number; readonly seq: number; readonly timestampMs: number }
  /** Too few bytes left for a header, or a sound header whose payload runs past the end. */
  | { readonly kind: 'incomplete' }
  /** Wrong magic, header checksum or length. */
  | { readonly kind: 'bad-header' }
  /** A sound header (so its length is known) whose payload fails its checksum. */
  | { readonly kind: 'bad-payload'; readonly end: number };

function headerHolds(buf: Buffer, at: number, maxPayloadBytes: number): boolean {
  if (buf.readUInt32LE(at) !== MAGIC) return false;
  if (crc32(buf.subarray(at, at + HEADER_CHECKED_BYTES)) !== buf.readUInt32LE(at + 28)) return false;
  return buf.readUInt32LE(at + 4) <= maxPayloadBytes;
}

/** Checks the frame that starts at `at`. */
export function checkFrame(buf: Buffer, at: number, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): FrameCheck {
  if (buf.length - at < FRAME_HEADER_BYTES) return { kind: 'incomplete' };
  if (!headerHolds(buf, at, maxPayloadBytes)) return { kind: 'bad-header' };
  const end = at + FRAME_HEADER_BYTES + buf.readUInt32LE(at + 4);
  if (end > buf.length) return { kind: 'incomplete' };
  if (crc32(buf.subarray(at + FRAME_HEADER_BYTES, end)) !== buf.readUInt32LE(at + 24))
    return { kind: 'bad-payload', end };
  return { kind: 'ok', end, seq: buf.readDoubleLE(at + 8), timestampMs: buf.readDoubleLE(at + 16) };
}

/** Position of the next sound frame header at or after `from`, or -1. */
function nextHeader(buf: Buffer, from: number, maxPayloadBytes: number): number {
  for (let at = buf.indexOf(MAGIC_BYTES, from); at !== -1; at = buf.indexOf(MAGIC_BYTES, at + 1)) {
    if (buf.length - at < FRAME_HEADER_BYTES) return -1;
    if (headerHolds(buf, at, maxPayloadBytes)) return at;
  }
  return -1;
}

export interface ScannedFrame {
  /** Byte position of the frame in the scanned buffer. */
  readonly position: number;
  readonly frameBytes: number;
  readonly seq: number;
  readonly timestampMs: number;
}

/** Bytes between sound frames that could not be read. */
export interface UnreadableRegion {
  readonly start: number;
  readonly end: number;
}

export interface SegmentScan {
  /** Sound frames, in position order. */
  readonly frames: readonly ScannedFrame[];
  /** Damaged regions followed by a sound frame, in position order. */
  readonly unreadable: readonly UnreadableRegion[];
  /** Where the bytes after the last sound frame start (the buffer length when there are none). */
  readonly validBytes: number;
  /** What follows the last sound frame: nothing, an incomplete frame, or damage. */
  readonly tail: 'end' | 'torn' | 'corrupt';
}

/**
 * Walks a segment's bytes. Damage between sound frames is skipped and reported in `unreadable`; the
 * bytes after the last sound frame are the tail (`validBytes` is where a truncation would cut).
 */
export function scanSegment(buf: Buffer, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): SegmentScan {
  const frames: ScannedFrame[] = [];
  const unreadable: UnreadableRegion[] = [];
  let at = 0;
  // Start of the damage met since the last sound frame (-1: none), and what it began with.
  let damageStart = -1;
  let damageKind: 'torn' | 'corrupt' = 'torn';
  while (at < buf.length) {
    const check = checkFrame(buf, at, maxPayloadBytes);
    if (check.kind === 'ok') {
      if (damageStart !== -1) unreadable.push({ start: damageStart, end: at });
      damageStart = -1;
      frames.push({ position: at, frameBytes: check.end - at, seq: check.seq, timestampMs: check.timestampMs });
      at = check.end;
      continue;
    }
    if (damageStart === -1) {
      damageStart = at;
      damageKind = check.kind === 'incomplete' ? 'torn' : 'corrupt';
    }
    // A bad payload under a sound header: the next frame most likely starts right after it.
    const next =
      check.kind === 'bad-payload' &&
      buf.length - check.end >= FRAME_HEADER_BYTES &&
      headerHolds(buf, check.end, maxPayloadBytes)
        ? check.end
        : nextHeader(buf, at + 1, maxPayloadBytes);
    if (next === -1) break;
    at = next;
  }
  if (damageStart !== -1) return { frames, unreadable, validBytes: damageStart, tail: damageKind };
  return { frames, unreadable, validBytes: at, tail: 'end' };
}
