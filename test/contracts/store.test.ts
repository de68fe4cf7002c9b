import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { DiskStore } from '../../edge-module/persistence/disk.js';
import { MemoryStore } from '../../edge-module/persistence/memory.js';
import type { Store } from '../../edge-module/persistence/store.js';
import { storeContract } from './store.contract.js';
import type { StoreFactoryOptions } from './store.contract.js';

const defaults = (o: StoreFactoryOptions = {}) => ({ maxBytes: o.maxBytes ?? 1 << 20, ttlMs: o.ttlMs ?? 0, now: o.now });

storeContract('MemoryStore', {
  fresh: async (o) => new MemoryStore(defaults(o)),
});

const dirs: string[] = [];
const dirOf = new WeakMap<Store, string>();
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

storeContract('DiskStore', {
  fresh: async (o) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-store-'));
    dirs.push(dir);
    const store = await DiskStore.open({ dir, ...defaults(o), segmentBytes: 64 });
    dirOf.set(store, dir);
    return store;
  },
  reopen: async (store, o) => {
    const dir = dirOf.get(store) as string;
    await store.close();
    const again = await DiskStore.open({ dir, ...defaults(o), segmentBytes: 64 });
    dirOf.set(again, dir);
    return again;
  },
});
