/**
 * The module's configuration: environment variables → one typed, frozen Config. The connector's
 * parameters keep their names and rules (parsed by batching/config.ts); the module's own settings are
 * upper-case environment variables. Every bad value is reported at once, naming the variable and rule.
 */
import { CONNECTOR_PARAMETERS, parseConnectorConfig } from '@iot-ingest/batching';
import type { ConfigIssue, ConnectorConfig, ConnectorParameter } from '@iot-ingest/batching';
import { BILLING_UNIT_BYTES, HUB_MAX_MESSAGE_BYTES } from './sinks/iothub/pack.js';

export type SinkKind = 'iothub' | 'iotanalytics';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Defaults of the module's own settings (the connector's defaults live in batching/config.ts). */
export const DEFAULTS = Object.freeze({
  sink: 'iothub' as SinkKind,
  mqttHost: '127.0.0.1', // loopback unless the deployment opens it (MQTT_HOST=0.0.0.0 in a container)
  mqttPort: 1883, // 8883 when TLS is configured
  mqttTlsPort: 8883,
  metricsHost: '127.0.0.1',
  metricsPort: 9600,
  persistenceMaxBytes: 256 * 1024 * 1024, // 256 MB of uncommitted records
  persistenceTtlSeconds: 7 * 24 * 3600, // 7 days, edgeHub's default time-to-live
  shutdownDeadlineSeconds: 10,
  hubEnvelopeTargetBytes: 16 * BILLING_UNIT_BYTES, // 64 KB: 16 billing units per upstream message
  logLevel: 'info' as LogLevel,
});

export interface MqttConfig {
  readonly host: string;
  /** 0 = a free port (tests). */
  readonly port: number;
  /** TLS when cert and key are set; with a CA file, clients must present a certificate it signed. */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string | undefined } | undefined;
  /** Username/password auth when both are set. */
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export interface PersistenceConfig {
  readonly dir: string;
  readonly maxBytes: number;
  /** 0 = keep forever. */
  readonly ttlMs: number;
}

export interface EdgeConfig {
  readonly connector: ConnectorConfig;
  /** The connector parameters as given (strings): the base that twin desired properties override. */
  readonly connectorValues: Readonly<Partial<Record<ConnectorParameter, string>>>;
  readonly sink: SinkKind;
  readonly mqtt: MqttConfig;
  /** Undefined: memory only, like the connector. */
  readonly persistence: PersistenceConfig | undefined;
  readonly metrics: { readonly host: string; readonly port: number };
  readonly shutdownDeadlineMs: number;
  readonly hub: { readonly targetBytes: number; readonly maxBytes: number };
  readonly iotAnalytics: { readonly region: string | undefined; readonly endpoint: string | undefined };
  readonly logLevel: LogLevel;
}

type Env = Readonly<Record<string, string | undefined>>;

export type EdgeConfigResult = { ok: true; config: EdgeConfig } | { ok: false; issues: readonly ConfigIssue[] };

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Collects issues instead of throwing, so every bad setting is reported together. */
class EnvReader {
  readonly issues: ConfigIssue[] = [];
  constructor(private readonly env: Env) {}

  private value(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  refuse(name: string, value: string | undefined, rule: string, why?: string): void {
    const shown = value === undefined ? 'missing' : `'${value}'`;
    this.issues.push({ parameter: name, value, rule, message: `${name}: ${shown} ${why ?? `does not match ${rule}`}` });
  }

  string(name: string): string | undefined {
    return this.value(name);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.value(name);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      this.refuse(name, v, allowed.join('|'));
      return fallback;
    }
    return v as T;
  }

  integer(name: string, fallback: number, min: number, max: number, rule?: string): number {
    const v = this.value(name);
    if (v === undefined) return fallback;
    const shownRule = rule ?? `an integer ${min}..${max}`;
    if (!/^[0-9]+$/.test(v)) {
      this.refuse(name, v, shownRule);
      return fallback;
    }
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.refuse(name, v, shownRule, `is out of range (${shownRule})`);
      return fallback;
    }
    return n;
  }
}

