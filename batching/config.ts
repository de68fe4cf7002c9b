/**
 * The connector's parameters: same names, string values, defaults and validation patterns as the AWS IoT
 * Greengrass v1 IoT Analytics connector (version 4), parsed into a typed, frozen configuration.
 *
 * Deliberate differences from the manual, each because the manual's rule is wrong or unenforceable:
 * - `IotAnalyticsDefaultChannelName`: the manual's `^[a-zA-Z0-9_]$` allows one character only (a typo);
 *   we use IoT Analytics' real channel rule: `^[a-zA-Z0-9_]+$`, 1–128 characters, not starting with `__`.
 * - `PublishRegion`: the manual's second alternative is unanchored; we require a whole-value match.
 * - `IotAnalyticsBatchSizePerChannel` above 100 is refused: BatchPutMessage takes at most 100 messages.
 * - numbers beyond 2^53 are refused (they cannot be represented exactly).
 * - `IsolationMode` is accepted for compatibility and has no effect here.
 *
 * One parameter of our own, because the manual leaves retries unbounded ("retried in the next batch"):
 * - `RetryTimeoutSeconds` (default 7200, edgeHub's store-and-forward default): a message whose retryable
 *   failures go on this long after it was accepted fails with the last error instead of being retried.
 */

/**
 * What happens when a channel's queue (or the memory budget) is full.
 * - `DROP_NEWEST` keeps what is queued and refuses the incoming message (no reordering; newest data lost).
 * - `DROP_OLDEST` evicts the oldest queued messages of that channel to make room (freshest data kept).
 * Either way every dropped message gets a `fail` status.
 */
export type DropBehavior = 'DROP_NEWEST' | 'DROP_OLDEST';
export type IsolationMode = 'GreengrassContainer' | 'NoContainer';

export interface ConnectorConfig {
  /** `MemorySize` (KB) × 1024: hard budget for queued and in-flight payload bytes across all channels. */
  readonly memorySizeBytes: number;
  /** `PublishRegion`; empty means the sink's own default region. */
  readonly publishRegion: string;
  /** `PublishInterval` (seconds) × 1000; 0 publishes as soon as a channel can send. */
  readonly publishIntervalMs: number;
  /** `IotAnalyticsMaxActiveChannels`: live channel queues at once. */
  readonly maxActiveChannels: number;
  /** `IotAnalyticsQueueDropBehavior`. */
  readonly dropBehavior: DropBehavior;
  /** `IotAnalyticsQueueSizePerChannel`: messages held per channel (queued plus in flight). */
  readonly queueSizePerChannel: number;
  /** `IotAnalyticsBatchSizePerChannel`: messages per outgoing batch, 1–100. */
  readonly batchSizePerChannel: number;
  /** `IotAnalyticsDefaultChannelName`; undefined when not configured. */
  readonly defaultChannelName: string | undefined;
  /** `IsolationMode`: accepted for compatibility, no effect. */
  readonly isolationMode: IsolationMode;
  /** `RetryTimeoutSeconds` × 1000: how long after acceptance retryable failures are retried. */
  readonly retryTimeoutMs: number;
}

/** BatchPutMessage limits (connector manual "Limits"). */
export const MAX_MESSAGE_BYTES = 128 * 1024;
export const MAX_BATCH_MESSAGES = 100;
export const MAX_MESSAGE_ID_LENGTH = 128;

export const CONNECTOR_PARAMETERS = [
  'MemorySize',
  'PublishRegion',
  'PublishInterval',
  'IotAnalyticsMaxActiveChannels',
  'IotAnalyticsQueueDropBehavior',
  'IotAnalyticsQueueSizePerChannel',
  'IotAnalyticsBatchSizePerChannel',
  'IotAnalyticsDefaultChannelName',
  'IsolationMode',
  'RetryTimeoutSeconds',
] as const;
export type ConnectorParameter = (typeof CONNECTOR_PARAMETERS)[number];

/** The connector's defaults, as the strings a user would write. `MemorySize` has none: it is required. */
export const CONNECTOR_DEFAULTS: Readonly<Partial<Record<ConnectorParameter, string>>> = Object.freeze({
  PublishRegion: '',
  PublishInterval: '1',
  IotAnalyticsMaxActiveChannels: '50',
  IotAnalyticsQueueDropBehavior: 'DROP_NEWEST',
  IotAnalyticsQueueSizePerChannel: '2048',
  IotAnalyticsBatchSizePerChannel: '5',
  IsolationMode: 'GreengrassContainer',
  RetryTimeoutSeconds: '7200',
});

/** The validation rule of each parameter, as shown in error messages. */
export const CONNECTOR_RULES: Readonly<Record<ConnectorParameter, string>> = Object.freeze({
  MemorySize: '^[0-9]+$ (required, KB)',
  PublishRegion: '^$|^[a-z]{2}-[a-z]+-\\d{1}$',
  PublishInterval: '^$|^[0-9]+$ (seconds)',
  IotAnalyticsMaxActiveChannels: '^$|^[1-9][0-9]*$',
  IotAnalyticsQueueDropBehavior: '^DROP_NEWEST$|^DROP_OLDEST$',
  IotAnalyticsQueueSizePerChannel: '^$|^[1-9][0-9]*$',
  IotAnalyticsBatchSizePerChannel: '^$|^[1-9][0-9]*$, at most 100',
  IotAnalyticsDefaultChannelName: '^[a-zA-Z0-9_]+$, 1-128 characters, not starting with __',
  IsolationMode: '^NoContainer$|^GreengrassContainer$',
  RetryTimeoutSeconds: '^$|^[1-9][0-9]*$ (seconds)',
});

