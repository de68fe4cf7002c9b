/**
 * Hostile clients, issue 12 item 3: running out of file descriptors must not take the module down. A real
 * module process has its descriptor limit cut to nothing (prlimit, util-linux) while devices keep
 * connecting; it must stay up, and serve again once descriptors are back.
 *
 * On Linux, libuv absorbs accept()'s EMFILE itself (its reserved-descriptor trick; connections wait in the
 * backlog), so what reaches the listener's 'error' handler there is rare; the handler stays for the other
 * platforms and errors, and logs `mqtt server error` with the errno code (inputs/mqtt/events.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { connectDevice } from '../edge-helpers.js';
import { put } from './helpers.js';

let child: ChildProcess | undefined;
const sockets: net.Socket[] = [];

afterAll(() => {
  for (const s of sockets) s.destroy();
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

function setDescriptorLimit(pid: number, soft: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
}

describe('out of file descriptors', () => {
  it('with no descriptor left the module keeps running while devices connect, and serves them once descriptors are back', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'edge-module/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '../../..'),
      env: { ...process.env, SINK: 'iotanalytics', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_IOTANALYTICS: 'http://127.0.0.1:9', MemorySize: '1024', MQTT_PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = child.pid as number;
    const url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child?.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === 'edge module ready') resolve(entry.mqttUrl as string);
        } catch {
          // not a log line
        }
      });
      child?.once('exit', (code) => reject(new Error(`module exited with ${code}`)));
    });
    const { port } = new URL(url);
    const exited = new Promise<number | null>((resolve) => child?.once('exit', resolve));

    setDescriptorLimit(pid, 3); // stdin, stdout, stderr: every accept() and open() now fails with EMFILE
    const waiting = connectDevice(url, { clientId: 'waits-for-a-descriptor', connectTimeout: 20_000 });
    for (let i = 0; i < 50; i++) {
      const s = net.connect(Number(port), '127.0.0.1');
      s.on('error', () => undefined);
      sockets.push(s);
    }
    const outcome = await Promise.race([exited.then((code) => `exited ${code}`), new Promise((r) => setTimeout(() => r('running'), 2000))]);
    expect(outcome).toBe('running');

    setDescriptorLimit(pid, 4096);
    for (const s of sockets.splice(0)) s.destroy();
    // The device that connected while the module had no descriptors is served now.
    const device = await waiting;
    await device.client.publishAsync('iotanalytics/channels/c/messages/put', put('x', '%%% neither JSON nor base64'), { qos: 1 });
    expect(JSON.parse((await device.waitFor(1))[0] as string)).toMatchObject({ response: { status: 'fail', error: 'InvalidRequestException' }, id: 'x' });
    await device.client.endAsync();
    expect(child.exitCode).toBeNull();
  });
});
