/**
 * The durable log under the faults a disk produces, injected through its filesystem seam (FaultyFileSystem),
 * as vectordotdev/vector tests its disk buffer (lib/vector-buffers/src/variants/disk_v2/tests/known_errors.rs).
 * One test per fault; each checks what was acknowledged survives and nothing else is acknowledged.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES, LogStoppedError, LogWriteError, segmentFileName } from '../../../durable-log/index.js';
import { FaultyFileSystem } from '../../../durable-log/testing.js';
import { appendText, openLog, readAllText, recordingLogger, removeTempDirs, settlesSoon, tempDir } from './helpers.js';

afterEach(removeTempDirs);

const frameBytes = (text: string) => FRAME_HEADER_BYTES + Buffer.byteLength(text);

describe('durable log: known errors', () => {
  it('a torn write (crash mid-write) is never acknowledged; reopening cuts only the torn tail and keeps every acknowledged frame', async () => {
    const dir = await tempDir();
    const faulty = new FaultyFileSystem();
    const log = await openLog(dir, { fs: faulty });
    for (const text of ['a0', 'a1', 'a2']) await appendText(log, text);
    faulty.failNextWrite({ kind: 'torn', keepBytes: 10 });
    const torn = appendText(log, 'lost');
    while (!faulty.crashed) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(await settlesSoon(torn)).toBe(false);

    const logger = recordingLogger();
    const reopened = await openLog(dir, { logger });
    expect(readAllText(reopened)).toEqual(['a0', 'a1', 'a2']);
    expect(reopened.stats()).toMatchObject({ tornTailBytes: 10, unreadableFrames: 0 });
    expect(logger.lines).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'truncated the torn tail of a log segment' }),
    );
    expect(await appendText(reopened, 'a3')).toBe(3);
    await reopened.close();
    const again = await openLog(dir);
    expect(readAllText(again)).toEqual(['a0', 'a1', 'a2', 'a3']);
    await again.close();
  });

  it('a short write rejects its appends, stops the log, and leaves nothing unacknowledged on disk', async () => {
    const dir = await tempDir();
    const faulty = new FaultyFileSystem();
    const logger = recordingLogger();
    const log = await openLog(dir, { fs: faulty, logger });
    for (const text of ['b0', 'b1']) await appendText(log, text);
    faulty.failNextWrite({ kind: 'short', keepBytes: 7 });
    const short = appendText(log, 'b2');
    const queued = appendText(log, 'b3'); // waits for the next write, which never comes
    await expect(short).rejects.toMatchObject({ name: 'LogWriteError', step: 'write', code: 'ESHORTWRITE' });
    await expect(queued).rejects.toBeInstanceOf(LogWriteError);
    await expect(appendText(log, 'b4')).rejects.toBeInstanceOf(LogStoppedError);
    expect(log.stats().failure?.message).toMatch(/short write: 7 of \d+ bytes/);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'log write failed; the log takes no more appends' }),
    );
    expect(readAllText(log)).toEqual(['b0', 'b1']);
    await log.close();

    const file = path.join(dir, segmentFileName(0));
    expect((await stat(file)).size).toBe(frameBytes('b0') + frameBytes('b1')); // the 7 stray bytes were cut back
    const reopened = await openLog(dir);
    expect(readAllText(reopened)).toEqual(['b0', 'b1']);
    expect(reopened.stats()).toMatchObject({ tornTailBytes: 0, unreadableFrames: 0 });
    expect(await appendText(reopened, 'b2')).toBe(2);
    await reopened.close();
  });

  it('ENOSPC rejects the append with its code and stops the log; what was acknowledged stays readable', async () => {
    const dir = await tempDir();
    const faulty = new FaultyFileSystem();
    const log = await openLog(dir, { fs: faulty });
    await appendText(log, 'c0');
    faulty.failNextWrite({ kind: 'error', code: 'ENOSPC' });
    await expect(appendText(log, 'c1')).rejects.toMatchObject({ name: 'LogWriteError', code: 'ENOSPC', step: 'write' });
    const later = appendText(log, 'c2');
    await expect(later).rejects.toBeInstanceOf(LogStoppedError);
    await expect(later).rejects.toThrow(/takes no more appends since a write failed .*ENOSPC/);
    expect(faulty.writes).toBe(1);
    expect(readAllText(log)).toEqual(['c0']);
    await log.close();
    const reopened = await openLog(dir);
    expect(readAllText(reopened)).toEqual(['c0']);
    await reopened.close();
  });

  it('an fsync failure rejects every append of its write and stops the log; the fsync is never retried', async () => {
    const dir = await tempDir();
    const faulty = new FaultyFileSystem();
    const log = await openLog(dir, { fs: faulty, flushDelayMs: 5 });
    await appendText(log, 'd0');
    faulty.failNextSync('EIO');
    const group = ['d1', 'd2', 'd3'].map((text) => appendText(log, text)); // one write, one fsync
    for (const append of group)
      await expect(append).rejects.toMatchObject({ name: 'LogWriteError', step: 'fsync', code: 'EIO' });
    const syncs = faulty.syncs;
    await expect(appendText(log, 'd4')).rejects.toBeInstanceOf(LogStoppedError);
    expect(faulty.syncs).toBe(syncs);
    expect(readAllText(log)).toEqual(['d0']);
    await log.close();
    // The refused frames reached the file before the fsync failed; they were cut back, so none returns.
    const reopened = await openLog(dir);
    expect(readAllText(reopened)).toEqual(['d0']);
    await reopened.close();
  });

  it.each([
    ['its magic', 1],
    ['its length', 5],
    ['its sequence number', 12],
    ['its payload', FRAME_HEADER_BYTES + 1],
  ])(
    'a corrupt frame mid-segment (damage in %s) is counted and skipped; the frames after it are kept',
    async (_where, atByte) => {
      const dir = await tempDir();
      const faulty = new FaultyFileSystem();
      const log = await openLog(dir, { fs: faulty });
      for (const text of ['e0', 'e1']) await appendText(log, text);
      faulty.failNextWrite({ kind: 'corrupt', atByte });
      await appendText(log, 'e2-damaged-on-disk');
      for (const text of ['e3', 'e4']) await appendText(log, text);
      // A reader meets it first: skipped, counted once.
      expect(readAllText(log)).toEqual(['e0', 'e1', 'e3', 'e4']);
      expect(readAllText(log)).toEqual(['e0', 'e1', 'e3', 'e4']);
      expect(log.stats().unreadableFrames).toBe(1);
      await log.close();

      const logger = recordingLogger();
      const reopened = await openLog(dir, { logger });
      expect(readAllText(reopened)).toEqual(['e0', 'e1', 'e3', 'e4']);
      expect(reopened.stats()).toMatchObject({
        unreadableFrames: 1,
        unreadableBytes: frameBytes('e2-damaged-on-disk'),
        tornTailBytes: 0,
      });
      expect(logger.lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: 'log opened with unreadable frames',
          fields: expect.objectContaining({ unreadableFrames: 1 }),
        }),
      );
      // Numbering holds its place: the damaged frame's number is not given out again.
      expect(await appendText(reopened, 'e5')).toBe(5);
      // The damaged frame is still on disk (nothing was truncated at it); only a payload flip changes its text.
      const bytes = await readFile(path.join(dir, segmentFileName(0)));
      expect(bytes.includes(Buffer.from('e2-damaged'))).toBe(atByte < FRAME_HEADER_BYTES);
      await reopened.close();
    },
  );
});
