/**
 * `npm start` options from flags and environment (flags win), pure. Ports default to fixed, well-known
 * local ports so a second start resumes on the same endpoints; 0 means "any free port" (tests).
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const COMPONENT_NAMES = ['storage', 'cosmos', 'hub', 'iotanalytics', 'webhook', 'functions', 'edge', 'simulator'] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

/** What each component needs running first (a selected component whose dependency is not selected is refused). */
export const DEPENDENCIES: Readonly<Record<ComponentName, readonly ComponentName[]>> = {
  storage: [],
  cosmos: [],
  hub: [],
  iotanalytics: [],
  // The alert webhook receiver (a Logic Apps trigger stand-in); without it alerts are only stored.
  webhook: [],
  functions: ['hub', 'storage', 'cosmos', 'iotanalytics'],
  edge: ['hub'],
  // Without the edge module every simulated device publishes straight to the hub.
  simulator: ['hub'],
};

export interface PortOptions {
  readonly hubMqtt: number;
  readonly hubAmqp: number;
  readonly hubAmqps: number;
  readonly storage: number;
  readonly cosmos: number;
  readonly iotAnalytics: number;
  readonly edgeMqtt: number;
  readonly edgeMetrics: number;
  readonly webhook: number;
  readonly status: number;
}

export interface StartOptions {
  readonly dir: string;
  readonly reset: boolean;
  readonly components: readonly ComponentName[];
  readonly devices: number;
  readonly ratePerSecond: number;
  readonly partitionCount: number;
  /** The edge module keeps accepted messages on disk (store and forward). */
  readonly edgePersistence: boolean;
  readonly ports: PortOptions;
  /** The hot path's rules file: `--hot-rules`, else `hot-rules.json` in the working directory when it exists. */
  readonly hotRulesFile: string | undefined;
  /** The simulator's anomaly rate per reading (0–1). */
  readonly anomalyRate: number;
}

/** Fixed defaults away from the well-known service ports (8883, 5671/5672, 10000, 8081), so a developer's own emulators do not clash. */
export const DEFAULT_PORTS: PortOptions = {
  hubMqtt: 18883,
  hubAmqp: 15672,
  hubAmqps: 15671,
  storage: 20000,
  cosmos: 18081,
  iotAnalytics: 18090,
  edgeMqtt: 11883,
  edgeMetrics: 19464,
  webhook: 18098,
  status: 18099,
};

export const USAGE = `usage: npm start -- [options]
  --devices N          simulated devices (0 allowed), env IOT_INGEST_DEVICES, default 4
  --rate R             readings per second across all devices, env IOT_INGEST_RATE, default 20
  --components a,b,…   run only these (${COMPONENT_NAMES.join(',')}), env IOT_INGEST_COMPONENTS
  --dir PATH           state directory, env IOT_INGEST_DEVSTACK_DIR, default .devstack
  --reset              delete the state directory's data first and start empty
  --partitions N       hub partitions (first start only), default 4
  --no-edge-persistence  keep the edge module's queues in memory only
  --hot-rules PATH     the hot path's rules file, env IOT_INGEST_HOT_RULES, default hot-rules.json if present
  --anomaly RATE       chance per reading (0–1) that a simulated device overheats for 8–15 s,
                       env IOT_INGEST_ANOMALY, default 0.002
  --<name>-port P      hub-mqtt, hub-amqp, hub-amqps, storage, cosmos, iotanalytics, edge-mqtt, edge-metrics, webhook, status
                       (env IOT_INGEST_<NAME>_PORT, e.g. IOT_INGEST_HUB_MQTT_PORT; 0 = any free port)`;

function wholeNumber(name: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new Error(`${name}: '${raw}' must be a whole number from ${min} to ${max}`);
  }
  return Number(raw);
}

const PORT_FLAGS: ReadonlyArray<readonly [keyof PortOptions, string]> = [
  ['hubMqtt', 'hub-mqtt'],
  ['hubAmqp', 'hub-amqp'],
  ['hubAmqps', 'hub-amqps'],
  ['storage', 'storage'],
  ['cosmos', 'cosmos'],
  ['iotAnalytics', 'iotanalytics'],
  ['edgeMqtt', 'edge-mqtt'],
  ['edgeMetrics', 'edge-metrics'],
  ['webhook', 'webhook'],
  ['status', 'status'],
];