/** The connector parameters present in `values` (environment or twin), as strings. */
export function pickConnectorValues(values: Env): Partial<Record<ConnectorParameter, string>> {
  const out: Partial<Record<ConnectorParameter, string>> = {};
  for (const name of CONNECTOR_PARAMETERS) {
    const v = values[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function parseEdgeConfig(env: Env): EdgeConfigResult {
  const reader = new EnvReader(env);
  const connectorValues = pickConnectorValues(env);
  const connector = parseConnectorConfig(connectorValues);
  const issues: ConfigIssue[] = connector.ok ? [] : [...connector.issues];

  const sink = reader.oneOf<SinkKind>('SINK', ['iothub', 'iotanalytics'], DEFAULTS.sink);
  const certFile = reader.string('MQTT_TLS_CERT_FILE');
  const keyFile = reader.string('MQTT_TLS_KEY_FILE');
  const caFile = reader.string('MQTT_TLS_CA_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? 'MQTT_TLS_CERT_FILE' : 'MQTT_TLS_KEY_FILE';
    reader.refuse(missing, undefined, 'a PEM file path', 'is required when the other TLS file is set');
  }
  if (caFile !== undefined && certFile === undefined) {
    reader.refuse('MQTT_TLS_CA_FILE', caFile, 'requires MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE', 'needs TLS (MQTT_TLS_CERT_FILE, MQTT_TLS_KEY_FILE)');
  }
  const tls = certFile !== undefined && keyFile !== undefined ? { certFile, keyFile, caFile } : undefined;
  const username = reader.string('MQTT_USERNAME');
  const password = env.MQTT_PASSWORD === '' ? undefined : env.MQTT_PASSWORD;
  if ((username === undefined) !== (password === undefined)) {
    reader.refuse(
      username === undefined ? 'MQTT_USERNAME' : 'MQTT_PASSWORD',
      undefined,
      'set together',
      'is required when the other of MQTT_USERNAME/MQTT_PASSWORD is set',
    );
  }
  const mqttPort = reader.integer('MQTT_PORT', tls ? DEFAULTS.mqttTlsPort : DEFAULTS.mqttPort, 0, 65535);
  const mqttHost = reader.string('MQTT_HOST') ?? DEFAULTS.mqttHost;

  const persistenceDir = reader.string('PERSISTENCE_DIR');
  const persistenceMaxBytes = reader.integer('PERSISTENCE_MAX_BYTES', DEFAULTS.persistenceMaxBytes, 1, Number.MAX_SAFE_INTEGER, 'a positive integer (bytes)');
  const ttlSeconds = reader.integer('PERSISTENCE_TTL_SECONDS', DEFAULTS.persistenceTtlSeconds, 0, 10 * 365 * 24 * 3600, 'an integer of seconds, 0 = forever');
  const metricsPort = reader.integer('METRICS_PORT', DEFAULTS.metricsPort, 0, 65535);
  const metricsHost = reader.string('METRICS_HOST') ?? DEFAULTS.metricsHost;
  const deadlineSeconds = reader.integer('SHUTDOWN_DEADLINE_SECONDS', DEFAULTS.shutdownDeadlineSeconds, 0, 3600);
  const targetBytes = reader.integer(
    'HUB_ENVELOPE_TARGET_BYTES',
    DEFAULTS.hubEnvelopeTargetBytes,
    BILLING_UNIT_BYTES,
    HUB_MAX_MESSAGE_BYTES - BILLING_UNIT_BYTES,
    `a multiple of 4096 from 4096 to ${HUB_MAX_MESSAGE_BYTES - BILLING_UNIT_BYTES}`,
  );
  if (targetBytes % BILLING_UNIT_BYTES !== 0) {
    reader.refuse('HUB_ENVELOPE_TARGET_BYTES', String(targetBytes), 'a multiple of 4096', 'is not a multiple of 4096 (the IoT Hub billing unit)');
  }
  const logLevel = reader.oneOf<LogLevel>('LOG_LEVEL', LOG_LEVELS, DEFAULTS.logLevel);
  const region = reader.string('AWS_REGION') ?? (connector.ok && connector.config.publishRegion !== '' ? connector.config.publishRegion : undefined);
  const endpoint = reader.string('AWS_ENDPOINT_URL_IOTANALYTICS') ?? reader.string('AWS_ENDPOINT_URL');
  if (sink === 'iotanalytics' && region === undefined) {
    reader.refuse('AWS_REGION', undefined, 'a region such as us-east-1', 'is required for SINK=iotanalytics (or set PublishRegion)');
  }

  issues.push(...reader.issues);
  if (issues.length > 0 || !connector.ok) return { ok: false, issues };
  const config: EdgeConfig = {
    connector: connector.config,
    connectorValues: Object.freeze(connectorValues),
    sink,
    mqtt: Object.freeze({ host: mqttHost, port: mqttPort, tls: tls && Object.freeze(tls), username, password }),
    persistence: persistenceDir
      ? Object.freeze({ dir: persistenceDir, maxBytes: persistenceMaxBytes, ttlMs: ttlSeconds * 1000 })
      : undefined,
    metrics: Object.freeze({ host: metricsHost, port: metricsPort }),
    shutdownDeadlineMs: deadlineSeconds * 1000,
    hub: Object.freeze({ targetBytes, maxBytes: HUB_MAX_MESSAGE_BYTES }),
    iotAnalytics: Object.freeze({ region, endpoint }),
    logLevel,
  };
  return { ok: true, config: Object.freeze(config) };
}

export class EdgeConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i.message}`).join('\n')}`);
    this.name = 'EdgeConfigError';
  }
}

