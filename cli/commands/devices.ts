/**
 * `iot-ingest devices add|list|remove|connection-string`: the IoT Hub emulator's device registry.
 *
 * The registry is the file `<devstack>/iothub/registry.json` (docs/contracts.md §3, format in
 * docs/iothub-emulator.md); the running emulator re-reads it on change, so edits take effect live. The
 * CLI does not import the emulator (nothing outside devstack/ may): it speaks the file format and the
 * emulator's lock protocol (`registry.json.lock`, created exclusively, stale after 10 s) itself.
 * `add` prints the identity's connection string alone on stdout, built from the running emulator's
 * `iotHub.hostName`/`iotHub.mqttPort` in connections.json (or --host-name/--mqtt-port).
 */
import type { Command } from 'commander';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

interface ModuleRecord {
  moduleId: string;
  primaryKey: string;
  generationId: string;
  createdAt: string;
}

interface DeviceRecord {
  deviceId: string;
  primaryKey: string;
  generationId: string;
  edge: boolean;
  createdAt: string;
  modules: ModuleRecord[];
}

interface Registry {
  version: 1;
  devices: DeviceRecord[];
}

interface CommonFlags {
  dir?: string;
  registry?: string;
}

interface HubFlags extends CommonFlags {
  hostName?: string;
  mqttPort?: string;
}

interface HubConnection {
  hostName?: string;
  mqttPort?: number;
  registryPath?: string;
}

const ID_PATTERN = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;
const LOCK_STALE_MS = 10_000;

function devstackDir(flags: CommonFlags): string {
  return path.resolve(flags.dir ?? process.env.IOT_INGEST_DEVSTACK_DIR ?? '.devstack');
}

async function readHubConnection(dir: string): Promise<HubConnection | undefined> {
  const file = path.join(dir, 'connections.json');
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { iotHub?: HubConnection }).iotHub;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

async function registryFile(flags: CommonFlags): Promise<string> {
  if (flags.registry) return path.resolve(flags.registry);
  const dir = devstackDir(flags);
  return (await readHubConnection(dir))?.registryPath ?? path.join(dir, 'iothub', 'registry.json');
}

/** Host and port for connection strings: flags, then env, then the running emulator's connections.json. */
async function hubEndpoint(flags: HubFlags): Promise<{ hostName: string; mqttPort: number }> {
  const hub = await readHubConnection(devstackDir(flags));
  const portText = flags.mqttPort ?? process.env.IOTHUB_MQTT_PORT ?? hub?.mqttPort?.toString();
  if (portText === undefined) {
    throw new Error(
      `the IoT Hub emulator is not configured (no iotHub in ${path.join(devstackDir(flags), 'connections.json')}); start it with npm run hub or pass --mqtt-port`,
    );
  }
  const mqttPort = Number(portText);
  if (!Number.isInteger(mqttPort) || mqttPort < 1 || mqttPort > 65535) {
    throw new Error(`--mqtt-port '${portText}' is not a port number (1-65535)`);
  }
  return { hostName: flags.hostName ?? hub?.hostName ?? 'localhost', mqttPort };
}

async function readRegistry(file: string): Promise<Registry> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, devices: [] };
    throw new Error(`cannot read registry ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = JSON.parse(text) as Partial<Registry>;
  if (parsed.version !== 1 || !Array.isArray(parsed.devices)) {
    throw new Error(`registry ${file} has an unknown shape (expected {"version":1,"devices":[…]})`);
  }
  return parsed as Registry;
}

/** Read-modify-write under the emulator's lock protocol; nothing is written when `change` throws. */
async function updateRegistry<T>(file: string, change: (registry: Registry) => T): Promise<T> {
  await mkdir(path.dirname(file), { recursive: true });
  const lock = `${file}.lock`;
  for (const deadline = Date.now() + LOCK_STALE_MS; ;) {
    try {
      await (await open(lock, 'wx')).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS || Date.now() > deadline) await unlink(lock).catch(() => undefined);
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  try {
    const registry = await readRegistry(file);
    const result = change(registry);
    const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temp, JSON.stringify(registry, null, 2) + '\n', { mode: 0o600 });
    await rename(temp, file);
    return result;
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

function checkId(kind: 'device' | 'module', id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new Error(`${kind} id '${id}' is invalid: use 1-128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ '`);
  }
}

function newIdentity(): { primaryKey: string; generationId: string; createdAt: string } {
  return {
    primaryKey: randomBytes(32).toString('base64'),
    generationId: `${Date.now()}${String(randomInt(0, 1_000_000)).padStart(6, '0')}`,
    createdAt: new Date().toISOString(),
  };
}

function connectionString(
  hub: { hostName: string; mqttPort: number },
  deviceId: string,
  key: string,
  moduleId?: string,
) {
  const base = `HostName=${hub.hostName}:${hub.mqttPort};DeviceId=${deviceId};SharedAccessKey=${key}`;
  return moduleId === undefined ? base : `${base};ModuleId=${moduleId}`;
}

