/**
 * The whole local pipeline in one process: storage, Cosmos, the IoT Hub emulator, the IoT Analytics
 * emulator, the Functions host (warmPath, coldPath, analyticsForwarder), the edge module and the device
 * simulator, started by dependency on loopback with state under one directory. `npm start`, the
 * end-to-end tests and the e2e benchmark all use `startStack`.
 *
 * One process, on purpose: every part is an in-process server whose start function returns
 * `{ connection, stop }`, so start-up is fast (no child boot), failures carry their real reason, and stop is
 * a plain call chain. Nothing here needs isolation: no part mutates process-global state (TLS trust is per
 * client), and each keeps its state in its own subfolder.
 *
 * connections.json: `ready` is removed first, each component's key is merged as it serves, `devstack`
 * (statusUrl) next, and `"ready": true` last; stop removes `ready` first.
 */
import { rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { Connections } from '@iot-ingest/contracts';
import { mergeConnection } from '@iot-ingest/contracts';
import type { Simulator, SimulatorOptions } from '../simulator/simulator.js';
import type { ComponentSpec, LifecycleEvent, RunningComponent } from './lifecycle.js';
import { startAll, stopAll } from './lifecycle.js';
import type { ComponentName, PortOptions } from './options.js';
import { COMPONENT_NAMES } from './options.js';
import type { PipelineStatus } from './status.js';
import { summarize } from './status.js';
import { startStatusServer } from './status-server.js';
import type { StatusServer } from './status-server.js';
import { componentSpecs } from './components.js';
import type { CosmosConnectionLike, StackSettings } from './components.js';
import { DEFAULT_ALERTS_CONTAINER } from '@iot-ingest/contracts';
import { createLivePage, startAlertsReader, startReadingsTap } from '../live/index.js';
import type { LivePage } from '../live/index.js';
import type { WebhookReceiver } from '../webhook/index.js';

export interface StackOptions {
  readonly dir: string;
  /** Delete the directory's state first (start empty). */
  readonly reset?: boolean;
  /** Default: all. */
  readonly components?: readonly ComponentName[];
  /** Simulated devices, default 0 (tests drive their own). */
  readonly devices?: number;
  readonly ratePerSecond?: number;
  readonly partitionCount?: number;
  readonly edgePersistence?: boolean;
  /** Ports, each 0 (a free port) unless given. */
  readonly ports?: Partial<PortOptions>;
  /** Extra simulator options (tests and the benchmark: tracking, a finite run, the direct/edge split). */
  readonly simulator?: Partial<Omit<SimulatorOptions, 'devices' | 'ratePerSecond'>>;
  /** Edge-module connector settings (environment names, e.g. `PublishInterval`). */
  readonly edgeSettings?: Readonly<Record<string, string>>;
  /** The hot path's rules file; none: the hot path runs idle. */
  readonly hotRulesFile?: string;
  /** Lifecycle progress (start.ts prints it). */
  readonly onEvent?: (event: LifecycleEvent) => void;
  /** Logger for the components that log (default: pino at `warn`, JSON lines on stdout). */
  readonly logger?: Logger;
  /** Non-fatal warnings (a component missing from this checkout, a rebuild). */
  readonly onWarning?: (message: string) => void;
  /**
   * Servers already running elsewhere (the e2e benchmark starts them in processes of their own, so the
   * pipeline gets a core to itself): their connection is used as is, and the stack neither starts nor stops them.
   */
  readonly external?: Partial<Record<'storage' | 'cosmos' | 'iotanalytics', unknown>>;
}

export interface Stack {
  readonly dir: string;
  readonly connections: Connections;
  readonly components: ReadonlyMap<string, RunningComponent>;
  /** Selected components that are not available in this checkout (skipped, named at start-up). */
  readonly unavailable: readonly string[];
  readonly simulator: Simulator | undefined;
  readonly settings: StackSettings;
  status(): Promise<PipelineStatus>;
  stop(): Promise<void>;
}

const CONNECTION_KEYS: Partial<Record<ComponentName, keyof Connections & string>> = {
  storage: 'storage',
  cosmos: 'cosmos',
  hub: 'iotHub',
  iotanalytics: 'iotAnalytics',
  edge: 'edgeModule',
  webhook: 'alertWebhook',
};

/** Remove the state of a previous run (everything but the CA, so trust set up by a user survives). */
async function resetState(dir: string): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  const entries = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((name) => name !== 'certs')
      .map((name) => rm(path.join(dir, name), { recursive: true, force: true })),
  );
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = path.resolve(options.dir);
  const onWarning = options.onWarning ?? (() => undefined);
  if (options.reset) await resetState(dir);
  await mkdir(dir, { recursive: true });
  await mergeConnection('ready', undefined, dir);

  const selected = options.components ?? COMPONENT_NAMES;
  const settings: StackSettings = {
    dir,
    ports: {
      hubMqtt: 0,
      hubAmqp: 0,
      hubAmqps: 0,
      storage: 0,
      cosmos: 0,
      iotAnalytics: 0,
      edgeMqtt: 0,
      edgeMetrics: 0,
      webhook: 0,
      status: 0,
      ...options.ports,
    },
    partitionCount: options.partitionCount ?? 4,
    devices: options.devices ?? 0,
    ratePerSecond: options.ratePerSecond ?? 0,
    edgePersistence: options.edgePersistence ?? true,
    simulator: options.simulator ?? {},
    edgeSettings: options.edgeSettings ?? {},
    hotRulesFile: options.hotRulesFile,
    warn: onWarning,
    logger: options.logger ?? pino({ level: 'warn' }),
  };
  const { specs: ownSpecs, unavailable } = await componentSpecs(selected, settings);
  const external = options.external ?? {};
  const specs: ComponentSpec[] = ownSpecs.map((spec) => {
    const connection = external[spec.name as keyof typeof external];
    if (connection === undefined) return spec;
    return { name: spec.name, dependsOn: [], start: async () => ({ connection, stop: async () => undefined }) };
  });
  for (const name of unavailable)
    onWarning(`${name}: not available in this checkout yet (or needs a part that is not); running without it`);

  // Each component publishes its key as soon as it serves (each part also runs alone, the same way).
  const publishing: ComponentSpec[] = specs.map((spec) => ({
    ...spec,
    async start(started) {
      const running = await spec.start(started);
      const key = CONNECTION_KEYS[spec.name as ComponentName];
      if (key && running.connection !== undefined) {
        await mergeConnection(key, running.connection as Connections[typeof key], dir);
      }
      return running;
    },
  }));
  const components = await startAll(publishing, options.onEvent);

  const startedAtMs = Date.now();
  const status = async (): Promise<PipelineStatus> => {
    const entries = await Promise.all(
      [...components.entries()].map(async ([name, component]) => {
        try {
          return [name, (await component.counters?.()) ?? {}] as const;
        } catch {
          return [name, { probeErrors: 1 }] as const;
        }
      }),
    );
    const byName = Object.fromEntries(entries.map(([name, counters]) => [summaryKey(name), counters]));
    return {
      at: new Date().toISOString(),
      uptimeMs: Date.now() - startedAtMs,
      summary: summarize(byName),
      components: byName,
    };
  };

  let statusServer: StatusServer | undefined;
  let connections: Connections;
  const live = startLivePage(components, status, onWarning);
  try {
    statusServer = await startStatusServer({ port: settings.ports.status, sample: status, routes: live.page.handle });
    await mergeConnection('devstack', { statusUrl: statusServer.statusUrl, components: [...components.keys()] }, dir);
    connections = await mergeConnection('ready', true, dir);
  } catch (err) {
    await statusServer?.close();
    await live.stop();
    await stopAll(components, options.onEvent);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    dir,
    connections,
    components,
    unavailable,
    simulator: (components.get('simulator') as { simulator?: Simulator } | undefined)?.simulator,
    settings,
    status,
    stop: () =>
      (stopping ??= (async () => {
        await mergeConnection('ready', undefined, dir).catch(() => undefined);
        await statusServer?.close();
        await live.stop();
        await stopAll(components, options.onEvent);
        await mergeConnection('devstack', undefined, dir).catch(() => undefined);
      })()),
  };
}

