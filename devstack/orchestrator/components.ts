/**
 * One adapter per component: how the orchestrator starts it (from the shared settings and the
 * connections of what started before), what it publishes, and the counters it contributes to the
 * status line. The components themselves live in their own folders; nothing is duplicated here.
 */
import { startStorage } from '../storage/index.js';
import { startCosmos } from '../cosmos/index.js';
import {
  DEFAULT_CHANNEL as IOTA_DEFAULT_CHANNEL,
  faultsFromEnv,
  startIotAnalyticsEmulator,
} from '../iotanalytics/index.js';
import type { SimulatorOptions } from '../simulator/simulator.js';
import { startSimulator } from '../simulator/simulator.js';
import { startWebhookReceiver } from '../webhook/index.js';
import { findDevice, identityConnectionString, registryPath, updateRegistry, withDevice } from '@iot-ingest/contracts';
import type * as HubModule from '../iothub/emulator.js';
import type * as EdgeModule from '../edge/index.js';
import type * as FunctionsHostModule from '../functions-host/index.js';
import type { Connections } from '@iot-ingest/contracts';
import type { ComponentSpec, RunningComponent } from './lifecycle.js';
import type { ComponentName, PortOptions } from './options.js';
import { DEPENDENCIES } from './options.js';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@iot-ingest/contracts';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import type { Logger } from 'pino';
import { blobsProbe, cachedProbe, cosmosDocumentsProbe, sumPrometheus } from './probes.js';

export interface StackSettings {
  readonly dir: string;
  readonly ports: PortOptions;
  readonly partitionCount: number;
  readonly devices: number;
  readonly ratePerSecond: number;
  readonly edgePersistence: boolean;
  readonly simulator: Partial<Omit<SimulatorOptions, 'devices' | 'ratePerSecond'>>;
  readonly edgeSettings: Readonly<Record<string, string>>;
  /** The hot path's rules file (HOT_RULES_FILE); none: the hot path is idle. */
  readonly hotRulesFile: string | undefined;
  readonly warn: (message: string) => void;
  /** Passed to the components that log (hub, functions host, edge module). */
  readonly logger: Logger;
}

/** IoT Analytics channels created on start: the edge devices' explicit channel and the default channel. */
export const TELEMETRY_CHANNEL = 'telemetry';
/** One default channel for the whole stack: the edge module's, the forwarder's and the emulator's. */
export const DEFAULT_CHANNEL = IOTA_DEFAULT_CHANNEL;

/**
 * Load a component module that may not exist in this checkout yet (parts land in parallel); undefined
 * when that exact file is missing, any other load error is thrown.
 */
async function optionalModule<T>(relativePath: string): Promise<T | undefined> {
  try {
    return (await import(relativePath)) as T;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only the file itself being absent counts as "not landed"; a missing import inside it is a real error.
    const missing = /Cannot find module '([^']+)'|Failed to load url (\S+)/.exec(String(e.message));
    const target = relativePath.replace(/^(\.\.\/)+/, '').replace(/\.js$/, '');
    const file = (missing?.[1] ?? missing?.[2] ?? '').replace(/\.(js|ts)$/, '');
    if (file !== '' && file.endsWith(target)) return undefined;
    throw new Error(`cannot load ${relativePath.replace(/^\.\.\//, 'devstack/')}: ${e.message}`, { cause: err });
  }
}

type Started = ReadonlyMap<string, RunningComponent>;

// The hub connection as the edge module and the simulator read it (a slice of the hub's connection).
interface HubConnectionLike {
  hostName: string;
  mqttPort: number;
  caCertPath: string;
  eventHubsConnectionString: string;
  partitionCount: number;
}

function connectionOf<T>(started: Started, name: ComponentName): T {
  const connection = started.get(name)?.connection;
  if (connection === undefined) throw new Error(`needs ${name}, which is not running`);
  return connection as T;
}

interface CosmosConnectionLike {
  endpoint: string;
  key: string;
  database: string;
  container: string;
  caCertPath?: string;
}
interface StorageConnectionLike {
  connectionString: string;
  coldContainer: string;
}

function storageSpec(settings: StackSettings): ComponentSpec {
  return {
    name: 'storage',
    dependsOn: DEPENDENCIES.storage,
    async start() {
      const server = await startStorage({ dir: settings.dir, port: settings.ports.storage });
      return withProbe(server, blobsProbe(server.connection.connectionString, server.connection.coldContainer));
    },
  };
}

