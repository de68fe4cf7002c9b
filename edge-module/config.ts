/**
 * The module's configuration: environment variables → one typed, frozen Config. The connector's
 * parameters keep their names and rules (parsed by batching/config.ts); the module's own settings are
 * upper-case environment variables. Every bad value is reported at once, naming the variable and rule.
 */
import { CONNECTOR_PARAMETERS, parseConnectorConfig } from '@iot-ingest/batching';
import type { ConfigIssue, ConnectorConfig, ConnectorParameter } from '@iot-ingest/batching';
import { topicFilterProblem } from './inputs/mqtt/topics.js';
import { BILLING_UNIT_BYTES, HUB_MAX_MESSAGE_BYTES } from './sinks/iothub/pack.js';

export type SinkKind = 'iothub' | 'iotanalytics';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Defaults of the module's own settings (the connector's defaults live in batching/config.ts). */
export const DEFAULTS = Object.freeze({
  sink: 'iothub' as SinkKind,
  mqttHost: '127.0.0.1', // loopback unless the deployment opens it (then TLS and client authentication are required)
  mqttPort: 1883, // plain MQTT: loopback only
  mqttTlsPort: 8883,
  mqtt: Object.freeze({
    // A put carrying the connector's largest message (128 KB) as base64 is 174,763 characters; the rest
    // is room for the JSON wrapper, the id and the topic.
    maxPacketBytes: 180_224,
    // A Greengrass group holds at most 2,500 client devices.
    maxConnections: 2500,
    maxClientIdLength: 128,
    connectTimeoutSeconds: 10,
    // AWS IoT Core's keepalive range; 0 (no keepalive) is taken as the maximum.
    keepaliveMinSeconds: 30,
    keepaliveMaxSeconds: 1200,
    maxInflightQos2: 100,
    maxInflightStatuses: 100,
    maxOutgoingBytes: 256 * 1024,
    maxQueuedStatuses: 1000,
    offlineSessionSeconds: 3600,
    // Inputs on their way to disk: about 2 s of a 2,000-device fleet; each costs ~1-2 KB of heap.
    maxPendingWrites: 5000,
    // Half of the connector's default IotAnalyticsMaxActiveChannels (50), half of the memory and the disk.
    clientMaxChannels: 25,
    clientMemoryPercent: 50,
    clientDiskPercent: 50,
  }),
  metricsHost: '127.0.0.1',
  metricsPort: 9600,
  persistenceMaxBytes: 256 * 1024 * 1024, // 256 MB of uncommitted records
  persistenceTtlSeconds: 7 * 24 * 3600, // 7 days, edgeHub's default time-to-live
  shutdownDeadlineSeconds: 10,
  hubEnvelopeTargetBytes: 16 * BILLING_UNIT_BYTES, // 64 KB: 16 billing units per upstream message
  logLevel: 'info' as LogLevel,
});

/** How MQTT clients prove who they are; the identity is then bound to the MQTT client id. */
export interface MqttAuthConfig {
  /** X.509 client certificates signed by this CA; the certificate's subject CN must equal the client id. */
  readonly clientCaFile: string | undefined;
  /** Per-device passwords (mosquitto_passwd format); the username must equal the client id. */
  readonly credentialsFile: string | undefined;
}

/** The listener's resource bounds (edge-module/README.md, "MQTT listener limits"). */
export interface MqttLimits {
  /** Largest MQTT packet (remaining length) accepted; a larger one closes the connection unread. */
  readonly maxPacketBytes: number;
  readonly maxConnections: number;
  readonly maxClientIdLength: number;
  /** TLS handshake plus CONNECT must finish within this. */
  readonly connectTimeoutMs: number;
  /** A client's keepalive is clamped into [min, max] seconds (0 = none is taken as max). */
  readonly keepaliveMinSeconds: number;
  readonly keepaliveMaxSeconds: number;
  /** Inbound QoS 2 publishes awaiting PUBREL per client; one more closes the connection. */
  readonly maxInflightQos2: number;
  /** QoS 1 statuses sent to a persistent session (clean=false) and not yet acknowledged. */
  readonly maxInflightStatuses: number;
  /** Bytes written to one connection and not yet taken by the network; beyond, statuses wait. */
  readonly maxOutgoingBytes: number;
  /** Statuses waiting per client behind that window or while its persistent session is offline. */
  readonly maxQueuedStatuses: number;
  /** How long a persistent session's subscription and waiting statuses outlive its connection. */
  readonly offlineSessionMs: number;
  /** Inputs accepted and still on their way to disk (persistence), all clients together. */
  readonly maxPendingWrites: number;
  /** Channels one client may have messages queued in at once. */
  readonly clientMaxChannels: number;
  /** Share of MemorySize (and of PERSISTENCE_MAX_BYTES) one client's queued messages may hold, percent. */
  readonly clientMemoryPercent: number;
  readonly clientDiskPercent: number;
}