export function loadEdgeConfig(env: Env): EdgeConfig {
  const result = parseEdgeConfig(env);
  if (!result.ok) throw new EdgeConfigError(result.issues);
  return result.config;
}

/** The result of applying twin desired properties to the connector parameters. */
export interface DesiredResult {
  readonly config: ConnectorConfig;
  /** The parameter values now in force (what reported properties show). */
  readonly values: Readonly<Partial<Record<ConnectorParameter, string>>>;
  /** Desired values refused, with the reason; the old value stays in force. */
  readonly refused: Readonly<Partial<Record<ConnectorParameter, { value: string; reason: string }>>>;
}

/**
 * Apply desired properties (connector parameter names; numbers or strings; null = back to `base`) on
 * top of the values in force. Each invalid parameter is refused alone; valid ones still apply.
 */
export function applyDesired(
  current: Readonly<Partial<Record<ConnectorParameter, string>>>,
  base: Readonly<Partial<Record<ConnectorParameter, string>>>,
  desired: Readonly<Record<string, unknown>>,
): DesiredResult {
  const candidate: Partial<Record<ConnectorParameter, string>> = { ...current };
  for (const name of CONNECTOR_PARAMETERS) {
    if (!(name in desired)) continue;
    const v = desired[name];
    if (v === null) {
      if (base[name] === undefined) delete candidate[name];
      else candidate[name] = base[name];
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      candidate[name] = String(v);
    } else {
      candidate[name] = JSON.stringify(v);
    }
  }
  const refused: Partial<Record<ConnectorParameter, { value: string; reason: string }>> = {};
  let result = parseConnectorConfig(candidate);
  if (!result.ok) {
    for (const issue of result.issues) {
      const name = issue.parameter as ConnectorParameter;
      refused[name] = { value: candidate[name] ?? '', reason: issue.message };
      if (current[name] === undefined) delete candidate[name];
      else candidate[name] = current[name];
    }
    result = parseConnectorConfig(candidate);
    if (!result.ok) throw new Error(`the configuration in force no longer parses: ${result.issues.map((i) => i.message).join('; ')}`);
  }
  return { config: result.config, values: Object.freeze(candidate), refused: Object.freeze(refused) };
}
