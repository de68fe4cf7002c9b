import { mkdtemp, readdir, readFile, rm, stat, truncate, appendFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { openPartitionedLog, type OpenPartitionedLogOptions } from '../../devstack/iothub/log/index.js';
import { fnv1a32, partitionForKey } from '../../devstack/iothub/log/hash.js';
import { FRAME_HEADER_BYTES, scanSegment } from '../../durable-log/index.js';
import { decodeEvent, encodeEventFrame } from '../../devstack/iothub/log/record.js';
import type { HubEventInput, PartitionedLog } from '../../devstack/iothub/log-types.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const logs: PartitionedLog[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-log-'));
  dirs.push(dir);
  return dir;
}

async function openLog(options: Partial<OpenPartitionedLogOptions> & { dir: string }): Promise<PartitionedLog> {
  const log = await openPartitionedLog({ partitionCount: 2, fsyncIntervalMs: 1, logger: quiet, ...options });
  logs.push(log);
  return log;
}

function telemetry(deviceId: string, n: number, extra: Partial<HubEventInput> = {}): HubEventInput {
  return {
    deviceId,
    body: Buffer.from(JSON.stringify({ n, deviceId })),
    systemProperties: { messageId: `${deviceId}-${n}`, contentType: 'application/json', contentEncoding: 'utf-8' },
    applicationProperties: { n: String(n) },
    partitionKey: deviceId,
    messageSource: 'Telemetry',
    ...extra,
  };
}

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('iothub log: record codec', () => {
  it('decodes exactly what it encoded, for any event', () => {
    const text = fc.string({ maxLength: 20 });
    fc.assert(
      fc.property(
        fc.record({
          deviceId: fc.string({ minLength: 1, maxLength: 40 }),
          moduleId: fc.option(text, { nil: undefined }),
          body: fc.uint8Array({ maxLength: 300 }),
          applicationProperties: fc.dictionary(text, text, { maxKeys: 5 }),
          messageId: fc.option(text, { nil: undefined }),
        }),
        (input) => {
          const event: HubEventInput = {
            deviceId: input.deviceId,
            ...(input.moduleId !== undefined ? { moduleId: input.moduleId } : {}),
            body: Buffer.from(input.body),
            systemProperties: input.messageId !== undefined ? { messageId: input.messageId } : {},
            applicationProperties: input.applicationProperties,
          };
          const frame = encodeEventFrame(event);
          expect(decodeEvent(frame.subarray(FRAME_HEADER_BYTES))).toEqual(event);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps typed application properties and annotations from Event Hubs senders', () => {
    const event = {
      deviceId: '',
      body: Buffer.from('x'),
      systemProperties: {},
      applicationProperties: { count: 3, ok: true, name: 'n' } as unknown as Record<string, string>,
      annotations: { 'x-opt-partition-key': 'k', custom: 'v' },
    };
    const decoded = decodeEvent(encodeEventFrame(event).subarray(FRAME_HEADER_BYTES));
    expect(decoded.applicationProperties).toEqual({ count: 3, ok: true, name: 'n' });
    expect(decoded.annotations).toEqual({ 'x-opt-partition-key': 'k', custom: 'v' });
  });
});

describe('iothub log: partitionFor', () => {
  it('is FNV-1a of the UTF-8 key mod the partition count, stable and in range', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 64 }), (key, count) => {
        const p = partitionForKey(key, count);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(count);
        expect(partitionForKey(key, count)).toBe(p);
      }),
    );
  });
});

