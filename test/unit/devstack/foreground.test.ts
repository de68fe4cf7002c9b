import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readConnections } from '../../../contracts/connections.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Runs a part that publishes a key, then sends SIGINT; resolves with its exit code and the time it took. */
async function runPart(stopBody: string): Promise<{ code: number | null; ms: number; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'foreground-'));
  dirs.push(dir);
  const foreground = path.resolve('devstack/foreground.ts');
  const connections = path.resolve('contracts/connections.ts');
  const script = `
    const { stopOnSignals } = await import(${JSON.stringify(foreground)});
    const { mergeConnection } = await import(${JSON.stringify(connections)});
    const dir = ${JSON.stringify(dir)};
    await mergeConnection('iotAnalytics', { endpoint: 'http://127.0.0.1:1', region: 'us-east-1' }, dir);
    const log = { info() {}, error() {} };
    stopOnSignals({ name: 'part', log, dir, connectionKey: 'iotAnalytics', stopDeadlineMs: 500, stop: () => ${stopBody} });
    setInterval(() => {}, 1000);
    process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.on('exit', () => reject(new Error('the part exited before it was ready')));
  });
  const startedAt = Date.now();
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, ms: Date.now() - startedAt, dir };
}

describe('npm run <part> in the foreground', () => {
  it('a clean stop withdraws the part from connections.json and exits 0', async () => {
    const { code, dir } = await runPart('Promise.resolve()');
    expect(code).toBe(0);
    expect(await readConnections(dir)).toEqual({});
  });

  it('a stop that hangs exits 1 at the deadline and still withdraws the part', async () => {
    const { code, ms, dir } = await runPart('new Promise(() => {})');
    expect(code).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(5000);
    expect(await readConnections(dir)).toEqual({});
  });
});