export interface MqttConfig {
  readonly host: string;
  /** 0 = a free port (tests). */
  readonly port: number;
  /** TLS on the listener (server certificate and key). */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly auth: MqttAuthConfig;
  /** Topic filters whose messages go to the default channel (the group's subscriptions); empty = none. */
  readonly defaultChannelTopics: readonly string[];
  /** Client ids that receive every client's statuses (an operator's monitor); empty = none. */
  readonly statusObservers: readonly string[];
  readonly limits: MqttLimits;
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

  /** A comma-separated list; blanks around items are ignored. */
  list(name: string): string[] {
    const v = this.value(name);
    return v === undefined ? [] : v.split(',').map((item) => item.trim()).filter((item) => item !== '');
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

/** 127.0.0.0/8, ::1 and `localhost`: the only binds where plain, unauthenticated MQTT is allowed. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  const octets = v4.split('.');
  return octets.length === 4 && octets[0] === '127' && octets.every((o) => /^[0-9]{1,3}$/.test(o) && Number(o) <= 255);
}

function parseMqttConfig(reader: EnvReader, env: Env): MqttConfig {
  const d = DEFAULTS.mqtt;
  const certFile = reader.string('MQTT_TLS_CERT_FILE');
  const keyFile = reader.string('MQTT_TLS_KEY_FILE');
  const clientCaFile = reader.string('MQTT_TLS_CA_FILE');
  const credentialsFile = reader.string('MQTT_CREDENTIALS_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? 'MQTT_TLS_CERT_FILE' : 'MQTT_TLS_KEY_FILE';
    reader.refuse(missing, undefined, 'a PEM file path', 'is required when the other TLS file is set');
  }
  const tls = certFile !== undefined && keyFile !== undefined ? Object.freeze({ certFile, keyFile }) : undefined;
  if (clientCaFile !== undefined && tls === undefined) {
    reader.refuse('MQTT_TLS_CA_FILE', clientCaFile, 'requires MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE', 'needs TLS on the listener (MQTT_TLS_CERT_FILE, MQTT_TLS_KEY_FILE)');
  }
  if (credentialsFile !== undefined && tls === undefined) {
    reader.refuse('MQTT_CREDENTIALS_FILE', credentialsFile, 'requires MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE', 'needs TLS on the listener (MQTT_TLS_CERT_FILE, MQTT_TLS_KEY_FILE): passwords never travel in plain text');
  }
  // [one shared password] replaced by per-device credentials: refuse the old settings rather than ignore them.
  for (const name of ['MQTT_USERNAME', 'MQTT_PASSWORD'] as const) {
    if (reader.string(name) !== undefined || (env[name] ?? '') !== '') {
      reader.refuse(name, '(set)', 'unset', 'is no longer supported (one password shared by every device): use MQTT_CREDENTIALS_FILE (per-device passwords) or MQTT_TLS_CA_FILE (X.509 client certificates)');
    }
  }
  const host = reader.string('MQTT_HOST') ?? DEFAULTS.mqttHost;
  const port = reader.integer('MQTT_PORT', tls ? DEFAULTS.mqttTlsPort : DEFAULTS.mqttPort, 0, 65535);
  const authenticated = clientCaFile !== undefined || credentialsFile !== undefined;
  if (!isLoopbackHost(host) && (tls === undefined || !authenticated)) {
    const missing = [
      ...(tls === undefined ? ['TLS (MQTT_TLS_CERT_FILE, MQTT_TLS_KEY_FILE)'] : []),
      ...(authenticated ? [] : ['client authentication (MQTT_TLS_CA_FILE for X.509 client certificates, or MQTT_CREDENTIALS_FILE for per-device passwords)']),
    ];
    reader.refuse('MQTT_HOST', host, 'loopback, or TLS and client authentication', `is not a loopback address: off loopback the MQTT listener requires ${missing.join(' and ')}; plain MQTT is for 127.0.0.1 only`);
  }

  const defaultChannelTopics = reader.list('MQTT_DEFAULT_CHANNEL_TOPICS');
  for (const filter of defaultChannelTopics) {
    const problem = topicFilterProblem(filter);
    if (problem) reader.refuse('MQTT_DEFAULT_CHANNEL_TOPICS', filter, 'comma-separated MQTT topic filters', `${problem}`);
  }
  const statusObservers = reader.list('MQTT_STATUS_OBSERVERS');

  const keepaliveMinSeconds = reader.integer('MQTT_KEEPALIVE_MIN_SECONDS', d.keepaliveMinSeconds, 1, 65535);
  const keepaliveMaxSeconds = reader.integer('MQTT_KEEPALIVE_MAX_SECONDS', d.keepaliveMaxSeconds, 1, 65535);
  if (keepaliveMinSeconds > keepaliveMaxSeconds) {
    reader.refuse('MQTT_KEEPALIVE_MIN_SECONDS', String(keepaliveMinSeconds), 'at most MQTT_KEEPALIVE_MAX_SECONDS', `is above MQTT_KEEPALIVE_MAX_SECONDS (${keepaliveMaxSeconds})`);
  }
  const limits: MqttLimits = Object.freeze({
    maxPacketBytes: reader.integer('MQTT_MAX_PACKET_BYTES', d.maxPacketBytes, 1024, 268_435_455, 'an integer of bytes 1024..268435455'),
    maxConnections: reader.integer('MQTT_MAX_CONNECTIONS', d.maxConnections, 1, 1_000_000),
    maxClientIdLength: reader.integer('MQTT_MAX_CLIENT_ID_LENGTH', d.maxClientIdLength, 23, 65535, 'an integer 23..65535 (MQTT 3.1.1 requires at least 23)'),
    connectTimeoutMs: reader.integer('MQTT_CONNECT_TIMEOUT_SECONDS', d.connectTimeoutSeconds, 1, 3600) * 1000,
    keepaliveMinSeconds,
    keepaliveMaxSeconds,
    maxInflightQos2: reader.integer('MQTT_MAX_INFLIGHT_QOS2', d.maxInflightQos2, 1, 65535),
    maxInflightStatuses: reader.integer('MQTT_MAX_INFLIGHT_STATUSES', d.maxInflightStatuses, 1, 65535),
    maxOutgoingBytes: reader.integer('MQTT_MAX_OUTGOING_BYTES', d.maxOutgoingBytes, 1024, 1 << 30, 'an integer of bytes 1024..1073741824'),
    maxQueuedStatuses: reader.integer('MQTT_MAX_QUEUED_STATUSES', d.maxQueuedStatuses, 0, 1_000_000),
    offlineSessionMs: reader.integer('MQTT_OFFLINE_SESSION_SECONDS', d.offlineSessionSeconds, 0, 30 * 24 * 3600) * 1000,
    maxPendingWrites: reader.integer('MQTT_MAX_PENDING_WRITES', d.maxPendingWrites, 1, 10_000_000),
    clientMaxChannels: reader.integer('MQTT_CLIENT_MAX_CHANNELS', d.clientMaxChannels, 1, 100_000),
    clientMemoryPercent: reader.integer('MQTT_CLIENT_MEMORY_PERCENT', d.clientMemoryPercent, 1, 100, 'an integer percent 1..100'),
    clientDiskPercent: reader.integer('MQTT_CLIENT_DISK_PERCENT', d.clientDiskPercent, 1, 100, 'an integer percent 1..100'),
  });
  return Object.freeze({
    host,
    port,
    tls,
    auth: Object.freeze({ clientCaFile, credentialsFile }),
    defaultChannelTopics: Object.freeze(defaultChannelTopics),
    statusObservers: Object.freeze(statusObservers),
    limits,
  });
}

export function parseEdgeConfig(env: Env): EdgeConfigResult {
  const reader = new EnvReader(env);
  const connectorValues = pickConnectorValues(env);
  const connector = parseConnectorConfig(connectorValues);
  const issues: ConfigIssue[] = connector.ok ? [] : [...connector.issues];

  const sink = reader.oneOf<SinkKind>('SINK', ['iothub', 'iotanalytics'], DEFAULTS.sink);
  const mqtt = parseMqttConfig(reader, env);

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
    mqtt,
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