/**
 * The live page at the status server's root (devstack/live): the hub's stream read on `$Default`, the
 * alerts from Cosmos, the webhook receiver's deliveries; each part only when its component runs.
 */
function startLivePage(
  components: ReadonlyMap<string, RunningComponent>,
  sample: () => Promise<PipelineStatus>,
  warn: (message: string) => void,
): { page: LivePage; stop(): Promise<void> } {
  const hub = components.get('hub')?.connection as { eventHubsConnectionString: string } | undefined;
  const cosmos = components.get('cosmos')?.connection as CosmosConnectionLike | undefined;
  const receiver = (components.get('webhook') as { receiver?: WebhookReceiver } | undefined)?.receiver;
  let warned = false;
  const tap = hub
    ? startReadingsTap({
        eventHubsConnectionString: hub.eventHubsConnectionString,
        onError: (err) => {
          if (!warned) warn(`live page: reading the hub's stream: ${err.message}`);
          warned = true;
        },
      })
    : undefined;
  const alerts = cosmos && components.has('functions') ? startAlertsReader(cosmos, DEFAULT_ALERTS_CONTAINER) : undefined;
  const page = createLivePage({ sample, tap, alerts, onWebhookAlert: receiver ? (listener) => receiver.onAlert(listener) : undefined });
  return {
    page,
    async stop() {
      page.close();
      alerts?.close();
      await tap?.stop().catch(() => undefined);
    },
  };
}

/** Component name → its key in the status counters (status.ts). */
function summaryKey(name: string): string {
  return name === 'hub' ? 'iotHub' : name === 'iotanalytics' ? 'iotAnalytics' : name;
}