function findDevice(registry: Registry, deviceId: string): DeviceRecord {
  const device = registry.devices.find((d) => d.deviceId === deviceId);
  if (!device) throw new Error(`device '${deviceId}' not found`);
  return device;
}

function findModule(device: DeviceRecord, moduleId: string): ModuleRecord {
  const module = device.modules.find((m) => m.moduleId === moduleId);
  if (!module) throw new Error(`module '${moduleId}' not found on device '${device.deviceId}'`);
  return module;
}

function commonOptions(command: Command): Command {
  return command
    .option('--dir <path>', 'devstack state directory (default $IOT_INGEST_DEVSTACK_DIR or .devstack)')
    .option('--registry <file>', 'registry file (default iotHub.registryPath, else <dir>/iothub/registry.json)');
}

function hubOptions(command: Command): Command {
  return commonOptions(command)
    .option('--host-name <name>', 'host in the connection string (default iotHub.hostName or localhost)')
    .option('--mqtt-port <port>', "the emulator's MQTT port (default $IOTHUB_MQTT_PORT or iotHub.mqttPort)");
}

export function register(program: Command): void {
  const devices = program.command('devices').description("Manage the IoT Hub emulator's device and module identities.");

  hubOptions(devices.command('add <deviceId>'))
    .description('Add a device (or, with --module, a module of an existing device); prints its connection string.')
    .option('--module <moduleId>', 'add a module identity of <deviceId> instead of a device')
    .option('--edge', 'mark the device as an IoT Edge device')
    .action(async (deviceId: string, flags: HubFlags & { module?: string; edge?: boolean }) => {
      checkId('device', deviceId);
      if (flags.module !== undefined) checkId('module', flags.module);
      // Resolve the endpoint first: a missing emulator configuration must not leave a half-done add.
      const hub = await hubEndpoint(flags);
      const key = await updateRegistry(await registryFile(flags), (registry) => {
        if (flags.module === undefined) {
          if (registry.devices.some((d) => d.deviceId === deviceId))
            throw new Error(`device '${deviceId}' already exists`);
          const identity = newIdentity();
          registry.devices.push({ deviceId, ...identity, edge: flags.edge === true, modules: [] });
          return identity.primaryKey;
        }
        const device = findDevice(registry, deviceId);
        if (device.modules.some((m) => m.moduleId === flags.module)) {
          throw new Error(`module '${flags.module}' already exists on device '${deviceId}'`);
        }
        const identity = newIdentity();
        device.modules.push({ moduleId: flags.module, ...identity });
        return identity.primaryKey;
      });
      process.stdout.write(`${connectionString(hub, deviceId, key, flags.module)}\n`);
    });

  hubOptions(devices.command('connection-string <deviceId>'))
    .description("Print an existing device's (or --module's) connection string.")
    .option('--module <moduleId>', 'the module identity of <deviceId>')
    .action(async (deviceId: string, flags: HubFlags & { module?: string }) => {
      const hub = await hubEndpoint(flags);
      const device = findDevice(await readRegistry(await registryFile(flags)), deviceId);
      const key = flags.module === undefined ? device.primaryKey : findModule(device, flags.module).primaryKey;
      process.stdout.write(`${connectionString(hub, deviceId, key, flags.module)}\n`);
    });

  commonOptions(devices.command('list'))
    .description('List devices and modules (never their keys).')
    .option('--json', 'one JSON document instead of a table')
    .action(async (flags: CommonFlags & { json?: boolean }) => {
      const registry = await readRegistry(await registryFile(flags));
      const rows = registry.devices.map((d) => ({
        deviceId: d.deviceId,
        edge: d.edge,
        createdAt: d.createdAt,
        modules: d.modules.map((m) => m.moduleId),
      }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const table = [
        ['DEVICE', 'EDGE', 'MODULES', 'CREATED'],
        ...rows.map((r) => [r.deviceId, r.edge ? 'yes' : 'no', r.modules.join(',') || '-', r.createdAt]),
      ];
      const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0))) ?? [];
      for (const row of table)
        process.stdout.write(
          `${row
            .map((cell, i) => cell.padEnd(widths[i] ?? 0))
            .join('  ')
            .trimEnd()}\n`,
        );
    });

  commonOptions(devices.command('remove <deviceId>'))
    .description('Remove a device with its modules (or only --module); its connections are closed.')
    .option('--module <moduleId>', 'remove only this module identity of <deviceId>')
    .action(async (deviceId: string, flags: CommonFlags & { module?: string }) => {
      await updateRegistry(await registryFile(flags), (registry) => {
        const device = findDevice(registry, deviceId);
        if (flags.module === undefined) registry.devices = registry.devices.filter((d) => d !== device);
        else {
          const module = findModule(device, flags.module);
          device.modules = device.modules.filter((m) => m !== module);
        }
      });
      process.stderr.write(
        flags.module === undefined
          ? `removed device '${deviceId}'\n`
          : `removed module '${flags.module}' of device '${deviceId}'\n`,
      );
    });
}
