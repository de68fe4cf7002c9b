import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultyFileSystem } from '../../../durable-log/testing.js';
import { Checkpointer } from '../../../edge-module/persistence/checkpointer.js';
import { DiskStore } from '../../../edge-module/persistence/disk.js';
import { decodeRecord, encodeRecord } from '../../../edge-module/persistence/record.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('DiskStore', () => {
  it('a torn last frame (crash mid-write) is cut off on open; everything before it survives', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-torn-'));
    dirs.push(dir);
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    await store.append(Buffer.from('one'));
    await store.append(Buffer.from('two'));
    await store.close();
    const [segment] = (await readdir(path.join(dir, 'log'))).filter((f) => f.endsWith('.seg'));
    await appendFile(path.join(dir, 'log', segment as string), Buffer.from([9, 0, 0, 0, 1, 2, 3]));
    const again = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await again.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(['one', 'two']);
    await again.append(Buffer.from('three'));
    const third = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await third.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(['one', 'two', 'three']);
    await again.close();
    await third.close();
  });

  it('the store id is made once, when the store is created, and survives reopen', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-id-'));
    dirs.push(dir);
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect(store.storeId).toMatch(/^[0-9a-f-]{36}$/);
    const seq = await store.append(Buffer.from('x'));
    await store.close();
    expect(JSON.parse(await readFile(path.join(dir, 'store.json'), 'utf8'))).toEqual({ format: 2, storeId: store.storeId });
    const again = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect(again.storeId).toBe(store.storeId);
    expect((await again.read(0)).map((r) => r.seq)).toEqual([seq]);
    await again.close();
  });

  it('after a failed write (ENOSPC) the append and every later one reject; acknowledged records stay and come back on reopen', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-enospc-'));
    dirs.push(dir);
    const fs = new FaultyFileSystem();
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0, fs });
    await store.append(Buffer.from('kept'));
    fs.failNextWrite({ kind: 'error', code: 'ENOSPC' });
    await expect(store.append(Buffer.from('refused'))).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(store.append(Buffer.from('after'))).rejects.toThrow(/takes no more appends/);
    expect(store.usedBytes()).toBe(4);
    expect((await store.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(['kept']);
    await store.close();
    const again = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await again.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(['kept']);
    await again.append(Buffer.from('next'));
    await again.close();
  });

  it('after a failed write the store refuses input for reopenDelayMs, then reopens its log and takes input again', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-reopen-'));
    dirs.push(dir);
    const fs = new FaultyFileSystem();
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0, fs, reopenDelayMs: 100 });
    await store.append(Buffer.from('kept'));
    fs.failNextSync('EIO');
    await expect(store.append(Buffer.from('refused'))).rejects.toMatchObject({ step: 'fsync', code: 'EIO' });
    await expect(store.append(Buffer.from('too-soon'))).rejects.toThrow(/takes no more appends/);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const seq = await store.append(Buffer.from('later'));
    expect((await store.read(0)).map((r) => [r.seq, Buffer.from(r.data).toString()])).toEqual([
      [1, 'kept'],
      [seq, 'later'],
    ]);
    expect(store.usedBytes()).toBe(4 + 5);
    await store.close();
  });

  it('a record damaged on disk is counted in unreadableRecords and skipped; the records after it are kept', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-corrupt-'));
    dirs.push(dir);
    const fs = new FaultyFileSystem();
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0, fs });
    await store.append(Buffer.from('one'));
    fs.failNextWrite({ kind: 'corrupt', atByte: 2 });
    await store.append(Buffer.from('two'));
    await store.append(Buffer.from('three'));
    await store.close();
    const again = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await again.read(0)).map((r) => [r.seq, Buffer.from(r.data).toString()])).toEqual([
      [1, 'one'],
      [3, 'three'],
    ]);
    expect(again.unreadableRecords()).toBe(1);
    expect(again.usedBytes()).toBe(3 + 5);
    await again.commit(3);
    expect(again.usedBytes()).toBe(0);
    await again.close();
  });

  it('a store in the old layout is migrated on open: unsent records come back in order with their append times; the old files go', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-legacy-'));
    dirs.push(dir);
    await writeLegacyStore(dir, [
      [1, 1000, 'sent'],
      [2, 2000, 'unsent-a'],
      [3, 3000, 'unsent-b'],
    ]);
    await writeFile(path.join(dir, 'checkpoint'), '1');
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await store.read(0)).map((r) => [r.seq, r.appendedAt, Buffer.from(r.data).toString()])).toEqual([
      [2, 2000, 'unsent-a'],
      [3, 3000, 'unsent-b'],
    ]);
    expect((await readdir(dir)).sort()).toEqual(['checkpoint', 'log', 'store.json']);
    expect(await store.append(Buffer.from('new'))).toBe(4);
    await store.close();
  });

  it('a migration cut short before store.json is repeated from the old files, never doubled', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-legacy-cut-'));
    dirs.push(dir);
    await writeLegacyStore(dir, [[1, 1000, 'only']]);
    // A first attempt got as far as copying into log/ and died before writing store.json.
    const first = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    await first.close();
    await rm(path.join(dir, 'store.json'));
    await writeLegacyStore(dir, [[1, 1000, 'only']]);
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await store.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(['only']);
    await store.close();
  });

  it('concurrent appends share a write and all resolve, in order', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-group-'));
    dirs.push(dir);
    const store = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    const seqs = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(Buffer.from(String(i)))));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect((await store.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    await store.close();
  });
});

/** Writes records in the store layout before the shared durable log (see edge-module/persistence/legacy.ts). */
async function writeLegacyStore(dir: string, records: [seq: number, appendedAt: number, text: string][]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const frames = records.map(([seq, appendedAt, text]) => {
    const data = Buffer.from(text);
    const frame = Buffer.alloc(24 + data.length);
    frame.writeUInt32LE(data.length, 0);
    frame.writeDoubleLE(seq, 8);
    frame.writeDoubleLE(appendedAt, 16);
    data.copy(frame, 24);
    frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
    return frame;
  });
  await writeFile(path.join(dir, `${String(records[0]?.[0] ?? 1).padStart(20, '0')}.seg`), Buffer.concat(frames));
}

describe('Checkpointer', () => {
  it('commits only below the oldest record still waiting for its status', () => {
    const c = new Checkpointer();
    for (const s of [1, 2, 3, 4]) c.track(s);
    c.done(2);
    c.done(3);
    expect(c.committable()).toBe(0);
    c.done(1);
    expect(c.committable()).toBe(3);
    c.done(4);
    expect(c.committable()).toBe(4);
  });
});

describe('record encoding', () => {
  it('round-trips header and payload bytes', () => {
    const payload = Buffer.from([0, 255, 1]);
    const decoded = decodeRecord(encodeRecord({ channel: 'c', id: 'x', correlate: true, source: 'mqtt', qos: 1 }, payload));
    expect(decoded.header).toEqual({ channel: 'c', id: 'x', correlate: true, source: 'mqtt', qos: 1 });
    expect(Buffer.from(decoded.payload)).toEqual(payload);
  });
});
