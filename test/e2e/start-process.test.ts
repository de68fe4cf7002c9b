/**
 * `npm start` as a process (devstack/start.ts): reaches ready with connections.json written and `ready`
 * last, answers `iot-ingest status`, and stops within 10 s on SIGTERM, removing `ready`. A component that
 * cannot start is named with its reason and the others are stopped.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readConnections } from '../../contracts/connections.js';
import { readSimulatorState } from '../../devstack/orchestrator/components.js';
import { ComponentStartError } from '../../devstack/orchestrator/lifecycle.js';
import { startStack } from '../../devstack/orchestrator/stack.js';
import { tempDir } from './helpers.js';

const exec = promisify(execFile);
const TSX = path.resolve('node_modules/.bin/tsx');
const RANDOM_PORTS = [
  'hub-mqtt',
  'hub-amqp',
  'hub-amqps',
  'storage',
  'cosmos',
  'iotanalytics',
  'edge-mqtt',
  'edge-metrics',
  'webhook',
  'status',
].flatMap((name) => [`--${name}-port`, '0']);

describe('npm start (devstack/start.ts)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('reaches ready, answers iot-ingest status, and stops cleanly within 10 s on SIGTERM', async () => {
    const dir = await tempDir('start');
    dirs.push(dir);
    const child = spawn(
      TSX,
      [
        'devstack/start.ts',
        '--dir',
        dir,
        '--devices',
        '2',
        '--rate',
        '20',
        ...RANDOM_PORTS,
        '--components',
        'storage,cosmos,hub,iotanalytics,edge,simulator',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LOG_LEVEL: 'warn' },
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      const deadline = Date.now() + 60_000;
      while (!(await readConnections(dir)).ready && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 200));
      const connections = await readConnections(dir);
      expect(connections.ready).toBe(true);
      expect(Object.keys(connections).at(-1)).toBe('ready');
      expect(output).toMatch(/"msg":"ready in [\d.]+ s"/);
      // No secrets in what start prints.
      expect(output).not.toContain(String(connections.cosmos?.key));
      expect(output).not.toContain('SharedAccessKey=');

      await new Promise((resolve) => setTimeout(resolve, 2000));
      const status = await exec(process.execPath, ['cli/bin/iot-ingest.js', 'status', '--format', 'json'], {
        env: { ...process.env, IOT_INGEST_DEVSTACK_DIR: dir },
      });
      const document = JSON.parse(status.stdout) as { summary: { readingsSent: number; errors: number } };
      expect(document.summary.readingsSent).toBeGreaterThan(0);
      expect(document.summary.errors).toBe(0);
    } finally {
      const t0 = Date.now();
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(code).toBe(0);
    }
    expect((await readConnections(dir)).ready).toBeUndefined();
    expect(output).toMatch(/"msg":"stopped"/);
    // The next start continues the readings' sequence numbers (readingIds stay unique across runs).
    expect((await readSimulatorState(dir)).nextSeq).toBeGreaterThan(0);
  }, 90_000);

  it('names a component that cannot start with its reason and stops the others', async () => {
    const dir = await tempDir('start-failure');
    dirs.push(dir);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busyPort = (blocker.address() as net.AddressInfo).port;
    try {
      const error = await startStack({
        dir,
        components: ['storage', 'cosmos', 'iotanalytics'],
        ports: { cosmos: busyPort },
      }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ComponentStartError);
      expect((error as ComponentStartError).failures.map((f) => f.component)).toEqual(['cosmos']);
      expect((error as Error).message).toMatch(new RegExp(`cosmos failed to start: .*${busyPort}`));
      expect((await readConnections(dir)).ready).toBeUndefined();
      // The others were stopped: their ports are free again.
      const connections = await readConnections(dir);
      const storagePort = Number(/:(\d+)\//.exec(String(connections.storage?.connectionString))?.[1]);
      const probe = net.createServer();
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(storagePort, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => probe.close(resolve));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 60_000);
});
