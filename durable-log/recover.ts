/**
 * Opening a log: scan every segment, rebuild the index, cut the torn tail of the newest segment, and
 * count what could not be read.
 *
 * - Only the bytes after the last sound frame of the newest segment are a torn tail (a write that never
 *   finished, so never acknowledged): they are truncated and reported as `tornTailBytes`.
 * - Damage anywhere else is skipped: the scanner finds the next sound frame, the frames after the damage
 *   are kept, and the sequence numbers the damage swallowed keep their place in the index as unreadable
 *   entries. How many frames were lost is told by the sequence numbers around the damage; where there is
 *   no sound frame on one side, a damaged region counts as one frame.
 * - A sound frame whose sequence number is not above the one before it is skipped as damaged bytes.
 */
import path from 'node:path';
import { EntryIndex } from './entry-index.js';
import { scanSegment } from './frame.js';
import type { LogFileSystem } from './fs.js';
import type { LogLogger } from './logger.js';

export const SEGMENT_NAME = /^(\d{20})\.seg$/;

export function segmentFileName(basePosition: number): string {
  return `${String(basePosition).padStart(20, '0')}.seg`;
}

export interface RecoveredSegment {
  readonly basePosition: number;
  readonly file: string;
  readonly firstSeq: number;
  readonly entries: number;
  /** Bytes readers may touch (the file's length, after any truncation). */
  readonly bytes: number;
  readonly lastTimestampMs: number;
}

export interface Recovery {
  readonly segments: RecoveredSegment[];
  readonly index: EntryIndex;
  readonly unreadableFrames: number;
  readonly unreadableBytes: number;
  readonly tornTailBytes: number;
  readonly maxTimestampMs: number;
}

export interface RecoverOptions {
  readonly fs: LogFileSystem;
  readonly dir: string;
  /** Sequence number of the first frame of an empty log, and the lowest the next append may get. */
  readonly firstSeq: number;
  readonly maxPayloadBytes: number;
  readonly logger: LogLogger;
  readonly logFields: Readonly<Record<string, unknown>>;
}

/**
 * The position an unreadable entry is indexed at: inside the sound frame before it, so it sorts after
 * that frame and before the next one, and an offset lookup of either sound frame still finds that frame.
 */
function placeholderPosition(previousFrameEnd: number): number {
  return previousFrameEnd - 1;
}

export async function recoverSegments(options: RecoverOptions): Promise<Recovery> {
  const { fs, dir, maxPayloadBytes, logger, logFields } = options;
  await fs.mkdir(dir);
  const names = (await fs.list(dir)).filter((name) => SEGMENT_NAME.test(name)).sort();
  let index: EntryIndex | undefined;
  const segments: RecoveredSegment[] = [];
  let lastSeq: number | undefined;
  /** Where the last sound frame ends in the logical byte stream. */
  let lastEnd = 0;
  let maxTimestampMs = 0;
  let unreadableFrames = 0;
  let unreadableBytes = 0;
  let tornTailBytes = 0;
  // Damaged regions since the last sound frame: the next sound frame's number tells what they lost.
  let regionsSinceFrame = 0;

  for (const [i, name] of names.entries()) {
    const file = path.join(dir, name);
    const basePosition = Number(name.slice(0, 20));
    const bytes = await fs.readFile(file);
    const scan = scanSegment(bytes, maxPayloadBytes);
    const newest = i === names.length - 1;
    const firstSeq = index ? index.endSeq : undefined;
    let entries = 0;
    let lastTimestampMs = 0;
    let damagedBytes = 0;
    let damagedRegions = 0;
    let region = 0;
    const noteRegion = (start: number, end: number): void => {
      regionsSinceFrame += 1;
      damagedRegions += 1;
      damagedBytes += end - start;
    };
    for (const frame of scan.frames) {
      while (region < scan.unreadable.length && (scan.unreadable[region]?.start ?? Infinity) < frame.position) {
        const r = scan.unreadable[region] as { start: number; end: number };
        noteRegion(r.start, r.end);
        region += 1;
      }
      if (lastSeq !== undefined && !(frame.seq > lastSeq)) {
        // Sound checksum, impossible number: not a frame this log wrote at this place.
        noteRegion(frame.position, frame.position + frame.frameBytes);
        continue;
      }
      const position = basePosition + frame.position;
      if (!index) index = new EntryIndex(frame.seq);
      if (lastSeq !== undefined) {
        // The numbers the damage swallowed keep their place; the frame after it tells how many.
        const lost = frame.seq - lastSeq - 1;
        for (let k = 0; k < lost; k += 1) index.push(placeholderPosition(lastEnd), 0, frame.timestampMs);
        entries += lost;
        unreadableFrames += lost;
      } else {
        unreadableFrames += regionsSinceFrame; // before the first sound frame: one frame per region, at least
      }
      regionsSinceFrame = 0;
      index.push(position, frame.frameBytes, frame.timestampMs);
      entries += 1;
      lastSeq = frame.seq;
      lastEnd = position + frame.frameBytes;
      lastTimestampMs = frame.timestampMs;
      if (frame.timestampMs > maxTimestampMs) maxTimestampMs = frame.timestampMs;
    }
    for (; region < scan.unreadable.length; region += 1) {
      const r = scan.unreadable[region] as { start: number; end: number };
      noteRegion(r.start, r.end);
    }
    let keptBytes = bytes.length;
    if (scan.tail !== 'end') {
      if (newest) {
        // Never acknowledged (a write that did not finish): cut it so later appends never follow garbage.
        await fs.truncate(file, scan.validBytes);
        keptBytes = scan.validBytes;
        tornTailBytes += bytes.length - scan.validBytes;
        logger.warn(
          { ...logFields, file, keptBytes, droppedBytes: bytes.length - scan.validBytes, reason: scan.tail },
          'truncated the torn tail of a log segment',
        );
      } else {
        // A sealed segment was complete when the next one began: damage at its end is not a torn write.
        noteRegion(scan.validBytes, bytes.length);
      }
    }
    if (damagedRegions > 0) {
      unreadableBytes += damagedBytes;
      logger.warn(
        { ...logFields, file, regions: damagedRegions, bytes: damagedBytes },
        'skipped damaged bytes in a log segment; the frames after them are kept',
      );
    }
    segments.push({
      basePosition,
      file,
      firstSeq: firstSeq ?? (index ? index.endSeq - entries : options.firstSeq),
      entries,
      bytes: keptBytes,
      lastTimestampMs,
    });
  }
  // Damage after the last sound frame (outside the newest segment's tail): one frame per region, at least.
  unreadableFrames += regionsSinceFrame;

  const recovered = index ?? new EntryIndex(options.firstSeq);
  const newest = segments.at(-1);
  if (index && options.firstSeq > recovered.endSeq && newest) {
    // The caller knows numbers beyond the last frame were used (e.g. a checkpoint past a lost tail).
    const skipped = options.firstSeq - recovered.endSeq;
    for (let k = 0; k < skipped; k += 1)
      recovered.push(placeholderPosition(lastEnd), 0, recovered.timestampMs(recovered.endSeq - 1));
    segments[segments.length - 1] = { ...newest, entries: newest.entries + skipped };
  }
  if (unreadableFrames > 0) {
    logger.warn({ ...logFields, dir, unreadableFrames, unreadableBytes }, 'log opened with unreadable frames');
  }
  return { segments, index: recovered, unreadableFrames, unreadableBytes, tornTailBytes, maxTimestampMs };
}
