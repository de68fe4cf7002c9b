import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../cli/main.js';
import { LiveRegistry } from '../../../devstack/iothub/registry.js';

let dir: string;
const previousDir = process.env.IOT_INGEST_DEVSTACK_DIR;

/** Runs `iot-ingest …` in process; returns the exit code and what it wrote. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    const code = await main(['node', 'iot-ingest', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-devices-cli-'));
  process.env.IOT_INGEST_DEVSTACK_DIR = dir;
});

afterEach(() => vi.restoreAllMocks());

afterAll(async () => {
  if (previousDir === undefined) delete process.env.IOT_INGEST_DEVSTACK_DIR;
  else process.env.IOT_INGEST_DEVSTACK_DIR = previousDir;
  await rm(dir, { recursive: true, force: true });
});

describe('iot-ingest devices', () => {
  it('refuses to add with a one-line error, and writes nothing, when the emulator is not configured', async () => {
    const result = await cli('devices', 'add', 'early');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^iot-ingest: the IoT Hub emulator is not configured .*npm run hub.*\n$/);
    expect(new LiveRegistry(path.join(dir, 'iothub', 'registry.json')).current().devices).toEqual([]);
  });

  it('prints only the connection string, with the running emulator’s host and port, readable by the emulator', async () => {
    await writeFile(
      path.join(dir, 'connections.json'),
      JSON.stringify({ iotHub: { hostName: 'localhost', mqttPort: 18883 } }),
    );
    const device = await cli('devices', 'add', 'd1', '--edge');
    expect(device.code).toBe(0);
    expect(device.stdout).toMatch(/^HostName=localhost:18883;DeviceId=d1;SharedAccessKey=[A-Za-z0-9+/]{43}=\n$/);
    const module = await cli('devices', 'add', 'd1', '--module', 'm1');
    expect(module.stdout).toMatch(/^HostName=localhost:18883;DeviceId=d1;SharedAccessKey=[^;]+;ModuleId=m1\n$/);
    const live = new LiveRegistry(path.join(dir, 'iothub', 'registry.json'));
    expect(device.stdout).toContain(`SharedAccessKey=${live.keyFor('d1', undefined)}\n`);
    expect(module.stdout).toContain(`SharedAccessKey=${live.keyFor('d1', 'm1')};ModuleId=m1`);
    const again = await cli('devices', 'connection-string', 'd1', '--module', 'm1');
    expect(again.stdout).toBe(module.stdout);
    const overridden = await cli('devices', 'connection-string', 'd1', '--mqtt-port', '9999');
    expect(overridden.stdout).toMatch(/^HostName=localhost:9999;DeviceId=d1;/);
  });

  it('lists devices and modules without keys, as a table or JSON', async () => {
    const json = await cli('devices', 'list', '--json');
    expect(JSON.parse(json.stdout)).toEqual([
      { deviceId: 'd1', edge: true, createdAt: expect.any(String), modules: ['m1'] },
    ]);
    const table = await cli('devices', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^DEVICE\s+EDGE\s+MODULES\s+CREATED$/);
    expect(table.stdout).toMatch(/^d1\s+yes\s+m1\s+/m);
    const registryText = await readFile(path.join(dir, 'iothub', 'registry.json'), 'utf8');
    const key = (JSON.parse(registryText) as { devices: { primaryKey: string }[] }).devices[0]?.primaryKey ?? '';
    expect(json.stdout + table.stdout).not.toContain(key);
  });

  it('gives one-line errors for duplicates, unknown identities and bad ids', async () => {
    const cases: [string[], RegExp][] = [
      [['devices', 'add', 'd1'], /device 'd1' already exists/],
      [['devices', 'add', 'd1', '--module', 'm1'], /module 'm1' already exists on device 'd1'/],
      [['devices', 'add', 'ghost', '--module', 'm'], /device 'ghost' not found/],
      [['devices', 'remove', 'ghost'], /device 'ghost' not found/],
      [['devices', 'remove', 'd1', '--module', 'nope'], /module 'nope' not found on device 'd1'/],
      [['devices', 'add', 'a/b'], /device id 'a\/b' is invalid/],
      [['devices', 'add', 'x', '--mqtt-port', 'http'], /--mqtt-port 'http' is not a port number/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(...args);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('removes a module, then the device', async () => {
    expect((await cli('devices', 'remove', 'd1', '--module', 'm1')).code).toBe(0);
    const live = new LiveRegistry(path.join(dir, 'iothub', 'registry.json'));
    expect(live.keyFor('d1', 'm1')).toBeUndefined();
    expect(live.keyFor('d1', undefined)).toBeDefined();
    expect((await cli('devices', 'remove', 'd1')).code).toBe(0);
    expect(live.keyFor('d1', undefined)).toBeUndefined();
  });
});