describe('iothub log: append and read', () => {
  it('numbers each partition from 0 with decimal byte offsets that only grow', async () => {
    const log = await openLog({ dir: await tempDir() });
    const device = 'device-a';
    const p = log.partitionFor(device);
    const stored = await Promise.all([0, 1, 2, 3].map((n) => log.append(telemetry(device, n))));
    expect(stored.map((e) => e.sequenceNumber)).toEqual([0, 1, 2, 3]);
    expect(stored.every((e) => e.partition === p && /^\d+$/.test(e.offset))).toBe(true);
    expect(stored[0]?.offset).toBe('0');
    const offsets = stored.map((e) => Number(e.offset));
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(new Set(offsets).size).toBe(4);
    const read = log.read(p, 1, 10);
    expect(read.map((e) => e.sequenceNumber)).toEqual([1, 2, 3]);
    expect(read[0]?.body.toString()).toBe(JSON.stringify({ n: 1, deviceId: device }));
    expect(read[0]?.systemProperties.messageId).toBe('device-a-1');
    const other = (p + 1) % 2;
    expect(log.info(other)).toEqual({
      partition: other,
      beginSequenceNumber: -1,
      lastSequenceNumber: -1,
      lastOffset: '-1',
      lastEnqueuedTimeUtc: 0,
      isEmpty: true,
    });
    expect(log.info(p)).toMatchObject({ beginSequenceNumber: 0, lastSequenceNumber: 3, lastOffset: stored[3]?.offset, isEmpty: false });
  });

  it('resolves an append only once its record is in the segment file', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1, fsyncIntervalMs: 20 });
    const stored = await log.append(telemetry('d', 1));
    const file = path.join(dir, 'p0', '00000000000000000000.seg');
    const scan = scanSegment(await readFile(file));
    expect(scan.frames.map((f) => f.seq)).toEqual([stored.sequenceNumber]);
  });

  it('commits a burst of concurrent appends in order and tells listeners after the commit', async () => {
    const log = await openLog({ dir: await tempDir(), partitionCount: 1, fsyncIntervalMs: 5 });
    const seen: number[] = [];
    const unsubscribe = log.onAppend(0, (event) => {
      seen.push(event.sequenceNumber);
      expect(log.info(0).lastSequenceNumber).toBeGreaterThanOrEqual(event.sequenceNumber);
    });
    const stored = await Promise.all(Array.from({ length: 2000 }, (_, n) => log.append(telemetry('d', n), 0)));
    expect(stored.map((e) => e.sequenceNumber)).toEqual(Array.from({ length: 2000 }, (_, n) => n));
    expect(seen).toEqual(stored.map((e) => e.sequenceNumber));
    unsubscribe();
    await log.append(telemetry('d', 2000), 0);
    expect(seen).toHaveLength(2000);
  });

  it('reads the same events from disk as from memory, across segment files', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1, segmentBytes: 2048, cacheBytes: 0 });
    const stored = [];
    for (let n = 0; n < 40; n += 1) stored.push(await log.append(telemetry('d', n), 0));
    expect((await readdir(path.join(dir, 'p0'))).length).toBeGreaterThan(3);
    const fromDisk = [];
    for (let seq = 0; seq < 40; ) {
      const batch = log.read(0, seq, 7);
      expect(batch.length).toBeGreaterThan(0);
      fromDisk.push(...batch);
      seq += batch.length;
    }
    expect(fromDisk).toEqual(stored);
  });

  it('finds positions by enqueued time and by offset', async () => {
    const log = await openLog({ dir: await tempDir(), partitionCount: 1 });
    const first = await log.append(telemetry('d', 0), 0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await log.append(telemetry('d', 1), 0);
    expect(log.sequenceNumberAfterTime(0, first.enqueuedTimeUtc - 1)).toBe(0);
    expect(log.sequenceNumberAfterTime(0, first.enqueuedTimeUtc)).toBe(1);
    expect(log.sequenceNumberAfterTime(0, second.enqueuedTimeUtc)).toBe(2);
    expect(log.sequenceNumberForOffset(0, first.offset)).toBe(0);
    expect(log.sequenceNumberForOffset(0, second.offset)).toBe(1);
    expect(log.sequenceNumberForOffset(0, String(Number(first.offset) + 1))).toBe(1);
    expect(log.sequenceNumberForOffset(0, '999999999')).toBe(2);
    expect(log.sequenceNumberForOffset(0, 'abc')).toBeUndefined();
  });

  it('refuses an unknown partition with an error naming it', async () => {
    const log = await openLog({ dir: await tempDir() });
    await expect(log.append(telemetry('d', 0), 5)).rejects.toThrow(/partition 5 does not exist/);
    expect(() => log.read(-1, 0, 1)).toThrow(/partition -1 does not exist/);
  });

  it('refuses bad options by name', async () => {
    const dir = await tempDir();
    await expect(openPartitionedLog({ dir, partitionCount: 0 })).rejects.toThrow(/partitionCount/);
    await expect(openPartitionedLog({ dir, partitionCount: 2, fsyncIntervalMs: -1 })).rejects.toThrow(/fsyncIntervalMs/);
  });
});

