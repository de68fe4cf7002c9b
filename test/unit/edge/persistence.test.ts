import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
    const [segment] = (await readdir(dir)).filter((f) => f.endsWith('.seg'));
    await appendFile(path.join(dir, segment as string), Buffer.from([9, 0, 0, 0, 1, 2, 3]));
    const again = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await again.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(['one', 'two']);
    await again.append(Buffer.from('three'));
    const third = await DiskStore.open({ dir, maxBytes: 1 << 20, ttlMs: 0 });
    expect((await third.read(0)).map((r) => Buffer.from(r.data).toString())).toEqual(['one', 'two', 'three']);
    await again.close();
    await third.close();
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
