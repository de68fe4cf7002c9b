/**
 * `iot-ingest devices add|list|remove|connection-string`: the IoT Hub emulator's device registry.
 *
 * The registry format, its lock and the connection strings live in @iot-ingest/contracts, which the
 * running emulator uses too (it re-reads the file on change, so edits take effect live). `add` prints the
 * identity's connection string alone on stdout, built from the running emulator's
 * `iotHub.hostName`/`iotHub.mqttPort` in connections.json (or --host-name/--mqtt-port).
 */
import type { Command } from 'commander';
import path from 'node:path';
import {
  connectionsPath,
  findDevice,
  identityConnectionString,
  readConnections,
  readRegistry,
  registryPath,
  updateRegistry,
  validateId,
  withDevice,
  withModule,
  withoutDevice,
  withoutModule,
} from '@iot-ingest/contracts';
import type { DeviceIdentity, RegistryData } from '@iot-ingest/contracts';
import { terminalText } from '../output.js';

interface CommonFlags {
  dir?: string;
  registry?: string;
}

interface HubFlags extends CommonFlags {
  hostName?: string;
  mqttPort?: string;
}

function devstackDir(flags: CommonFlags): string {
  return path.resolve(flags.dir ?? process.env.IOT_INGEST_DEVSTACK_DIR ?? '.devstack');
}

async function registryFile(flags: CommonFlags): Promise<string> {
  if (flags.registry) return path.resolve(flags.registry);
  const dir = devstackDir(flags);
  return (await readConnections(dir)).iotHub?.registryPath ?? registryPath(dir);
}

/** Host and port for connection strings: flags, then env, then the running emulator's connections.json. */
async function hubEndpoint(flags: HubFlags): Promise<{ hostName: string; mqttPort: number }> {
  const dir = devstackDir(flags);
  const hub = (await readConnections(dir)).iotHub;
  const portText = flags.mqttPort ?? process.env.IOTHUB_MQTT_PORT ?? hub?.mqttPort?.toString();
  if (portText === undefined) {
    throw new Error(
      `the IoT Hub emulator is not configured (no iotHub in ${connectionsPath(dir)}); start it with npm run hub or pass --mqtt-port`,
    );
  }
  const mqttPort = Number(portText);
  if (!Number.isInteger(mqttPort) || mqttPort < 1 || mqttPort > 65535) {
    throw new Error(`--mqtt-port '${portText}' is not a port number (1-65535)`);
  }
  return { hostName: flags.hostName ?? hub?.hostName ?? 'localhost', mqttPort };
}

function existingDevice(registry: RegistryData, deviceId: string): DeviceIdentity {
  const device = findDevice(registry, deviceId);
  if (!device) throw new Error(`device '${deviceId}' not found`);
  return device;
}

function moduleKey(device: DeviceIdentity, moduleId: string): string {
  const module = device.modules.find((m) => m.moduleId === moduleId);
  if (!module) throw new Error(`module '${moduleId}' not found on device '${device.deviceId}'`);
  return module.primaryKey;
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
      validateId('device', deviceId);
      const moduleId = flags.module;
      if (moduleId !== undefined) validateId('module', moduleId);
      // Resolve the endpoint first: a missing emulator configuration must not leave a half-done add.
      const hub = await hubEndpoint(flags);
      const nowIso = new Date().toISOString();
      const primaryKey = await updateRegistry(await registryFile(flags), (registry) => {
        if (moduleId === undefined) {
          const { data, device } = withDevice(registry, deviceId, { edge: flags.edge === true, nowIso });
          return { data, result: device.primaryKey };
        }
        const { data, module } = withModule(registry, deviceId, moduleId, { nowIso });
        return { data, result: module.primaryKey };
      });
      process.stdout.write(`${identityConnectionString({ ...hub, deviceId, primaryKey, ...(moduleId === undefined ? {} : { moduleId }) })}\n`);
    });

  hubOptions(devices.command('connection-string <deviceId>'))
    .description("Print an existing device's (or --module's) connection string.")
    .option('--module <moduleId>', 'the module identity of <deviceId>')
    .action(async (deviceId: string, flags: HubFlags & { module?: string }) => {
      const hub = await hubEndpoint(flags);
      const device = existingDevice(await readRegistry(await registryFile(flags)), deviceId);
      const moduleId = flags.module;
      const primaryKey = moduleId === undefined ? device.primaryKey : moduleKey(device, moduleId);
      process.stdout.write(`${identityConnectionString({ ...hub, deviceId, primaryKey, ...(moduleId === undefined ? {} : { moduleId }) })}\n`);
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
        // The registry is a file anyone with access may have edited: ids are shown, never interpreted.
        ...rows.map((r) => [r.deviceId, r.edge ? 'yes' : 'no', r.modules.join(',') || '-', r.createdAt].map(terminalText)),
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
      const moduleId = flags.module;
      await updateRegistry(await registryFile(flags), (registry) => ({
        data: moduleId === undefined ? withoutDevice(registry, deviceId) : withoutModule(registry, deviceId, moduleId),
        result: undefined,
      }));
      process.stderr.write(
        flags.module === undefined
          ? `removed device '${deviceId}'\n`
          : `removed module '${flags.module}' of device '${deviceId}'\n`,
      );
    });
}
