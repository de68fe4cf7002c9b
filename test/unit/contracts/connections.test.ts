import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionsPath, mergeConnection, readConnections } from '../../../contracts/connections.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'connections-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('.devstack/connections.json', () => {
  it('a missing file reads as empty', async () => {
    expect(await readConnections(await tempDir())).toEqual({});
  });

  it('a merge writes only its own key and keeps the others', async () => {
    const dir = await tempDir();
    await mergeConnection('iotAnalytics', { endpoint: 'http://127.0.0.1:1', region: 'us-east-1' }, dir);
    await mergeConnection('ready', true, dir);
    await mergeConnection('iotAnalytics', { endpoint: 'http://127.0.0.1:2', region: 'us-east-1' }, dir);
    expect(JSON.parse(await readFile(connectionsPath(dir), 'utf8'))).toEqual({
      iotAnalytics: { endpoint: 'http://127.0.0.1:2', region: 'us-east-1' },
      ready: true,
    });
    await mergeConnection('ready', undefined, dir);
    expect(await readConnections(dir)).not.toHaveProperty('ready');
  });

  it('components merging from separate processes at the same time never clobber each other', async () => {
    const dir = await tempDir();
    const module = path.resolve('contracts/connections.ts');
    const writers = Array.from({ length: 4 }, (_, i) => {
      const script = `const { mergeConnection } = await import(${JSON.stringify(module)});
        for (let round = 0; round < 5; round++) await mergeConnection('part${i}', { round }, ${JSON.stringify(dir)});`;
      return new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          stdio: 'inherit',
        });
        child.on('error', reject);
        child.on('exit', (code) => resolve(code ?? 1));
      });
    });
    expect(await Promise.all(writers)).toEqual([0, 0, 0, 0]);
    const merged = await readConnections(dir);
    expect(Object.keys(merged).sort()).toEqual(['part0', 'part1', 'part2', 'part3']);
    for (const value of Object.values(merged)) expect(value).toEqual({ round: 4 });
  });
});
