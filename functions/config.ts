/**
 * The Function app's settings (docs/contracts.md §6), parsed and validated once at start into a typed,
 * frozen config. Every bad or missing setting is reported at once, each error naming the setting.
 *
 * Credentials: locally the settings carry a connection string / key; in Azure only endpoints are given
 * and the clients use DefaultAzureCredential (managed identity). Secrets never appear in errors or logs.
 */
import { parseConnectorConfig } from '@iot-ingest/batching';
import type { ConnectorConfig } from '@iot-ingest/batching';
import { parseHotSettings } from './hot/config.js';
import type { HotSettings } from './hot/config.js';

export type Settings = Readonly<Record<string, string | undefined>>;

/** Defaults, in the settings' own units. */
export const DEFAULTS = Object.freeze({
  COSMOS_DATABASE: 'iot-ingest',
  COSMOS_CONTAINER: 'telemetry',
  /** 30 days, seconds. */
  COSMOS_DEFAULT_TTL_SECONDS: String(30 * 24 * 3600),
  COLD_CONTAINER: 'telemetry',
  /** The hourly Parquet copy of the cold store (coldCompactor). */
  COLD_PARQUET_CONTAINER: 'telemetry-parquet',
  /** Minutes after an hour ends before it is compacted to Parquet (room for late events). */
  COLD_COMPACT_GRACE_MINUTES: '10',
  DEADLETTER_CONTAINER: 'analytics-deadletter',
  /** KB. The connector has no default; the forwarder's queues only live for one invocation. */
  MemorySize: '65536',
  /** The forwarder sends as soon as it can: an invocation's batch is already a batch. */
  PublishInterval: '0',
  /** BatchPutMessage's maximum: fewest calls per invocation. */
  IotAnalyticsBatchSizePerChannel: '100',
  /** Seconds the forwarder spends sending one invocation's readings before dead-lettering the rest. */
  ANALYTICS_FORWARD_BUDGET_SECONDS: '120',
  /** The module names this project deploys (the IoT Edge manifest's and the devstack's). */
  EDGE_MODULE_IDS: 'iotIngest,iot-ingest',
});

export interface EventHubSettings {
  /** The trigger's `connection` setting name and what it holds (a connection string, or identity-based). */
  readonly connectionSetting: 'IOTHUB_EVENTS';
  /** Undefined when the connection is identity-based (`IOTHUB_EVENTS__fullyQualifiedNamespace`). */
  readonly connectionString: string | undefined;
  readonly fullyQualifiedNamespace: string | undefined;
  /** `IOTHUB_EVENTHUB_NAME`; the connection string's EntityPath overrides it, as in the real host. */
  readonly eventHubName: string | undefined;
}

export interface CosmosSettings {
  readonly endpoint: string;
  /** `COSMOS_KEY`; undefined → DefaultAzureCredential. */
  readonly key: string | undefined;
  readonly database: string;
  readonly container: string;
  readonly defaultTtlSeconds: number;
  /** `COSMOS_CA_CERT_PATH` (local only): a CA to trust for this one client (the devstack's Cosmos server). */
  readonly caCertPath: string | undefined;
}

export interface StorageSettings {
  /** `COLD_STORAGE_CONNECTION_STRING` (local) … */
  readonly connectionString: string | undefined;
  /** … or `COLD_STORAGE_ACCOUNT_URL` with DefaultAzureCredential. */
  readonly accountUrl: string | undefined;
  readonly coldContainer: string;
  readonly parquetContainer: string;
  readonly deadLetterContainer: string;
  /** `COLD_COMPACT_GRACE_MINUTES` × 60,000. */
  readonly compactGraceMs: number;
}

export interface AnalyticsSettings {
  readonly region: string;
  /** `AWS_ENDPOINT_URL_IOTANALYTICS` (local only). */
  readonly endpoint: string | undefined;
  /** Undefined → the AWS SDK's default chain (never used locally: see validation). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
  readonly connector: ConnectorConfig;
  /** `ANALYTICS_FORWARD_BUDGET_SECONDS` × 1000: keep it below host.json's functionTimeout. */
  readonly forwardBudgetMs: number;
}