/** A server whose counters come from a probe: the probe closes before the server stops. */
function withProbe<C>(
  server: { readonly connection: C; stop(): Promise<void> },
  probe: { read(): Readonly<Record<string, number>> | Promise<Readonly<Record<string, number>>>; close(): void },
) {
  return {
    connection: server.connection,
    counters: () => probe.read(),
    stop: async () => {
      probe.close();
      await server.stop();
    },
  };
}

function cosmosSpec(settings: StackSettings): ComponentSpec {
  return {
    name: 'cosmos',
    dependsOn: DEPENDENCIES.cosmos,
    async start() {
      const server = await startCosmos({ dir: settings.dir, port: settings.ports.cosmos });
      return withProbe(server, cosmosDocumentsProbe(server.connection as CosmosConnectionLike));
    },
  };
}

function iotAnalyticsSpec(settings: StackSettings): ComponentSpec {
  return {
    name: 'iotanalytics',
    dependsOn: DEPENDENCIES.iotanalytics,
    async start() {
      const emulator = await startIotAnalyticsEmulator({
        dir: settings.dir,
        port: settings.ports.iotAnalytics,
        channels: [TELEMETRY_CHANNEL, DEFAULT_CHANNEL],
        // IOTANALYTICS_FAULT_* work under npm start as under npm run iotanalytics.
        faults: faultsFromEnv(),
      });
      return {
        connection: emulator.connection,
        emulator,
        counters: () => {
          const stats = emulator.stats();
          const messages = Object.values(stats.messagesStoredByChannel).reduce((sum, n) => sum + n, 0);
          return { messages, requests: stats.requests, entryErrors: stats.entryErrors };
        },
        stop: () => emulator.stop(),
      } as RunningComponent;
    },
  };
}

async function hubSpec(settings: StackSettings): Promise<ComponentSpec | undefined> {
  const hubModule = await optionalModule<typeof HubModule>('../iothub/emulator.js');
  if (!hubModule) return undefined;
  return {
    name: 'hub',
    dependsOn: DEPENDENCIES.hub,
    async start() {
      const hub = await hubModule.startIotHub({
        dir: settings.dir,
        mqttPort: settings.ports.hubMqtt,
        amqpPort: settings.ports.hubAmqp,
        amqpsPort: settings.ports.hubAmqps,
        partitionCount: settings.partitionCount,
        logger: settings.logger.child({ name: 'iot-ingest:iothub' }),
      });
      return {
        connection: hub.connection,
        hub,
        counters: () => numericCounters({ ...hub.metrics() }),
        stop: () => hub.stop(),
      } as RunningComponent;
    },
  };
}

/** Flatten one level of numeric counters (nested objects are summed: `{a:{x:1,y:2}}` → `{a:3}`). */
function numericCounters(value: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'number') out[key] = v;
    else if (v && typeof v === 'object') {
      const nums = Object.values(v).filter((x): x is number => typeof x === 'number');
      if (nums.length > 0) out[key] = nums.reduce((a, b) => a + b, 0);
    }
  }
  return out;
}

async function edgeSpec(settings: StackSettings): Promise<ComponentSpec | undefined> {
  const edgeModule = await optionalModule<typeof EdgeModule>('../edge/index.js');
  if (!edgeModule) return undefined;
  return {
    name: 'edge',
    dependsOn: DEPENDENCIES.edge,
    async start(started) {
      const edge = await edgeModule.startEdge({
        dir: settings.dir,
        hub: connectionOf<HubConnectionLike>(started, 'hub'),
        mqttPort: settings.ports.edgeMqtt,
        metricsPort: settings.ports.edgeMetrics,
        persistence: settings.edgePersistence,
        settings: {
          IotAnalyticsDefaultChannelName: DEFAULT_CHANNEL,
          // The connector's default (5 per channel per PublishInterval) cannot keep up with the simulator's
          // default rate; the largest batch keeps the queues short (any setting can still be overridden).
          IotAnalyticsBatchSizePerChannel: '100',
          ...settings.edgeSettings,
        },
        log: settings.logger.child({ name: 'iot-ingest:edge' }),
      });
      const metricsUrl = edge.connection.metricsUrl;
      const probe = cachedProbe(async () => {
        const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) });
        const text = await response.text();
        return {
          received: sumPrometheus(text, 'iot_ingest_edge_received_total'),
          accepted: sumPrometheus(text, 'iot_ingest_edge_accepted_total'),
          sent: sumPrometheus(text, 'iot_ingest_edge_sent_total'),
          upstreamMessages: sumPrometheus(text, 'iot_ingest_edge_envelopes_total'),
          dropped: sumPrometheus(text, 'iot_ingest_edge_dropped_total'),
          errors: sumPrometheus(text, 'iot_ingest_edge_input_errors_total'),
          queued: sumPrometheus(text, 'iot_ingest_edge_queue_messages'),
        };
      }, 500);
      // Fresh on each status sample: one loopback scrape is cheap, and tests read `queued` at a precise moment.
      return { connection: edge.connection, counters: () => probe.refresh(), stop: () => edge.stop() };
    },
  };
}

