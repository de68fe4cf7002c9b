/**
 * Fault injection for BatchPutMessage, so tests can drive the clients' retry and dead-letter paths.
 * Rates are probabilities per request in [0, 1]; a throttled or failed request stores nothing.
 */
export interface Faults {
  /** Share of BatchPutMessage calls answered 429 ThrottlingException. */
  throttleRate?: number;
  /** Share of BatchPutMessage calls answered with a server error. */
  serverErrorRate?: number;
  /** Which server error: 500 InternalFailureException (default) or 503 ServiceUnavailableException. */
  serverErrorStatus?: 500 | 503;
  /** Delay added before every BatchPutMessage answer. */
  latencyMs?: number;
  /** Channels that answer 404 ResourceNotFoundException to BatchPutMessage even when they exist. */
  missingChannels?: string[];
}

function rate(value: unknown, setting: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new Error(`${setting}: '${String(value)}' must be a number from 0 to 1`);
  return n;
}

/** Validates a faults object (from JSON or code); throws an Error naming the bad field. */
export function parseFaults(input: unknown, prefix = 'faults.'): Faults {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error(`${prefix.replace(/\.$/, '')}: must be a JSON object`);
  }
  const raw = input as Record<string, unknown>;
  const known = ['throttleRate', 'serverErrorRate', 'serverErrorStatus', 'latencyMs', 'missingChannels'];
  for (const key of Object.keys(raw)) if (!known.includes(key)) throw new Error(`${prefix}${key}: unknown fault`);
  const faults: Faults = {};
  const throttleRate = rate(raw.throttleRate, `${prefix}throttleRate`);
  if (throttleRate !== undefined) faults.throttleRate = throttleRate;
  const serverErrorRate = rate(raw.serverErrorRate, `${prefix}serverErrorRate`);
  if (serverErrorRate !== undefined) faults.serverErrorRate = serverErrorRate;
  if (raw.serverErrorStatus !== undefined) {
    const status = Number(raw.serverErrorStatus);
    if (status !== 500 && status !== 503) {
      throw new Error(`${prefix}serverErrorStatus: '${String(raw.serverErrorStatus)}' must be 500 or 503`);
    }
    faults.serverErrorStatus = status;
  }
  if (raw.latencyMs !== undefined) {
    const ms = Number(raw.latencyMs);
    if (!Number.isInteger(ms) || ms < 0)
      throw new Error(`${prefix}latencyMs: '${String(raw.latencyMs)}' must be an integer >= 0`);
    faults.latencyMs = ms;
  }
  if (raw.missingChannels !== undefined) {
    if (!Array.isArray(raw.missingChannels) || !raw.missingChannels.every((c) => typeof c === 'string')) {
      throw new Error(`${prefix}missingChannels: must be a list of channel names`);
    }
    faults.missingChannels = [...(raw.missingChannels as string[])];
  }
  return faults;
}

/**
 * Faults from the environment: `IOTANALYTICS_FAULT_THROTTLE_RATE`, `IOTANALYTICS_FAULT_5XX_RATE`,
 * `IOTANALYTICS_FAULT_5XX_STATUS`, `IOTANALYTICS_FAULT_LATENCY_MS`, `IOTANALYTICS_FAULT_MISSING_CHANNELS`
 * (comma-separated).
 */
export function faultsFromEnv(env: NodeJS.ProcessEnv = process.env): Faults {
  const raw: Record<string, unknown> = {};
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') raw[key] = value;
  };
  set('throttleRate', env.IOTANALYTICS_FAULT_THROTTLE_RATE);
  set('serverErrorRate', env.IOTANALYTICS_FAULT_5XX_RATE);
  set('serverErrorStatus', env.IOTANALYTICS_FAULT_5XX_STATUS);
  set('latencyMs', env.IOTANALYTICS_FAULT_LATENCY_MS);
  if (env.IOTANALYTICS_FAULT_MISSING_CHANNELS) {
    raw.missingChannels = env.IOTANALYTICS_FAULT_MISSING_CHANNELS.split(',')
      .map((c) => c.trim())
      .filter(Boolean);
  }
  try {
    return parseFaults(raw);
  } catch (err) {
    const names: Record<string, string> = {
      throttleRate: 'IOTANALYTICS_FAULT_THROTTLE_RATE',
      serverErrorRate: 'IOTANALYTICS_FAULT_5XX_RATE',
      serverErrorStatus: 'IOTANALYTICS_FAULT_5XX_STATUS',
      latencyMs: 'IOTANALYTICS_FAULT_LATENCY_MS',
    };
    const message = (err as Error).message.replace(/^faults\.(\w+)/, (_m, key: string) => names[key] ?? key);
    throw new Error(message, { cause: err });
  }
}

export type FaultDecision =
  { kind: 'none' } | { kind: 'throttle' } | { kind: 'serverError'; status: 500 | 503 } | { kind: 'missingChannel' };

/** Which fault (if any) hits this call; `random` is injected so the rule is testable. */
export function decideFault(faults: Faults, channelName: string, random: () => number = Math.random): FaultDecision {
  if (faults.missingChannels?.includes(channelName)) return { kind: 'missingChannel' };
  if (faults.throttleRate && random() < faults.throttleRate) return { kind: 'throttle' };
  if (faults.serverErrorRate && random() < faults.serverErrorRate) {
    return { kind: 'serverError', status: faults.serverErrorStatus ?? 500 };
  }
  return { kind: 'none' };
}
