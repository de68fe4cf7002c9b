import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { frameFor, nodeFileSystem } from '../../../durable-log/index.js';
import type { LogFileSystem } from '../../../durable-log/index.js';
import { FaultyFileSystem } from '../../../durable-log/testing.js';
import { appendText, openLog, readAllText, removeTempDirs, settlesSoon, tempDir } from './helpers.js';

afterEach(removeTempDirs);

/** The real filesystem with every fdatasync held until `release()`. */
function heldSyncs(): { fs: LogFileSystem; release(): void; writes: number; syncs: number } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const counts = { writes: 0, syncs: 0 };
  const fs: LogFileSystem = {
    ...nodeFileSystem,
    async openAppend(file) {
      const handle = await nodeFileSystem.openAppend(file);
      return {
        ...handle,
        writev: (chunks) => {
          counts.writes += 1;
          return handle.writev(chunks);
        },
        datasync: async () => {
          counts.syncs += 1;
          await gate;
          await handle.datasync();
        },
      };
    },
  };
  return {
    fs,
    release: () => release(),
    get writes() {
      return counts.writes;
    },
    get syncs() {
      return counts.syncs;
    },
  };
}

describe('durable log: group commit', () => {
  it('appends waiting together share one write and one fsync, and none resolves before that fsync', async () => {
    const held = heldSyncs();
    const log = await openLog(await tempDir(), { fs: held.fs, flushDelayMs: 5 });
    const appends = Array.from({ length: 100 }, (_, n) => appendText(log, `g${n}`));
    expect(await settlesSoon(Promise.race(appends), 40)).toBe(false);
    expect(held).toMatchObject({ writes: 1, syncs: 1 });
    held.release();
    expect(await Promise.all(appends)).toEqual(Array.from({ length: 100 }, (_, n) => n));
    expect(held).toMatchObject({ writes: 1, syncs: 1 });
    await log.close();
  });

  it('tells onDurable of each append in sequence order, after its fsync and before its promise resolves', async () => {
    const seen: number[] = [];
    const opened: { log?: Awaited<ReturnType<typeof openLog>> } = {};
    const log = await openLog(await tempDir(), {
      flushDelayMs: 2,
      onDurable: (seq) => {
        expect(opened.log?.endSeq).toBeGreaterThan(seq);
        seen.push(seq);
      },
    });
    opened.log = log;
    const seqs = await Promise.all(
      Array.from({ length: 50 }, (_, n) => appendText(log, `o${n}`).then((seq) => [seq, seen.length])),
    );
    for (const [seq, seenWhenResolved] of seqs) expect(seenWhenResolved).toBeGreaterThan(seq as number);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, n) => n));
    await log.close();
  });

  it('close writes what is pending first and resolves those appends', async () => {
    const dir = await tempDir();
    const log = await openLog(dir, { flushDelayMs: 10_000 });
    const pending = appendText(log, 'p0');
    await log.close();
    await expect(pending).resolves.toBe(0);
    await expect(appendText(log, 'p1')).rejects.toThrow(/is closed/);
    const reopened = await openLog(dir);
    expect(readAllText(reopened)).toEqual(['p0']);
    await reopened.close();
  });
});

describe('durable log: segments, numbering, retention', () => {
  it('starts a new segment when a frame would pass segmentBytes, and reads across segments in order', async () => {
    const dir = await tempDir();
    const log = await openLog(dir, { segmentBytes: 200 });
    const texts = Array.from({ length: 30 }, (_, n) => `segment-text-${n}`);
    for (const text of texts) await appendText(log, text);
    expect((await readdir(dir)).length).toBeGreaterThan(4);
    expect(readAllText(log)).toEqual(texts);
    const batch = await log.read(0, Infinity, 100);
    expect(batch.frames.length).toBeGreaterThan(0);
    expect(batch.frames.map((f) => f.payload.toString())).toEqual(texts.slice(0, batch.frames.length));
    await log.close();
  });

  it('numbers from firstSeq when empty, and from after the last frame on reopen', async () => {
    const dir = await tempDir();
    const log = await openLog(dir, { firstSeq: 41 });
    expect(await appendText(log, 'x')).toBe(41);
    await log.close();
    const reopened = await openLog(dir, { firstSeq: 1 });
    expect(await appendText(reopened, 'y')).toBe(42);
    await reopened.close();
    const raised = await openLog(dir, { firstSeq: 50 });
    expect(await appendText(raised, 'z')).toBe(50);
    expect(readAllText(raised)).toEqual(['x', 'y', 'z']);
    await raised.close();
  });

  it('retention deletes whole segments, oldest first, never the newest, and moves the beginning', async () => {
    const dir = await tempDir();
    const log = await openLog(dir, { segmentBytes: 200 });
    for (let n = 0; n < 30; n += 1) await appendText(log, `retained-${n}`);
    const files = (await readdir(dir)).length;
    expect(log.deleteOldestSegmentsWhile((oldest) => oldest.firstSeq + oldest.entries - 1 < 10)).toBeGreaterThan(0);
    expect(log.beginSeq).toBeGreaterThan(0);
    expect(log.beginSeq).toBeLessThanOrEqual(10);
    expect(readAllText(log)[0]).toBe(`retained-${log.beginSeq}`);
    expect(log.deleteOldestSegmentsWhile(() => true)).toBeGreaterThan(0);
    expect(log.endSeq).toBe(30);
    expect(readAllText(log).at(-1)).toBe('retained-29');
    await log.close();
    const left = await readdir(dir);
    expect(left).toHaveLength(1);
    expect(files).toBeGreaterThan(1);
  });

  it('damage at the end of an older segment loses only that frame: the next segment numbers on after it', async () => {
    const dir = await tempDir();
    const faulty = new FaultyFileSystem();
    const log = await openLog(dir, { fs: faulty, segmentBytes: 3 * 40 });
    // 40-byte frames (8-byte payloads): three per segment; the third goes out damaged.
    for (const text of ['seg0-f0!', 'seg0-f1!']) await appendText(log, text);
    faulty.failNextWrite({ kind: 'corrupt', atByte: 35 });
    await appendText(log, 'seg0-f2!');
    for (const text of ['seg1-f0!', 'seg1-f1!']) await appendText(log, text);
    expect((await readdir(dir)).length).toBe(2);
    await log.close();
    const reopened = await openLog(dir);
    expect(readAllText(reopened)).toEqual(['seg0-f0!', 'seg0-f1!', 'seg1-f0!', 'seg1-f1!']);
    expect(reopened.stats()).toMatchObject({ unreadableFrames: 1, unreadableBytes: 40, tornTailBytes: 0 });
    expect(reopened.firstSeqAtOrAfterPosition(80)).toBe(3); // the damaged frame's offset finds the next sound one
    expect(reopened.firstSeqAtOrAfterPosition(40)).toBe(1);
    expect(reopened.readSync(2).frames.map((f) => f.seq)).toEqual([3, 4]);
    await reopened.close();
  });

  it('refuses a payload over maxPayloadBytes by name, and stays usable', async () => {
    const log = await openLog(await tempDir(), { maxPayloadBytes: 16 });
    await expect(log.append(frameFor(Buffer.alloc(17)), 0, (seq) => seq)).rejects.toThrow(
      /17-byte payload is over the 16-byte limit/,
    );
    expect(await appendText(log, 'fits')).toBe(0);
    await log.close();
  });
});
