/**
 * The edge module on the devstack: registers its IoT Edge device and module identity in the hub
 * emulator's registry when missing, builds the module connection string and runs the module through
 * its own production path, `ModuleClient.fromEnvironment(Mqtt)` with `EdgeHubConnectionString` and
 * `EdgeModuleCACertificateFile`, exactly as in IoT Edge minus the workload API.
 */
import path from 'node:path';
import azureIotDevice from 'azure-iot-device';
import azureIotDeviceMqtt from 'azure-iot-device-mqtt';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { loadEdgeConfig, startEdgeModule } from '@iot-ingest/edge-module';
import type { EdgeModule, EdgeModuleClient } from '@iot-ingest/edge-module';
import { findIdentity, identityConnectionString, registryPath, updateRegistry, withDevice, withModule } from '@iot-ingest/contracts';
import { DEFAULT_CHANNEL } from '../iotanalytics/index.js';

const { ModuleClient } = azureIotDevice;
const { Mqtt } = azureIotDeviceMqtt;

export const DEFAULT_EDGE_DEVICE_ID = 'devstack-edge';
export const DEFAULT_EDGE_MODULE_ID = 'iot-ingest';

export interface HubConnectionLike {
  readonly hostName: string;
  readonly mqttPort: number;
  readonly caCertPath: string;
}

export interface StartEdgeOptions {
  /** The devstack state directory (registry under `iothub/`, module state under `edge/`). */
  readonly dir: string;
  readonly hub: HubConnectionLike;
  readonly host?: string;
  /** 0 = a free port. */
  readonly mqttPort?: number;
  readonly metricsPort?: number;
  /** Store and forward under `<dir>/edge/store`. Default true. */
  readonly persistence?: boolean;
  readonly deviceId?: string;
  readonly moduleId?: string;
  /** Extra module settings (connector parameters, SINK, …), as environment variables would give them. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly log?: Logger;
}

export interface EdgeConnection {
  readonly mqttUrl: string;
  readonly metricsUrl: string;
  readonly deviceId: string;
  readonly moduleId: string;
}

export interface RunningEdge {
  readonly connection: EdgeConnection;
  readonly module: EdgeModule;
  stop(): Promise<void>;
}

/** Find or create the edge device and its module; returns the module's key. */
export async function ensureModuleIdentity(dir: string, deviceId: string, moduleId: string): Promise<string> {
  return updateRegistry(registryPath(dir), (data) => {
    let next = data;
    if (!findIdentity(next, deviceId, undefined)) next = withDevice(next, deviceId, { edge: true, nowIso: new Date().toISOString() }).data;
    const existing = findIdentity(next, deviceId, moduleId);
    if (existing) return { data: next, result: existing.primaryKey };
    const added = withModule(next, deviceId, moduleId, { nowIso: new Date().toISOString() });
    return { data: added.data, result: added.module.primaryKey };
  });
}

/** `open()` fails at once while the hub is not listening yet (UnauthorizedError, not retried): retry briefly. */
async function openWithRetry(client: InstanceType<typeof ModuleClient>, attempts = 20): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await client.open();
      return;
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export async function startEdge(options: StartEdgeOptions): Promise<RunningEdge> {
  const deviceId = options.deviceId ?? DEFAULT_EDGE_DEVICE_ID;
  const moduleId = options.moduleId ?? DEFAULT_EDGE_MODULE_ID;
  const key = await ensureModuleIdentity(options.dir, deviceId, moduleId);
  const env: Record<string, string | undefined> = {
    MemorySize: '65536',
    PublishInterval: '1',
    // The same default channel as the IoT Analytics emulator and the functions use.
    IotAnalyticsDefaultChannelName: DEFAULT_CHANNEL,
    // The simulator's custom topic goes to that channel, and its one status monitor sees every device's statuses.
    MQTT_DEFAULT_CHANNEL_TOPICS: 'sensors/+/telemetry',
    MQTT_STATUS_OBSERVERS: 'sim-status-monitor',
    MQTT_HOST: options.host ?? '127.0.0.1',
    MQTT_PORT: String(options.mqttPort ?? 0),
    METRICS_HOST: options.host ?? '127.0.0.1',
    METRICS_PORT: String(options.metricsPort ?? 0),
    ...(options.persistence === false ? {} : { PERSISTENCE_DIR: path.join(options.dir, 'edge', 'store') }),
    ...options.settings,
  };
  const config = loadEdgeConfig(env);
  const log = options.log ?? pino({ name: 'iot-ingest:edge', level: config.logLevel });
  // The module's own production path: fromEnvironment reads these two variables.
  process.env.EdgeHubConnectionString = identityConnectionString({ hostName: options.hub.hostName, mqttPort: options.hub.mqttPort, deviceId, moduleId, primaryKey: key });
  process.env.EdgeModuleCACertificateFile = options.hub.caCertPath;
  const client = await ModuleClient.fromEnvironment(Mqtt);
  delete process.env.EdgeHubConnectionString;
  client.on('error', (err: Error) => log.warn({ error: err.name, detail: err.message }, 'module client error'));
  await openWithRetry(client);
  let module: EdgeModule;
  try {
    module = await startEdgeModule({ config, log, moduleClient: client as unknown as EdgeModuleClient });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
  return {
    connection: { mqttUrl: module.mqtt.url, metricsUrl: module.metricsUrl, deviceId, moduleId },
    module,
    async stop() {
      await module.stop();
      await client.close().catch(() => undefined);
    },
  };
}
