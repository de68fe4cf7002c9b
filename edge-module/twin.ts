/**
 * Module twin: desired properties with the connector's parameter names change the live configuration;
 * reported properties show every parameter in force and, under `refused`, each desired value that was
 * refused with its reason (the old value stays in force).
 */
import { CONNECTOR_DEFAULTS, CONNECTOR_PARAMETERS } from '@iot-ingest/batching';
import type { ConnectorConfig, ConnectorParameter } from '@iot-ingest/batching';
import { applyDesired } from './config.js';
import type { EdgeEvents } from './events.js';

export interface TwinLike {
  on(event: 'properties.desired', listener: (desired: Record<string, unknown>) => void): unknown;
  properties: { reported: { update(patch: Record<string, unknown>, done: (err?: Error) => void): void } };
}

type Values = Readonly<Partial<Record<ConnectorParameter, string>>>;

export interface TwinBinding {
  /** Apply a desired document (exported for tests without a hub). Returns the reported patch. */
  apply(desired: Record<string, unknown>): Record<string, unknown>;
}

export function reportedFor(values: Values): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of CONNECTOR_PARAMETERS) {
    const v = values[name] ?? CONNECTOR_DEFAULTS[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function bindTwin(options: {
  readonly base: Values;
  readonly reconfigure: (config: ConnectorConfig) => void;
  readonly events: EdgeEvents;
  readonly report: (patch: Record<string, unknown>) => Promise<void>;
}): TwinBinding {
  let current: Values = options.base;
  let refusedBefore = new Set<string>();
  return {
    apply(desired) {
      const result = applyDesired(current, options.base, desired);
      const refusedNow = Object.keys(result.refused);
      const refused: Record<string, unknown> = {};
      for (const name of refusedBefore) if (!refusedNow.includes(name)) refused[name] = null;
      for (const [name, r] of Object.entries(result.refused)) refused[name] = r;
      refusedBefore = new Set(refusedNow);
      if (refusedNow.length > 0) {
        options.events.configRefused(Object.entries(result.refused).map(([parameter, r]) => ({ parameter, reason: r?.reason ?? '' })));
      }
      const changed = CONNECTOR_PARAMETERS.some((n) => result.values[n] !== current[n]);
      current = result.values;
      if (changed) {
        options.reconfigure(result.config);
        options.events.configApplied(reportedFor(current));
      }
      const patch = { ...reportedFor(current), refused: Object.keys(refused).length > 0 ? refused : null };
      void options.report(patch).catch((err: unknown) =>
        options.events.log.warn({ error: (err as Error).message }, 'reporting twin properties failed'),
      );
      return patch;
    },
  };
}

export function attachTwin(twin: TwinLike, binding: TwinBinding): void {
  twin.on('properties.desired', (desired) => {
    binding.apply(desired);
  });
}
