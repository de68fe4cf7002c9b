/**
 * The local IoT Hub: the MQTT device endpoint, the durable partitioned log, and the Event Hubs-compatible
 * AMQP endpoint, composed. State lives under `<dir>/iothub/` (registry.json, twins.json, hub.json, log/),
 * certificates under `<dir>/certs/` (the devstack CA).
 *
 * `hub.json` holds the service policy key of the AMQP side; it is generated once and reused, so the
 * Event Hubs connection string stays the same across restarts (it still changes with the AMQP port).
 */
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@iot-ingest/contracts';
import path from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { ensureDevstackCertificates } from '../certs.js';
import { startEventHubsEndpoint } from './amqp/index.js';
import { openPartitionedLog } from './log/index.js';
import { startMqttEndpoint } from './mqtt/broker.js';
import type { MqttEndpoint } from './mqtt/broker.js';
import { LiveRegistry } from './registry.js';
import {
  findIdentity,
  identityConnectionString,
  registryPath,
  updateRegistry,
  withDevice,
  withModule,
  withoutDevice,
  withoutModule,
} from '@iot-ingest/contracts';
import type { DeviceIdentity } from '@iot-ingest/contracts';
import { TwinStore } from './twins.js';

export const DEFAULTS = {
  host: '127.0.0.1',
  /** The real service's ports; 0 = a free port. */
  mqttPort: 8883,
  amqpPort: 5672,
  /** `npm run hub`'s AMQPS port (the service's); `startIotHub` picks a free one unless given one. */
  amqpsPort: 5671,
  partitionCount: 4,
  consumerGroups: ['$Default', 'warm', 'cold', 'analytics', 'hot'],
  eventHubName: 'iot-ingest-hub',
  /** The real hub's built-in endpoint policy with service rights. */
  sasKeyName: 'service',
} as const;

export interface IotHubOptions {
  /** The devstack state directory (`.devstack`). */
  readonly dir: string;
  readonly host?: string;
  readonly mqttPort?: number;
  readonly amqpPort?: number;
  /** AMQPS (TLS with the devstack CA) beside the plain AMQP port. Default 0: a free port. */
  readonly amqpsPort?: number;
  readonly partitionCount?: number;
  readonly consumerGroups?: readonly string[];
  readonly eventHubName?: string;
  /** Longest a device waits for its PUBACK's fsync batch (the log's group commit). */
  readonly fsyncIntervalMs?: number;
  readonly retentionBytes?: number;
  readonly retentionMs?: number;
  readonly logger?: Logger;
}

/** What `npm run hub` merges under `iotHub` in connections.json (docs/contracts.md §1). */
export interface IotHubConnection {
  readonly hostName: 'localhost';
  readonly mqttPort: number;
  readonly caCertPath: string;
  readonly eventHubsConnectionString: string;
  readonly partitionCount: number;
  readonly amqpPort: number;
  /** AMQP over TLS, the devstack CA (`caCertPath`) signing its certificate (SAN localhost, 127.0.0.1). */
  readonly amqpsPort: number;
  readonly eventHubName: string;
  readonly registryPath: string;
  [extra: string]: unknown;
}

export interface AddedIdentity {
  readonly deviceId: string;
  readonly moduleId?: string;
  readonly primaryKey: string;
  /** `HostName=localhost:<mqttPort>;DeviceId=…;SharedAccessKey=…[;ModuleId=…]`. */
  readonly connectionString: string;
}

export interface HubRegistry {
  readonly path: string;
  addDevice(deviceId: string, options?: { edge?: boolean }): Promise<AddedIdentity>;
  addModule(deviceId: string, moduleId: string): Promise<AddedIdentity>;
  /** Removes a device with its modules and closes their connections. */
  removeDevice(deviceId: string): Promise<void>;
  removeModule(deviceId: string, moduleId: string): Promise<void>;
  list(): readonly DeviceIdentity[];
  connectionString(deviceId: string, moduleId?: string): string;
}