/**
 * The Cosmos server keeps documents in memory only, so on a stack that has run before it starts empty:
 * the warm path is rebuilt by reading the hub's durable log from the start on the `warm` group (its
 * checkpoints are deleted). Record ids are deterministic, so the replay rewrites, never doubles.
 */
export async function rewindConsumerGroup(
  storageConnectionString: string,
  checkpointContainer: string,
  consumerGroup: string,
): Promise<number> {
  const container =
    BlobServiceClient.fromConnectionString(storageConnectionString).getContainerClient(checkpointContainer);
  if (!(await container.exists())) return 0;
  let deleted = 0;
  const marker = `/${consumerGroup.toLowerCase()}/`;
  for await (const blob of container.listBlobsFlat()) {
    // BlobCheckpointStore names: {namespace}/{eventhub}/{consumergroup}/(checkpoint|ownership)/{partition}
    if (blob.name.toLowerCase().includes(marker)) {
      await container.deleteBlob(blob.name).catch(() => undefined);
      deleted++;
    }
  }
  return deleted;
}

function webhookSpec(settings: StackSettings): ComponentSpec {
  return {
    name: 'webhook',
    dependsOn: DEPENDENCIES.webhook,
    async start() {
      const receiver = await startWebhookReceiver({ port: settings.ports.webhook });
      return Object.assign(
        { connection: receiver.connection, counters: () => ({ ...receiver.counters() }), stop: () => receiver.stop() },
        { receiver },
      );
    },
  };
}

async function functionsSpec(settings: StackSettings): Promise<ComponentSpec | undefined> {
  const hostModule = await optionalModule<typeof FunctionsHostModule>('../functions-host/index.js');
  if (!hostModule) return undefined;
  return {
    name: 'functions',
    // The webhook receiver, when selected, starts first so the hot path has its URL.
    dependsOn: [...DEPENDENCIES.functions, 'webhook'],
    async start(started) {
      const connections = {
        iotHub: started.get('hub')?.connection,
        storage: started.get('storage')?.connection,
        cosmos: started.get('cosmos')?.connection,
        iotAnalytics: started.get('iotanalytics')?.connection,
        alertWebhook: started.get('webhook')?.connection,
      };
      const storage = connectionOf<StorageConnectionLike>(started, 'storage');
      const rewound = await rewindConsumerGroup(storage.connectionString, hostModule.CHECKPOINT_CONTAINER, 'warm');
      if (rewound > 0) settings.warn('cosmos starts empty (memory only): rebuilding the warm path from the hub log');
      // Only the process environment's app settings override; the stack's own endpoints win otherwise.
      const appSettings = {
        ...hostModule.settingsFromConnections(connections as Connections, {}),
        ...(settings.hotRulesFile ? { HOT_RULES_FILE: settings.hotRulesFile } : {}),
      };
      const host = await hostModule.startFunctionsHost({
        settings: appSettings,
        ensureResources: true,
        logger: settings.logger.child({ name: 'iot-ingest:functions-host' }),
      });
      return {
        counters: () => {
          const c = host.counters();
          return {
            warmEvents: c.events.warmPath ?? 0,
            coldEvents: c.events.coldPath ?? 0,
            analyticsEvents: c.events.analyticsForwarder ?? 0,
            hotEvents: c.events.hotPath ?? 0,
            alertsRaised: c.alertsRaised,
            alertsResolved: c.alertsResolved,
            webhookDelivered: c.webhookDelivered,
            webhookFailed: c.webhookFailed,
            lateReadings: c.lateReadings,
            errors: c.errors + c.abandoned,
            deadLetters: c.deadLettered,
          };
        },
        stop: () => host.stop(),
      };
    },
  };
}

/** Register the device in the hub registry when missing (the simulator's identities persist across runs). */
export async function deviceConnectionString(
  dir: string,
  hub: { hostName: string; mqttPort: number },
  deviceId: string,
): Promise<string> {
  const key = await updateRegistry(registryPath(dir), (data) => {
    const existing = findDevice(data, deviceId);
    if (existing) return { data, result: existing.primaryKey };
    const added = withDevice(data, deviceId, { nowIso: new Date().toISOString() });
    return { data: added.data, result: added.device.primaryKey };
  });
  return identityConnectionString({ hostName: hub.hostName, mqttPort: hub.mqttPort, deviceId, primaryKey: key });
}

