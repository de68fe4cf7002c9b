import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../contracts/files.js';

const dirs: string[] = [];
afterEach(async () => Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))));

describe('writeFileAtomic', () => {
  it.each([false, true])('replaces the content whole and leaves no temp file behind (durable: %s)', async (durable) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atomic-'));
    dirs.push(dir);
    const file = path.join(dir, 'state.json');
    await writeFileAtomic(file, 'first', { durable });
    await writeFileAtomic(file, 'second', { durable, mode: 0o600 });
    expect(await readFile(file, 'utf8')).toBe('second');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('a durable write into a missing directory fails and leaves nothing behind', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atomic-'));
    dirs.push(dir);
    await expect(writeFileAtomic(path.join(dir, 'missing', 'x'), 'x', { durable: true })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).toEqual([]);
  });
});