/** The module identities trusted when EDGE_MODULE_IDS is not set (for readers outside the Function app). */
export const DEFAULT_TRUSTED_MODULES: readonly string[] = Object.freeze(DEFAULTS.EDGE_MODULE_IDS.split(','));

export interface EdgeSettings {
  /**
   * `EDGE_MODULE_IDS`: the module identities whose batch envelopes are read as envelopes (contracts §4).
   * Only the hub's owner can create a module identity, so naming ours is enough; every other sender's
   * body is one reading. Empty (`-`) trusts none.
   */
  readonly trustedModules: readonly string[];
}

export interface FunctionsConfig {
  readonly edge: EdgeSettings;
  readonly eventHub: EventHubSettings;
  readonly cosmos: CosmosSettings;
  readonly storage: StorageSettings;
  readonly analytics: AnalyticsSettings;
  readonly hot: HotSettings;
}

export interface SettingIssue {
  readonly setting: string;
  readonly message: string;
}

export class FunctionsConfigError extends Error {
  constructor(readonly issues: readonly SettingIssue[]) {
    super(`invalid Function app settings: ${issues.map((i) => i.message).join('; ')}`);
    this.name = 'FunctionsConfigError';
  }
}

/** IoT Hub's module id alphabet (the comma is left out: it separates the list). */
const MODULE_ID = /^[A-Za-z0-9\-:.+%_#*?!()=@$']{1,128}$/;
const CONTAINER_NAME = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;

export function parseFunctionsConfig(
  settings: Settings,
): { ok: true; config: FunctionsConfig } | { ok: false; issues: SettingIssue[] } {
  const issues: SettingIssue[] = [];
  const get = (name: string): string | undefined => {
    const value = settings[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const need = (name: string, why: string): string => {
    const value = get(name);
    if (value === undefined) issues.push({ setting: name, message: `${name} is required (${why})` });
    return value ?? '';
  };
  const url = (name: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('not http(s)');
      return value;
    } catch {
      // The value of an endpoint is not secret; show it so the mistake is visible.
      issues.push({ setting: name, message: `${name} must be an http(s) URL, got '${value}'` });
      return undefined;
    }
  };

  // Event Hubs: the trigger's connection. Identity-based connections use `IOTHUB_EVENTS__fullyQualifiedNamespace`.
  const connectionString = get('IOTHUB_EVENTS');
  const fullyQualifiedNamespace = get('IOTHUB_EVENTS__fullyQualifiedNamespace');
  if (connectionString === undefined && fullyQualifiedNamespace === undefined) {
    issues.push({
      setting: 'IOTHUB_EVENTS',
      message: 'IOTHUB_EVENTS is required (the IoT Hub Event Hub-compatible connection string), or IOTHUB_EVENTS__fullyQualifiedNamespace for a managed identity',
    });
  } else if (connectionString !== undefined && !/(^|;)\s*Endpoint\s*=\s*sb:\/\//i.test(connectionString)) {
    // Never echo the value: it holds a key.
    issues.push({ setting: 'IOTHUB_EVENTS', message: 'IOTHUB_EVENTS is not an Event Hubs connection string (no Endpoint=sb://…)' });
  }
  const entityPath = connectionString?.match(/(?:^|;)\s*EntityPath\s*=\s*([^;]+)/i)?.[1];
  const eventHubName = entityPath ?? get('IOTHUB_EVENTHUB_NAME');
  if (eventHubName === undefined) {
    issues.push({
      setting: 'IOTHUB_EVENTHUB_NAME',
      message: 'IOTHUB_EVENTHUB_NAME is required when IOTHUB_EVENTS has no EntityPath (the Event Hub-compatible name)',
    });
  }

  // Cosmos DB (warm path).
  const cosmosEndpoint = url('COSMOS_ENDPOINT', need('COSMOS_ENDPOINT', 'the warm path writes to Cosmos DB') || undefined);
  const cosmosDatabase = get('COSMOS_DATABASE') ?? DEFAULTS.COSMOS_DATABASE;
  const cosmosContainer = get('COSMOS_CONTAINER') ?? DEFAULTS.COSMOS_CONTAINER;
  const ttlText = get('COSMOS_DEFAULT_TTL_SECONDS') ?? DEFAULTS.COSMOS_DEFAULT_TTL_SECONDS;
  let defaultTtlSeconds = Number(ttlText);
  // -1 = never expire (Cosmos' own meaning); otherwise a positive number of seconds.
  if (!/^(-1|[1-9][0-9]{0,9})$/.test(ttlText)) {
    issues.push({
      setting: 'COSMOS_DEFAULT_TTL_SECONDS',
      message: `COSMOS_DEFAULT_TTL_SECONDS must be a positive whole number of seconds or -1 (never expire), got '${ttlText}'`,
    });
    defaultTtlSeconds = 0;
  }

  // Blob storage (cold path, dead letters).
  const storageConnectionString = get('COLD_STORAGE_CONNECTION_STRING');
  const storageAccountUrl = url('COLD_STORAGE_ACCOUNT_URL', get('COLD_STORAGE_ACCOUNT_URL'));
  if (storageConnectionString === undefined && get('COLD_STORAGE_ACCOUNT_URL') === undefined) {
    issues.push({
      setting: 'COLD_STORAGE_CONNECTION_STRING',
      message: 'COLD_STORAGE_CONNECTION_STRING (local) or COLD_STORAGE_ACCOUNT_URL (managed identity) is required',
    });
  }
  const coldContainer = get('COLD_CONTAINER') ?? DEFAULTS.COLD_CONTAINER;
  const deadLetterContainer = get('DEADLETTER_CONTAINER') ?? DEFAULTS.DEADLETTER_CONTAINER;
  const parquetContainer = get('COLD_PARQUET_CONTAINER') ?? DEFAULTS.COLD_PARQUET_CONTAINER;
  const graceText = get('COLD_COMPACT_GRACE_MINUTES') ?? DEFAULTS.COLD_COMPACT_GRACE_MINUTES;
  if (!/^(0|[1-9][0-9]{0,4})$/.test(graceText)) {
    issues.push({
      setting: 'COLD_COMPACT_GRACE_MINUTES',
      message: `COLD_COMPACT_GRACE_MINUTES must be a whole number of minutes from 0 to 99999, got '${graceText}'`,
    });
  }
  for (const [setting, name] of [
    ['COLD_CONTAINER', coldContainer],
    ['COLD_PARQUET_CONTAINER', parquetContainer],
    ['DEADLETTER_CONTAINER', deadLetterContainer],
  ] as const) {
    if (!CONTAINER_NAME.test(name)) {
      issues.push({ setting, message: `${setting} '${name}' is not a valid blob container name (3–63 of a-z, 0-9, -)` });
    }
  }

  // IoT Analytics (forwarder).
  const region = need('AWS_REGION', 'the IoT Analytics client needs a region');
  const analyticsEndpoint = url('AWS_ENDPOINT_URL_IOTANALYTICS', get('AWS_ENDPOINT_URL_IOTANALYTICS'));
  const accessKeyId = get('AWS_ACCESS_KEY_ID');
  const secretAccessKey = get('AWS_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const missing = accessKeyId === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY';
    issues.push({ setting: missing, message: `${missing} is required together with its pair` });
  } else if (accessKeyId === undefined && get('AWS_ENDPOINT_URL_IOTANALYTICS') !== undefined) {
    // Without explicit credentials the AWS default chain probes the instance-metadata address (not loopback).
    issues.push({
      setting: 'AWS_ACCESS_KEY_ID',
      message: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required with AWS_ENDPOINT_URL_IOTANALYTICS (any values locally)',
    });
  }
  const connectorValues: Record<string, string | undefined> = {
    MemorySize: get('MemorySize') ?? DEFAULTS.MemorySize,
    PublishInterval: get('PublishInterval') ?? DEFAULTS.PublishInterval,
    IotAnalyticsBatchSizePerChannel: get('IotAnalyticsBatchSizePerChannel') ?? DEFAULTS.IotAnalyticsBatchSizePerChannel,
    IotAnalyticsQueueSizePerChannel: get('IotAnalyticsQueueSizePerChannel'),
    IotAnalyticsQueueDropBehavior: get('IotAnalyticsQueueDropBehavior'),
    IotAnalyticsMaxActiveChannels: get('IotAnalyticsMaxActiveChannels'),
    IotAnalyticsDefaultChannelName: get('IotAnalyticsDefaultChannelName'),
  };
  const connector = parseConnectorConfig(connectorValues);
  const budgetText = get('ANALYTICS_FORWARD_BUDGET_SECONDS') ?? DEFAULTS.ANALYTICS_FORWARD_BUDGET_SECONDS;
  if (!/^[1-9][0-9]{0,4}$/.test(budgetText)) {
    issues.push({
      setting: 'ANALYTICS_FORWARD_BUDGET_SECONDS',
      message: `ANALYTICS_FORWARD_BUDGET_SECONDS must be a whole number of seconds from 1 to 99999, got '${budgetText}'`,
    });
  }
  if (!connector.ok) {
    for (const issue of connector.issues) issues.push({ setting: issue.parameter, message: issue.message });
  }

  // Hot path (functions/hot/config.ts).
  const hot = parseHotSettings(get);
  issues.push(...hot.issues);

  // Edge envelopes: which module identities are ours.
  const moduleIdsText = get('EDGE_MODULE_IDS') ?? DEFAULTS.EDGE_MODULE_IDS;
  const trustedModules = moduleIdsText === '-' ? [] : moduleIdsText.split(',').map((id) => id.trim()).filter((id) => id !== '');
  const badModuleId = trustedModules.find((id) => !MODULE_ID.test(id));
  if (badModuleId !== undefined || (trustedModules.length === 0 && moduleIdsText !== '-')) {
    issues.push({
      setting: 'EDGE_MODULE_IDS',
      message: `EDGE_MODULE_IDS must be a comma-separated list of IoT Hub module ids (1-128 of a-z A-Z 0-9 - : . + % _ # * ? ! ( ) , = @ $ '), or '-' for none; got '${moduleIdsText.slice(0, 200)}'`,
    });
  }

  if (issues.length > 0 || !connector.ok) return { ok: false, issues };
  return {
    ok: true,
    config: deepFreeze({
      edge: { trustedModules },
      eventHub: { connectionSetting: 'IOTHUB_EVENTS', connectionString, fullyQualifiedNamespace, eventHubName },
      cosmos: {
        endpoint: cosmosEndpoint as string,
        key: get('COSMOS_KEY'),
        database: cosmosDatabase,
        container: cosmosContainer,
        defaultTtlSeconds,
        caCertPath: get('COSMOS_CA_CERT_PATH'),
      },
      storage: {
        connectionString: storageConnectionString,
        accountUrl: storageConnectionString === undefined ? storageAccountUrl : undefined,
        coldContainer,
        parquetContainer,
        deadLetterContainer,
        compactGraceMs: Number(graceText) * 60_000,
      },
      analytics: {
        region,
        endpoint: analyticsEndpoint,
        credentials: accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey } : undefined,
        connector: connector.config,
        forwardBudgetMs: Number(budgetText) * 1000,
      },
      hot: hot.settings,
    }),
  };
}

/** Like parseFunctionsConfig, but throws a FunctionsConfigError naming every bad setting. */
export function loadFunctionsConfig(settings: Settings): FunctionsConfig {
  const result = parseFunctionsConfig(settings);
  if (!result.ok) throw new FunctionsConfigError(result.issues);
  return result.config;
}

let cached: FunctionsConfig | undefined;

/** The worker's config from `process.env` (app settings), parsed once. */
export function workerConfig(): FunctionsConfig {
  cached ??= loadFunctionsConfig(process.env);
  return cached;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