interface SimulatorState {
  nextSeq: number;
}

function simulatorStatePath(dir: string): string {
  return path.join(dir, 'simulator', 'state.json');
}

export async function readSimulatorState(dir: string): Promise<SimulatorState> {
  try {
    const parsed = JSON.parse(await readFile(simulatorStatePath(dir), 'utf8')) as Partial<SimulatorState>;
    return {
      nextSeq: Number.isInteger(parsed.nextSeq) && (parsed.nextSeq as number) >= 0 ? (parsed.nextSeq as number) : 0,
    };
  } catch {
    return { nextSeq: 0 };
  }
}

async function writeSimulatorState(dir: string, state: SimulatorState): Promise<void> {
  const file = simulatorStatePath(dir);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify(state) + '\n');
}

function simulatorSpec(settings: StackSettings): ComponentSpec {
  return {
    name: 'simulator',
    dependsOn: ['hub', 'edge'],
    async start(started) {
      const hub = connectionOf<{ hostName: string; mqttPort: number; caCertPath: string }>(started, 'hub');
      const edge = started.get('edge')?.connection as { mqttUrl: string } | undefined;
      const connectionStringFor = (deviceId: string): Promise<string> =>
        deviceConnectionString(settings.dir, hub, deviceId);
      // Sequence numbers continue across runs on the same state, so readingIds stay unique.
      const saved = await readSimulatorState(settings.dir);
      const simulator = await startSimulator({
        firstSeq: saved.nextSeq,
        devices: settings.devices,
        ratePerSecond: settings.ratePerSecond,
        channel: TELEMETRY_CHANNEL,
        hubCa: hub.caCertPath,
        connectionStringFor,
        ...(edge ? { edgeMqttUrl: edge.mqttUrl } : { directDevices: settings.devices }),
        onError: (() => {
          let lastWarnAt = 0;
          return (deviceId: string, err: Error) => {
            // Rate-limited: a broken hop would otherwise print one line per reading.
            if (Date.now() - lastWarnAt > 5000) {
              lastWarnAt = Date.now();
              settings.warn(`simulator: ${deviceId} send failed: ${err.message}`);
            }
          };
        })(),
        ...settings.simulator,
      });
      // Also while running, so a killed stack does not reuse ids either.
      const saver = setInterval(
        () => void writeSimulatorState(settings.dir, { nextSeq: simulator.nextSeq() }).catch(() => undefined),
        5000,
      );
      saver.unref();
      return Object.assign(
        {
          counters: () => {
            const { statusFailByError, ...counters } = simulator.counters();
            // Fail statuses by the connector's error code, flat (e.g. `statusFail.QueueFullException`).
            const byError = Object.entries(statusFailByError).map(([code, n]) => [`statusFail.${code}`, n] as const);
            return { ...counters, ...Object.fromEntries(byError) };
          },
          stop: async () => {
            clearInterval(saver);
            await simulator.stop();
            await writeSimulatorState(settings.dir, { nextSeq: simulator.nextSeq() });
          },
        },
        { simulator },
      );
    },
  };
}

export async function componentSpecs(
  selected: readonly ComponentName[],
  settings: StackSettings,
): Promise<{ specs: ComponentSpec[]; unavailable: ComponentName[] }> {
  const specs: ComponentSpec[] = [];
  const unavailable: ComponentName[] = [];
  for (const name of selected) {
    switch (name) {
      case 'storage':
        specs.push(storageSpec(settings));
        break;
      case 'cosmos':
        specs.push(cosmosSpec(settings));
        break;
      case 'iotanalytics':
        specs.push(iotAnalyticsSpec(settings));
        break;
      case 'simulator':
        specs.push(simulatorSpec(settings));
        break;
      case 'webhook':
        specs.push(webhookSpec(settings));
        break;
      case 'hub':
      case 'edge':
      case 'functions': {
        const spec = await (name === 'hub' ? hubSpec : name === 'edge' ? edgeSpec : functionsSpec)(settings);
        if (spec) specs.push(spec);
        else unavailable.push(name);
        break;
      }
    }
  }
  // A component whose required part is missing cannot start either: name it as unavailable too.
  for (let changed = true; changed;) {
    changed = false;
    for (const spec of [...specs]) {
      const name = spec.name as ComponentName;
      if (DEPENDENCIES[name].some((dep) => unavailable.includes(dep))) {
        specs.splice(specs.indexOf(spec), 1);
        unavailable.push(name);
        changed = true;
      }
    }
  }
  return { specs, unavailable };
}

export type { CosmosConnectionLike, StorageConnectionLike };