// [IoT Analytics API: channelName (^(?!_{2}))(^[a-zA-Z0-9_]+$), 1-128]
const CHANNEL_NAME = /^(?!__)[a-zA-Z0-9_]{1,128}$/;

export function isValidChannelName(name: string): boolean {
  return CHANNEL_NAME.test(name);
}

/** [IoT Analytics API: Message.messageId, 1-128 characters] (characters, not UTF-16 units). */
export function isValidMessageId(id: string): boolean {
  if (id.length === 0) return false;
  if (id.length <= MAX_MESSAGE_ID_LENGTH) return true;
  if (id.length > 2 * MAX_MESSAGE_ID_LENGTH) return false;
  let characters = 0;
  for (const _ of id) if (++characters > MAX_MESSAGE_ID_LENGTH) return false;
  return true;
}

export interface ConfigIssue {
  readonly parameter: string;
  readonly value: string | undefined;
  readonly rule: string;
  readonly message: string;
}

export type ParseResult<T> =
  { readonly ok: true; readonly config: T } | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`invalid configuration: ${issues.map((i) => i.message).join('; ')}`);
    this.name = 'ConfigError';
  }
}

type Values = Readonly<Record<string, string | undefined>>;

/**
 * Parse the connector's parameters from string values (environment variables, twin properties).
 * Every bad value is reported, not only the first.
 */
export function parseConnectorConfig(values: Values): ParseResult<ConnectorConfig> {
  const issues: ConfigIssue[] = [];
  const reader = new ParameterReader(values, issues);

  const memoryKb = reader.integer('MemorySize', /^[0-9]+$/, { required: true });
  const publishRegion = reader.string('PublishRegion', /^$|^[a-z]{2}-[a-z]+-\d$/);
  const publishIntervalSeconds = reader.integer('PublishInterval', /^$|^[0-9]+$/);
  const maxActiveChannels = reader.integer('IotAnalyticsMaxActiveChannels', /^$|^[1-9][0-9]*$/);
  const dropBehavior = reader.string('IotAnalyticsQueueDropBehavior', /^DROP_NEWEST$|^DROP_OLDEST$/) as DropBehavior;
  const queueSize = reader.integer('IotAnalyticsQueueSizePerChannel', /^$|^[1-9][0-9]*$/);
  const batchSize = reader.integer('IotAnalyticsBatchSizePerChannel', /^$|^[1-9][0-9]*$/, {
    max: MAX_BATCH_MESSAGES,
    maxReason: 'BatchPutMessage takes at most 100 messages',
  });
  const defaultChannel = reader.optional('IotAnalyticsDefaultChannelName', CHANNEL_NAME);
  const isolationMode = reader.string('IsolationMode', /^NoContainer$|^GreengrassContainer$/) as IsolationMode;
  const retryTimeoutSeconds = reader.integer('RetryTimeoutSeconds', /^$|^[1-9][0-9]*$/);

  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    config: Object.freeze({
      memorySizeBytes: memoryKb * 1024,
      publishRegion,
      publishIntervalMs: publishIntervalSeconds * 1000,
      maxActiveChannels,
      dropBehavior,
      queueSizePerChannel: queueSize,
      batchSizePerChannel: batchSize,
      defaultChannelName: defaultChannel,
      isolationMode,
      retryTimeoutMs: retryTimeoutSeconds * 1000,
    }),
  };
}

/** Like parseConnectorConfig, but throws a ConfigError naming every bad parameter. */
export function loadConnectorConfig(values: Values): ConnectorConfig {
  const result = parseConnectorConfig(values);
  if (!result.ok) throw new ConfigError(result.issues);
  return result.config;
}

/** Reads one parameter at a time, recording issues instead of throwing so all are reported together. */
class ParameterReader {
  constructor(
    private readonly values: Values,
    private readonly issues: ConfigIssue[],
  ) {}

  /** The raw value, or the default when the parameter is absent (undefined). */
  private raw(name: ConnectorParameter): string | undefined {
    const value = this.values[name];
    return value === undefined ? CONNECTOR_DEFAULTS[name] : value;
  }

  private refuse(name: ConnectorParameter, value: string | undefined, why?: string): void {
    const rule = CONNECTOR_RULES[name];
    const shown = value === undefined ? 'missing' : `'${value}'`;
    const message = why ? `${name}: ${shown} ${why}` : `${name}: ${shown} does not match ${rule}`;
    this.issues.push({ parameter: name, value, rule, message });
  }

  string(name: ConnectorParameter, pattern: RegExp): string {
    const value = this.raw(name) ?? '';
    if (!pattern.test(value)) this.refuse(name, value);
    return value;
  }

  optional(name: ConnectorParameter, pattern: RegExp): string | undefined {
    const value = this.raw(name);
    if (value === undefined || value === '') return undefined;
    if (!pattern.test(value)) this.refuse(name, value);
    return value;
  }

  integer(
    name: ConnectorParameter,
    pattern: RegExp,
    options: { required?: boolean; max?: number; maxReason?: string } = {},
  ): number {
    let value = this.raw(name);
    if (value === undefined) {
      if (options.required) this.refuse(name, value, 'is required');
      return 0;
    }
    // An empty value means "use the default" where the pattern allows `^$`.
    if (value === '' && pattern.test('')) value = CONNECTOR_DEFAULTS[name] ?? '';
    if (!pattern.test(value) || value === '') {
      this.refuse(name, value);
      return 0;
    }
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed)) {
      this.refuse(name, value, 'is too large');
      return 0;
    }
    if (options.max !== undefined && parsed > options.max) {
      this.refuse(name, value, `is above ${options.max} (${options.maxReason})`);
      return 0;
    }
    return parsed;
  }
}