describe('iothub log: restart and crash recovery', () => {
  it('keeps every acknowledged event across close and reopen, and numbering continues', async () => {
    const dir = await tempDir();
    const first = await openLog({ dir, partitionCount: 3 });
    const before = await Promise.all(['a', 'b', 'c', 'd', 'e'].flatMap((d) => [0, 1, 2].map((n) => first.append(telemetry(d, n)))));
    await first.close();
    const second = await openLog({ dir, partitionCount: 3 });
    for (let p = 0; p < 3; p += 1) {
      const expected = before.filter((e) => e.partition === p).sort((a, b) => a.sequenceNumber - b.sequenceNumber);
      expect(second.read(p, 0, 100)).toEqual(expected);
    }
    const device = 'a';
    const p = second.partitionFor(device);
    const last = before.filter((e) => e.partition === p).at(-1);
    const next = await second.append(telemetry(device, 3));
    expect(next.sequenceNumber).toBe((last?.sequenceNumber ?? -1) + 1);
    expect(Number(next.offset)).toBeGreaterThan(Number(last?.offset ?? -1));
  });

  it('flushes pending appends on close', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1, fsyncIntervalMs: 10_000 });
    const pending = log.append(telemetry('d', 0), 0);
    await log.close();
    await expect(pending).resolves.toMatchObject({ sequenceNumber: 0 });
    const reopened = await openLog({ dir, partitionCount: 1 });
    expect(reopened.read(0, 0, 10)).toHaveLength(1);
  });

  it('truncates a torn tail on open and continues numbering after the last whole record', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1 });
    for (let n = 0; n < 3; n += 1) await log.append(telemetry('d', n), 0);
    await log.close();
    const file = path.join(dir, 'p0', '00000000000000000000.seg');
    const wholeBytes = (await stat(file)).size;
    await truncate(file, wholeBytes - 5); // the last record loses its end, as after a crash mid-write
    const reopened = await openLog({ dir, partitionCount: 1 });
    expect(reopened.read(0, 0, 10).map((e) => e.sequenceNumber)).toEqual([0, 1]);
    const next = await reopened.append(telemetry('d', 9), 0);
    expect(next.sequenceNumber).toBe(2);
    await reopened.close();
    const again = await openLog({ dir, partitionCount: 1 });
    expect(again.read(0, 0, 10).map((e) => e.body.toString())).toEqual(
      [0, 1, 9].map((n) => JSON.stringify({ n, deviceId: 'd' })),
    );
  });

  it('drops garbage appended after the last record', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1 });
    await log.append(telemetry('d', 0), 0);
    await log.close();
    const file = path.join(dir, 'p0', '00000000000000000000.seg');
    const size = (await stat(file)).size;
    await appendFile(file, Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 5]));
    const reopened = await openLog({ dir, partitionCount: 1 });
    expect(reopened.read(0, 0, 10)).toHaveLength(1);
    expect((await stat(file)).size).toBe(size);
  });

  it('a damaged frame in an older segment is counted and skipped; every other event is served and numbering holds', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1, segmentBytes: 1024 });
    const stored = [];
    for (let n = 0; n < 20; n += 1) stored.push(await log.append(telemetry('d', n), 0));
    await log.close();
    const file = path.join(dir, 'p0', '00000000000000000000.seg');
    const bytes = await readFile(file);
    const damaged = scanSegment(bytes).frames[1];
    if (!damaged) throw new Error('expected at least two frames in the first segment');
    bytes.writeUInt8(bytes.readUInt8(damaged.position + damaged.frameBytes - 2) ^ 0xff, damaged.position + damaged.frameBytes - 2);
    await writeFile(file, bytes);
    const lines: { msg: string; unreadableFrames?: number }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const reopened = await openLog({ dir, partitionCount: 1, segmentBytes: 1024, logger });
    const served = [];
    for (let seq = 0; seq < 20; ) {
      const batch = reopened.read(0, seq, 100); // one segment per read
      expect(batch.length).toBeGreaterThan(0);
      served.push(...batch);
      seq = (batch.at(-1)?.sequenceNumber ?? seq) + 1;
    }
    expect(served).toEqual(stored.filter((e) => e.sequenceNumber !== 1));
    expect(reopened.health(0)).toEqual({ unreadableFrames: 1, tornTailBytes: 0, failure: undefined });
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'log opened with unreadable frames', unreadableFrames: 1 }));
    expect(reopened.info(0)).toMatchObject({ beginSequenceNumber: 0, lastSequenceNumber: 19 });
    // Offsets still find their events; the damaged event's offset finds the one after it.
    expect(reopened.sequenceNumberForOffset(0, stored[2]?.offset as string)).toBe(2);
    expect(reopened.sequenceNumberForOffset(0, stored[0]?.offset as string)).toBe(0);
    expect(reopened.read(0, reopened.sequenceNumberForOffset(0, stored[1]?.offset as string) as number, 1)[0]?.sequenceNumber).toBe(2);
    expect((await reopened.append(telemetry('d', 20), 0)).sequenceNumber).toBe(20);
  });

  it('refuses a log written in the old format, naming the way out', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'log.json'), JSON.stringify({ version: 1, partitionCount: 2 }));
    await expect(openPartitionedLog({ dir, partitionCount: 2, logger: quiet })).rejects.toThrow(/in format 1, this emulator reads format 2.*--reset/);
  });

  it('refuses a different partition count than the log was created with', async () => {
    const dir = await tempDir();
    await (await openLog({ dir, partitionCount: 4 })).close();
    await expect(openPartitionedLog({ dir, partitionCount: 2, logger: quiet })).rejects.toThrow(/partitionCount 2 does not match/);
  });
});