/** The running emulator: module inputs, twins and metrics are the MQTT endpoint's own. */
export interface IotHub extends Pick<MqttEndpoint, 'sendToModuleInput' | 'updateDesired' | 'getTwin' | 'metrics'> {
  readonly connection: IotHubConnection;
  readonly registry: HubRegistry;
  /** Stops both endpoints, then flushes and closes the log. */
  stop(): Promise<void>;
}

interface HubSecrets {
  readonly sasKeyName: string;
  readonly sasKey: string;
}

/** The AMQP side's service key, created on first start (owner-only) and reused. */
async function loadOrCreateSecrets(file: string): Promise<HubSecrets> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<HubSecrets>;
    if (typeof parsed.sasKeyName === 'string' && typeof parsed.sasKey === 'string') {
      return { sasKeyName: parsed.sasKeyName, sasKey: parsed.sasKey };
    }
    throw new Error(`${file} lacks sasKeyName/sasKey; delete it to generate a new key`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secrets = { sasKeyName: DEFAULTS.sasKeyName, sasKey: randomBytes(32).toString('base64') };
  await writeFileAtomic(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  return secrets;
}

function requirePort(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(`startIotHub: ${name} must be a port from 0 to 65535, got ${String(value)}`);
  }
  return value;
}

export async function startIotHub(options: IotHubOptions): Promise<IotHub> {
  const host = options.host ?? DEFAULTS.host;
  const mqttPort = requirePort('mqttPort', options.mqttPort ?? DEFAULTS.mqttPort);
  const amqpPort = requirePort('amqpPort', options.amqpPort ?? DEFAULTS.amqpPort);
  const amqpsPort = requirePort('amqpsPort', options.amqpsPort ?? 0);
  const partitionCount = options.partitionCount ?? DEFAULTS.partitionCount;
  const consumerGroups = options.consumerGroups ?? DEFAULTS.consumerGroups;
  const eventHubName = options.eventHubName ?? DEFAULTS.eventHubName;
  const logger = options.logger ?? pino({ name: 'iot-ingest:iothub', level: process.env.LOG_LEVEL ?? 'info' });

  const stateDir = path.join(path.resolve(options.dir), 'iothub');
  await mkdir(stateDir, { recursive: true });
  const certs = await ensureDevstackCertificates(options.dir);
  const secrets = await loadOrCreateSecrets(path.join(stateDir, 'hub.json'));
  const file = registryPath(path.resolve(options.dir));
  const registry = new LiveRegistry(file);
  registry.current(); // a broken registry file fails the start, not the first CONNECT
  const twins = TwinStore.open(path.join(stateDir, 'twins.json'));

  const log = await openPartitionedLog({
    dir: path.join(stateDir, 'log'),
    partitionCount,
    ...(options.fsyncIntervalMs === undefined ? {} : { fsyncIntervalMs: options.fsyncIntervalMs }),
    ...(options.retentionBytes === undefined ? {} : { retentionBytes: options.retentionBytes }),
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    logger,
  });
  const stops: (() => Promise<void>)[] = [() => log.close()];
  const stopAll = async (): Promise<void> => {
    // Endpoints first (no more appends), the log last (final flush).
    for (const stop of stops.splice(0).reverse()) await stop();
  };

  try {
    const mqtt = await startMqttEndpoint({
      host,
      port: mqttPort,
      serverKey: certs.serverKey,
      serverCert: certs.serverCert,
      registry,
      twins,
      log,
      logger,
    });
    stops.push(() => mqtt.stop());
    const amqp = await startEventHubsEndpoint({
      log,
      host,
      port: amqpPort,
      tls: { port: amqpsPort, key: certs.serverKey, cert: certs.serverCert },
      eventHubName,
      consumerGroups,
      sasKeyName: secrets.sasKeyName,
      sasKey: secrets.sasKey,
      logger,
    });
    stops.push(() => amqp.stop());

    // Registry edits by the CLI (another process) take effect at the next CONNECT by themselves; the
    // watcher also closes live connections of removed identities and forgets their twins.
    const onRegistryChange = async (): Promise<void> => {
      mqtt.revokeStaleConnections();
      const data = registry.current();
      await twins.prune((key, generationId) => {
        const [deviceId = '', moduleId] = key.split('/');
        return findIdentity(data, deviceId, moduleId)?.generationId === generationId;
      });
    };
    let pending: NodeJS.Timeout | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(stateDir, (_event, name) => {
        if (name !== 'registry.json' || pending) return;
        pending = setTimeout(() => {
          pending = undefined;
          onRegistryChange().catch((err: Error) => logger.error({ err: err.message }, 'registry change not applied'));
        }, 50);
      });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cannot watch the registry; removals apply at the next CONNECT');
    }
    stops.push(async () => {
      watcher?.close();
      if (pending) clearTimeout(pending);
    });

    const connection: IotHubConnection = {
      hostName: 'localhost',
      mqttPort: mqtt.port,
      caCertPath: certs.caCertPath,
      eventHubsConnectionString: amqp.connectionString,
      partitionCount,
      amqpPort: amqp.port,
      amqpsPort: amqp.tlsPort!, // tls was given above
      eventHubName,
      registryPath: file,
    };

    const connectionString = (deviceId: string, moduleId?: string): string => {
      const identity = findIdentity(registry.current(), deviceId, moduleId);
      if (!identity) {
        throw new Error(
          moduleId === undefined
            ? `device '${deviceId}' not found`
            : `module '${moduleId}' not found on device '${deviceId}'`,
        );
      }
      return identityConnectionString({
        hostName: connection.hostName,
        mqttPort: connection.mqttPort,
        deviceId,
        primaryKey: identity.primaryKey,
        ...(moduleId === undefined ? {} : { moduleId }),
      });
    };

    const hubRegistry: HubRegistry = {
      path: file,
      async addDevice(deviceId, addOptions = {}) {
        const device = await updateRegistry(file, (data) => {
          const r = withDevice(data, deviceId, { ...addOptions, nowIso: new Date().toISOString() });
          return { data: r.data, result: r.device };
        });
        return { deviceId, primaryKey: device.primaryKey, connectionString: connectionString(deviceId) };
      },
      async addModule(deviceId, moduleId) {
        const module = await updateRegistry(file, (data) => {
          const r = withModule(data, deviceId, moduleId, { nowIso: new Date().toISOString() });
          return { data: r.data, result: r.module };
        });
        return {
          deviceId,
          moduleId,
          primaryKey: module.primaryKey,
          connectionString: connectionString(deviceId, moduleId),
        };
      },
      async removeDevice(deviceId) {
        await updateRegistry(file, (data) => ({ data: withoutDevice(data, deviceId), result: undefined }));
        await onRegistryChange();
      },
      async removeModule(deviceId, moduleId) {
        await updateRegistry(file, (data) => ({ data: withoutModule(data, deviceId, moduleId), result: undefined }));
        await onRegistryChange();
      },
      list: () => registry.current().devices,
      connectionString,
    };

    logger.info(
      { mqttPort: mqtt.port, amqpPort: amqp.port, amqpsPort: amqp.tlsPort, partitionCount, eventHubName, stateDir },
      'IoT Hub emulator ready',
    );

    return {
      connection,
      registry: hubRegistry,
      sendToModuleInput: (...args) => mqtt.sendToModuleInput(...args),
      updateDesired: (deviceId, moduleId, patch) => mqtt.updateDesired(deviceId, moduleId, patch),
      getTwin: (deviceId, moduleId) => mqtt.getTwin(deviceId, moduleId),
      metrics: () => mqtt.metrics(),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}
