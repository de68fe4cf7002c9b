/** Shared fixtures for the batching tests: a config from connector strings, a deterministic engine. */
import { BatchingEngine } from '../../../batching/engine.js';
import { loadConnectorConfig } from '../../../batching/config.js';
import type { ConnectorConfig } from '../../../batching/config.js';
import type { StatusReport } from '../../../batching/types.js';

export function config(values: Record<string, string> = {}): ConnectorConfig {
  return loadConnectorConfig({ MemorySize: '1024', PublishInterval: '1', ...values });
}

export function engine(values: Record<string, string> = {}, random = () => 0.5): BatchingEngine {
  let n = 0;
  return new BatchingEngine({ config: config(values), newId: () => `gen-${n++}`, random });
}

export const bytes = (text: string): Uint8Array => Buffer.from(text);

export function fails(statuses: readonly StatusReport[]): Array<{ id: string | undefined; error: string }> {
  return statuses.filter((s) => s.status === 'fail').map((s) => ({ id: s.statusId, error: (s as { error: string }).error }));
}
