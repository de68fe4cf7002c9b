/**
 * The parts of `host.json` the local host honours: the Event Hubs batch and checkpoint settings. Pure
 * parsing; errors name the setting.
 */
export interface EventHubsHostSettings {
  /** Upper bound of `messages.length` per invocation. */
  readonly maxEventBatchSize: number;
  /** Events to wait for before invoking (a partial batch goes after `maxWaitTime`). */
  readonly minEventBatchSize: number;
  /** How long the oldest held event may wait for its batch to fill. */
  readonly maxWaitTimeMs: number;
  /** Batches per checkpoint. */
  readonly batchCheckpointFrequency: number;
  readonly prefetchCount: number;
  /** Where to start without a checkpoint. */
  readonly initialOffset: 'fromStart' | 'fromEnd';
}

export const HOST_DEFAULTS: EventHubsHostSettings = Object.freeze({
  maxEventBatchSize: 100,
  minEventBatchSize: 1,
  maxWaitTimeMs: 60_000,
  batchCheckpointFrequency: 1,
  prefetchCount: 300,
  initialOffset: 'fromStart',
});

/** `hh:mm:ss[.fff]` (a .NET TimeSpan as host.json writes it) → ms. */
export function timeSpanToMs(value: string, setting: string): number {
  const match = /^(\d+):(\d{2}):(\d{2})(\.\d+)?$/.exec(value);
  if (!match) throw new Error(`host.json ${setting}: '${value}' is not a time span (hh:mm:ss[.fff])`);
  const [, h, m, s, fraction] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Math.round(Number(fraction ?? 0) * 1000);
}

/** The extension's own upper bound on maxWaitTime. */
export const MAX_WAIT_TIME_MS = 10 * 60_000;

export function parseHostJson(json: unknown): EventHubsHostSettings {
  const root = (json ?? {}) as { version?: unknown; extensions?: { eventHubs?: Record<string, unknown> } };
  if (root.version !== '2.0') throw new Error(`host.json version: '${String(root.version)}' is not '2.0'`);
  const hubs = root.extensions?.eventHubs ?? {};
  const positive = (name: string, fallback: number): number => {
    const value = hubs[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new Error(`host.json extensions.eventHubs.${name}: ${JSON.stringify(value)} is not a positive integer`);
    }
    return value;
  };
  const wait = hubs.maxWaitTime;
  const offset = (hubs.initialOffsetOptions as { type?: unknown } | undefined)?.type ?? HOST_DEFAULTS.initialOffset;
  if (offset !== 'fromStart' && offset !== 'fromEnd') {
    throw new Error(`host.json extensions.eventHubs.initialOffsetOptions.type: '${String(offset)}' is not fromStart or fromEnd (fromEnqueuedTime is not supported locally)`);
  }
  const settings: EventHubsHostSettings = {
    maxEventBatchSize: positive('maxEventBatchSize', HOST_DEFAULTS.maxEventBatchSize),
    minEventBatchSize: positive('minEventBatchSize', HOST_DEFAULTS.minEventBatchSize),
    maxWaitTimeMs: typeof wait === 'string' ? timeSpanToMs(wait, 'extensions.eventHubs.maxWaitTime') : HOST_DEFAULTS.maxWaitTimeMs,
    batchCheckpointFrequency: positive('batchCheckpointFrequency', HOST_DEFAULTS.batchCheckpointFrequency),
    prefetchCount: positive('prefetchCount', HOST_DEFAULTS.prefetchCount),
    initialOffset: offset,
  };
  validateHostSettings(settings);
  return settings;
}

/** The rules the extension enforces between the settings (also applied to a test's overrides). */
export function validateHostSettings(settings: EventHubsHostSettings): void {
  if (settings.minEventBatchSize > settings.maxEventBatchSize) {
    throw new Error(
      `host.json extensions.eventHubs.minEventBatchSize: ${settings.minEventBatchSize} is larger than maxEventBatchSize (${settings.maxEventBatchSize})`,
    );
  }
  if (settings.maxWaitTimeMs > MAX_WAIT_TIME_MS || settings.maxWaitTimeMs <= 0) {
    throw new Error(`host.json extensions.eventHubs.maxWaitTime: ${settings.maxWaitTimeMs} ms is not above 0 and at most 00:10:00`);
  }
}