export function parseStartOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): StartOptions | 'help' {
  const portFlags = Object.fromEntries(PORT_FLAGS.map(([, flag]) => [`${flag}-port`, { type: 'string' as const }]));
  const { values } = parseArgs({
    args: [...argv],
    options: {
      devices: { type: 'string' },
      rate: { type: 'string' },
      components: { type: 'string' },
      dir: { type: 'string' },
      reset: { type: 'boolean' },
      partitions: { type: 'string' },
      'no-edge-persistence': { type: 'boolean' },
      'hot-rules': { type: 'string' },
      anomaly: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...portFlags,
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const flag = (name: string): string | undefined => values[name as keyof typeof values] as string | undefined;

  const devicesRaw = flag('devices') ?? env.IOT_INGEST_DEVICES ?? '4';
  const rateRaw = flag('rate') ?? env.IOT_INGEST_RATE ?? '20';
  const rate = Number(rateRaw);
  if (rateRaw.trim() === '' || !Number.isFinite(rate) || rate < 0) {
    throw new Error(`--rate: '${rateRaw}' must be a number of readings per second >= 0`);
  }
  const componentsRaw = flag('components') ?? env.IOT_INGEST_COMPONENTS;
  const components = componentsRaw === undefined ? [...COMPONENT_NAMES] : parseComponents(componentsRaw);

  const ports = Object.fromEntries(
    PORT_FLAGS.map(([key, name]) => {
      const envName = `IOT_INGEST_${name.toUpperCase().replace(/-/g, '_')}_PORT`;
      const raw = flag(`${name}-port`) ?? env[envName];
      return [key, raw === undefined ? DEFAULT_PORTS[key] : wholeNumber(`--${name}-port`, raw, 0, 65535)];
    }),
  ) as unknown as PortOptions;

  return {
    dir: path.resolve(cwd, flag('dir') ?? env.IOT_INGEST_DEVSTACK_DIR ?? '.devstack'),
    reset: values.reset === true,
    components,
    devices: wholeNumber('--devices', devicesRaw, 0, 10_000),
    ratePerSecond: rate,
    partitionCount: wholeNumber('--partitions', flag('partitions') ?? '4', 1, 32),
    edgePersistence: values['no-edge-persistence'] !== true,
    ports,
    hotRulesFile: hotRulesFile(flag('hot-rules') ?? env.IOT_INGEST_HOT_RULES, cwd),
    anomalyRate: anomalyRate(flag('anomaly') ?? env.IOT_INGEST_ANOMALY ?? String(DEFAULT_ANOMALY_RATE)),
  };
}

/** At the default rate (20 readings/s) a device overheats about every 25 s somewhere in the fleet. */
export const DEFAULT_ANOMALY_RATE = 0.002;

function hotRulesFile(raw: string | undefined, cwd: string): string | undefined {
  if (raw !== undefined) {
    const file = path.resolve(cwd, raw);
    if (!existsSync(file)) throw new Error(`--hot-rules: '${raw}' does not exist`);
    return file;
  }
  const fallback = path.join(cwd, 'hot-rules.json');
  return existsSync(fallback) ? fallback : undefined;
}

function anomalyRate(raw: string): number {
  const rate = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error(`--anomaly: '${raw}' must be a probability per reading from 0 to 1`);
  return rate;
}

/** `a,b,c` → known names in start order; every selected component's dependencies must be selected. */
export function parseComponents(raw: string): ComponentName[] {
  const wanted = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  for (const name of wanted) {
    if (!(COMPONENT_NAMES as readonly string[]).includes(name)) {
      throw new Error(`--components: unknown component '${name}' (known: ${COMPONENT_NAMES.join(', ')})`);
    }
  }
  const selected = COMPONENT_NAMES.filter((name) => wanted.includes(name));
  for (const name of selected) {
    const missing = DEPENDENCIES[name].filter((dep) => !selected.includes(dep));
    if (missing.length > 0) {
      throw new Error(`--components: '${name}' needs ${missing.join(', ')} (add them to the list)`);
    }
  }
  return selected;
}
