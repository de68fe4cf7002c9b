import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwinStore, mergeTwinPatch, twinDocument } from '../../../devstack/iothub/twins.js';

describe('twin merge patches', () => {
  it('merges objects recursively, null deletes, other values replace', () => {
    const merged = mergeTwinPatch(
      { a: 1, b: { c: 2, d: 3 }, e: [1] },
      { a: 5, b: { c: null, x: 1 }, e: [2], f: 'new' },
    );
    expect(merged).toEqual({ a: 5, b: { d: 3, x: 1 }, e: [2], f: 'new' });
  });

  it('never stores the hub’s $-keys such as $version', () => {
    expect(mergeTwinPatch({}, { $version: 9, a: 1 })).toEqual({ a: 1 });
  });
});

describe('TwinStore', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-twins-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts a twin at version 1 on both sides and bumps each side per patch', async () => {
    const store = TwinStore.open(path.join(dir, 'twins.json'));
    expect(twinDocument(store.get('d', 'g1'))).toEqual({ desired: { $version: 1 }, reported: { $version: 1 } });
    await store.patchReported('d', 'g1', { temp: 20 });
    const record = await store.patchDesired('d', 'g1', { PublishInterval: '5' });
    expect(twinDocument(record)).toEqual({
      desired: { PublishInterval: '5', $version: 2 },
      reported: { temp: 20, $version: 2 },
    });
  });

  it('survives a restart (reopened from the file)', async () => {
    const file = path.join(dir, 'persist.json');
    const first = TwinStore.open(file);
    await first.patchDesired('e/m', 'g', { a: 1 });
    await first.patchDesired('e/m', 'g', { b: 2 });
    const reopened = TwinStore.open(file);
    expect(twinDocument(reopened.get('e/m', 'g')).desired).toEqual({ a: 1, b: 2, $version: 3 });
  });

  it('gives a re-created identity (new generation) a fresh twin, and prune forgets removed ones', async () => {
    const file = path.join(dir, 'gen.json');
    const store = TwinStore.open(file);
    await store.patchReported('x', 'old', { k: 1 });
    expect(store.get('x', 'new').reported).toEqual({});
    await store.prune(() => false);
    expect(TwinStore.open(file).get('x', 'old').reported).toEqual({});
  });
});