describe('iothub log: retention', () => {
  it('deletes whole old segments beyond the size limit and moves the beginning', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1, segmentBytes: 2048, retentionBytes: 4096 });
    const stored = [];
    for (let n = 0; n < 60; n += 1) stored.push(await log.append(telemetry('d', n), 0));
    const info = log.info(0);
    expect(info.beginSequenceNumber).toBeGreaterThan(0);
    expect(info.lastSequenceNumber).toBe(59);
    const files = await readdir(path.join(dir, 'p0'));
    const total = (await Promise.all(files.map((f) => stat(path.join(dir, 'p0', f))))).reduce((s, f) => s + f.size, 0);
    expect(total).toBeLessThanOrEqual(4096 + 2048);
    const read = log.read(0, 0, 1000);
    expect(read[0]?.sequenceNumber).toBe(info.beginSequenceNumber);
    expect(read).toEqual(stored.slice(info.beginSequenceNumber));
  });

  it('deletes segments whose newest event is older than the age limit, never the one being written', async () => {
    const dir = await tempDir();
    const log = await openLog({ dir, partitionCount: 1, segmentBytes: 1024, retentionMs: 50 });
    for (let n = 0; n < 10; n += 1) await log.append(telemetry('d', n), 0);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const last = await log.append(telemetry('d', 10), 0);
    const info = log.info(0);
    expect(info.lastSequenceNumber).toBe(10);
    expect(log.read(0, 0, 100).at(-1)).toEqual(last);
    expect(info.beginSequenceNumber).toBeGreaterThan(0);
    await log.close();
    const reopened = await openLog({ dir, partitionCount: 1, segmentBytes: 1024, retentionMs: 50 });
    expect(reopened.info(0).lastSequenceNumber).toBe(10);
  });
});
