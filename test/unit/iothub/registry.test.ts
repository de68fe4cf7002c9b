import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveRegistry } from '../../../devstack/iothub/registry.js';
import {
  EMPTY_REGISTRY,
  findIdentity,
  identityConnectionString,
  readRegistry,
  updateRegistry,
  withDevice,
  withModule,
  withoutDevice,
  withoutModule,
} from '../../../contracts/registry.js';

const NOW = '2026-11-23T00:00:00.000Z';

describe('device registry (pure changes)', () => {
  it('adds a device with a generated 32-byte base64 key and no modules', () => {
    const { data, device } = withDevice(EMPTY_REGISTRY, 'dev1', { nowIso: NOW });
    expect(Buffer.from(device.primaryKey, 'base64')).toHaveLength(32);
    expect(device).toMatchObject({ deviceId: 'dev1', edge: false, modules: [], createdAt: NOW });
    expect(data.devices).toHaveLength(1);
    expect(EMPTY_REGISTRY.devices).toHaveLength(0);
  });

  it('gives every identity its own key and generation', () => {
    const a = withDevice(EMPTY_REGISTRY, 'a', { nowIso: NOW, edge: true });
    const b = withModule(a.data, 'a', 'm', { nowIso: NOW });
    expect(b.module.primaryKey).not.toBe(a.device.primaryKey);
    expect(b.module.generationId).not.toBe(a.device.generationId);
    expect(findIdentity(b.data, 'a', 'm')?.primaryKey).toBe(b.module.primaryKey);
    expect(findIdentity(b.data, 'a')).toMatchObject({ edge: true });
  });

  it('refuses duplicates and missing parents with one-line errors naming the identity', () => {
    const { data } = withDevice(EMPTY_REGISTRY, 'dev1', { nowIso: NOW });
    expect(() => withDevice(data, 'dev1', { nowIso: NOW })).toThrow("device 'dev1' already exists");
    expect(() => withModule(data, 'nope', 'm', { nowIso: NOW })).toThrow("device 'nope' not found");
    const withMod = withModule(data, 'dev1', 'm', { nowIso: NOW }).data;
    expect(() => withModule(withMod, 'dev1', 'm', { nowIso: NOW })).toThrow(
      "module 'm' already exists on device 'dev1'",
    );
    expect(() => withoutDevice(data, 'x')).toThrow("device 'x' not found");
    expect(() => withoutModule(data, 'dev1', 'zz')).toThrow("module 'zz' not found on device 'dev1'");
  });

  it('refuses ids outside IoT Hub’s alphabet (and so never a topic separator or wildcard)', () => {
    for (const id of ['', 'a/b', 'a#', 'a+b', 'sp ace', 'x'.repeat(129)]) {
      expect(() => withDevice(EMPTY_REGISTRY, id, { nowIso: NOW })).toThrow(/device id .* is invalid/);
    }
    expect(() => withDevice(EMPTY_REGISTRY, "a-b.c_d:e@f$g'h(i)", { nowIso: NOW })).not.toThrow();
  });

  it('removes a module without touching the device, and a device with its modules', () => {
    let data = withDevice(EMPTY_REGISTRY, 'e', { nowIso: NOW }).data;
    data = withModule(data, 'e', 'm1', { nowIso: NOW }).data;
    data = withModule(data, 'e', 'm2', { nowIso: NOW }).data;
    data = withoutModule(data, 'e', 'm1');
    expect(findIdentity(data, 'e', 'm1')).toBeUndefined();
    expect(findIdentity(data, 'e', 'm2')).toBeDefined();
    expect(withoutDevice(data, 'e').devices).toEqual([]);
  });

  it('builds the contract connection strings (docs/contracts.md §3)', () => {
    expect(identityConnectionString({ hostName: 'localhost', mqttPort: 8883, deviceId: 'd', primaryKey: 'K=' })).toBe(
      'HostName=localhost:8883;DeviceId=d;SharedAccessKey=K=',
    );
    expect(
      identityConnectionString({ hostName: 'localhost', mqttPort: 1, deviceId: 'd', primaryKey: 'K', moduleId: 'm' }),
    ).toBe('HostName=localhost:1;DeviceId=d;SharedAccessKey=K;ModuleId=m');
  });
});

describe('device registry (file)', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-registry-'));
    file = path.join(dir, 'iothub', 'registry.json');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a missing file as empty, and writes owner-only JSON atomically', async () => {
    expect(await readRegistry(file)).toEqual(EMPTY_REGISTRY);
    await updateRegistry(file, (data) => {
      const r = withDevice(data, 'dev1', { nowIso: NOW });
      return { data: r.data, result: r.device };
    });
    expect(JSON.parse(await readFile(file, 'utf8')).devices[0].deviceId).toBe('dev1');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('loses no update when several writers run at once (lock file)', async () => {
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        updateRegistry(file, (data) => ({ data: withDevice(data, `c${i}`, { nowIso: NOW }).data, result: undefined })),
      ),
    );
    const ids = (await readRegistry(file)).devices.map((d) => d.deviceId);
    expect(ids).toHaveLength(13);
  });

  it('writes nothing when the change throws', async () => {
    const before = await readFile(file, 'utf8');
    await expect(
      updateRegistry(file, (data) => ({ data: withDevice(data, 'dev1', { nowIso: NOW }).data, result: 0 })),
    ).rejects.toThrow('already exists');
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('LiveRegistry sees changes made through the file at once', async () => {
    const live = new LiveRegistry(file);
    expect(live.keyFor('late', undefined)).toBeUndefined();
    const device = await updateRegistry(file, (data) => {
      const r = withDevice(data, 'late', { nowIso: NOW });
      return { data: r.data, result: r.device };
    });
    expect(live.keyFor('late', undefined)).toBe(device.primaryKey);
    await updateRegistry(file, (data) => ({ data: withoutDevice(data, 'late'), result: undefined }));
    expect(live.keyFor('late', undefined)).toBeUndefined();
  });
});
