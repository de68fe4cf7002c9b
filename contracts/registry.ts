/**
 * The device registry: `<devstack>/iothub/registry.json`, the identities the IoT Hub emulator accepts
 * (docs/contracts.md §3). Both the emulator and `iot-ingest devices` change it, through this module only.
 *
 * Invariants: every device and module has its own generated 32-byte base64 primary key; ids are unique
 * (a module id per device); the file is replaced atomically under `registry.json.lock` (files.ts), so
 * the `devices` CLI and the running emulator can both change it without losing each other's writes.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withFileLock, writeFileAtomic } from './files.js';

export interface ModuleIdentity {
  readonly moduleId: string;
  readonly primaryKey: string;
  /** Changes when an identity is re-created, so state of a deleted namesake (its twin) is not inherited. */
  readonly generationId: string;
  readonly createdAt: string;
}

export interface DeviceIdentity {
  readonly deviceId: string;
  readonly primaryKey: string;
  readonly generationId: string;
  /** An IoT Edge device (its modules connect as module identities). */
  readonly edge: boolean;
  readonly createdAt: string;
  readonly modules: readonly ModuleIdentity[];
}

export interface RegistryData {
  readonly version: 1;
  readonly devices: readonly DeviceIdentity[];
}

export const EMPTY_REGISTRY: RegistryData = { version: 1, devices: [] };

/** `<devstackDir>/iothub/registry.json`. */
export function registryPath(devstackDir: string): string {
  return path.join(devstackDir, 'iothub', 'registry.json');
}

// IoT Hub's id alphabet (case-sensitive ASCII letters, digits and `-.%_*?!(),:=@$'`), minus nothing:
// none of these is an MQTT wildcard or a topic level separator, so every id is safe in topic names.
const ID_PATTERN = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

export function validateId(kind: 'device' | 'module', id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new Error(
      `${kind} id '${id}' is invalid: use 1-128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ ' (IoT Hub's alphabet)`,
    );
  }
}

export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

function generateGenerationId(): string {
  // Same shape as the hub's (a long decimal string); only its uniqueness matters here.
  return `${Date.now()}${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
}

export function findDevice(data: RegistryData, deviceId: string): DeviceIdentity | undefined {
  return data.devices.find((d) => d.deviceId === deviceId);
}

export function findIdentity(
  data: RegistryData,
  deviceId: string,
  moduleId?: string,
): DeviceIdentity | ModuleIdentity | undefined {
  const device = findDevice(data, deviceId);
  if (!device || moduleId === undefined) return device;
  return device.modules.find((m) => m.moduleId === moduleId);
}

// Pure changes: each returns a new RegistryData, or throws a one-line error naming the identity.

export function withDevice(
  data: RegistryData,
  deviceId: string,
  options: { edge?: boolean; primaryKey?: string; nowIso: string },
): { data: RegistryData; device: DeviceIdentity } {
  validateId('device', deviceId);
  if (findDevice(data, deviceId)) throw new Error(`device '${deviceId}' already exists`);
  const device: DeviceIdentity = {
    deviceId,
    primaryKey: options.primaryKey ?? generateKey(),
    generationId: generateGenerationId(),
    edge: options.edge ?? false,
    createdAt: options.nowIso,
    modules: [],
  };
  return { data: { version: 1, devices: [...data.devices, device] }, device };
}

export function withModule(
  data: RegistryData,
  deviceId: string,
  moduleId: string,
  options: { primaryKey?: string; nowIso: string },
): { data: RegistryData; module: ModuleIdentity } {
  validateId('module', moduleId);
  const device = findDevice(data, deviceId);
  if (!device) throw new Error(`device '${deviceId}' not found (add it first)`);
  if (device.modules.some((m) => m.moduleId === moduleId)) {
    throw new Error(`module '${moduleId}' already exists on device '${deviceId}'`);
  }
  const module: ModuleIdentity = {
    moduleId,
    primaryKey: options.primaryKey ?? generateKey(),
    generationId: generateGenerationId(),
    createdAt: options.nowIso,
  };
  const updated: DeviceIdentity = { ...device, modules: [...device.modules, module] };
  return { data: { version: 1, devices: data.devices.map((d) => (d === device ? updated : d)) }, module };
}

export function withoutDevice(data: RegistryData, deviceId: string): RegistryData {
  if (!findDevice(data, deviceId)) throw new Error(`device '${deviceId}' not found`);
  return { version: 1, devices: data.devices.filter((d) => d.deviceId !== deviceId) };
}

export function withoutModule(data: RegistryData, deviceId: string, moduleId: string): RegistryData {
  const device = findDevice(data, deviceId);
  if (!device) throw new Error(`device '${deviceId}' not found`);
  if (!device.modules.some((m) => m.moduleId === moduleId)) {
    throw new Error(`module '${moduleId}' not found on device '${deviceId}'`);
  }
  const updated: DeviceIdentity = { ...device, modules: device.modules.filter((m) => m.moduleId !== moduleId) };
  return { version: 1, devices: data.devices.map((d) => (d === device ? updated : d)) };
}

/** The connection string a client passes to `Client.fromConnectionString` (docs/contracts.md §3). */
export function identityConnectionString(options: {
  hostName: string;
  mqttPort: number;
  deviceId: string;
  primaryKey: string;
  moduleId?: string;
}): string {
  const base = `HostName=${options.hostName}:${options.mqttPort};DeviceId=${options.deviceId};SharedAccessKey=${options.primaryKey}`;
  return options.moduleId === undefined ? base : `${base};ModuleId=${options.moduleId}`;
}

function parseRegistry(text: string, file: string): RegistryData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`registry ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const data = parsed as Partial<RegistryData>;
  if (data.version !== 1 || !Array.isArray(data.devices)) {
    throw new Error(`registry ${file} has an unknown shape (expected {"version":1,"devices":[…]})`);
  }
  return data as RegistryData;
}

export async function readRegistry(file: string): Promise<RegistryData> {
  try {
    return parseRegistry(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_REGISTRY;
    throw err;
  }
}

export function readRegistrySync(file: string): RegistryData {
  try {
    return parseRegistry(readFileSync(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_REGISTRY;
    throw err;
  }
}

/** Read-modify-write under the lock; the change function may throw to abort (nothing is written). */
export async function updateRegistry<T>(
  file: string,
  change: (data: RegistryData) => { data: RegistryData; result: T },
): Promise<T> {
  await mkdir(path.dirname(file), { recursive: true });
  return withFileLock(`${file}.lock`, async () => {
    const { data, result } = change(await readRegistry(file));
    // Keys are secrets: owner-only.
    await writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
    return result;
  });
}
