/**
 * `npm run cosmos`: the Cosmos DB server alone (HTTPS, devstack CA), key `cosmos` merged into
 * `.devstack/connections.json`. Flags: `--host`, `--port`, `--ttl-seconds` (env `COSMOS_HOST`,
 * `COSMOS_PORT`, `COSMOS_DEFAULT_TTL_SECONDS`; default 127.0.0.1, 8081, 30 days). Data is in memory
 * only: a restart starts empty.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { devstackDir, mergeConnection } from '@iot-ingest/contracts';
import { runMain, stopOnSignals } from '../foreground.js';
import { DEFAULT_TTL_SECONDS, startCosmos } from './index.js';

const log = pino({ name: 'iot-ingest:devstack:cosmos' });

function parseIntSetting(raw: string, setting: string, max: number): number {
  if (!/^-?[0-9]+$/.test(raw) || Number(raw) > max) throw new Error(`${setting}: '${raw}' is not a valid number`);
  return Number(raw);
}

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: { host: { type: 'string' }, port: { type: 'string' }, 'ttl-seconds': { type: 'string' } },
    strict: true,
  });
  const host = values.host ?? process.env.COSMOS_HOST ?? '127.0.0.1';
  const port = parseIntSetting(
    values.port ?? process.env.COSMOS_PORT ?? '8081',
    values.port ? '--port' : 'COSMOS_PORT',
    65535,
  );
  const ttlRaw = values['ttl-seconds'] ?? process.env.COSMOS_DEFAULT_TTL_SECONDS ?? String(DEFAULT_TTL_SECONDS);
  const defaultTtlSeconds = parseIntSetting(
    ttlRaw,
    values['ttl-seconds'] ? '--ttl-seconds' : 'COSMOS_DEFAULT_TTL_SECONDS',
    Number.MAX_SAFE_INTEGER,
  );
  const dir = devstackDir();
  const cosmos = await startCosmos({ dir, host, port, defaultTtlSeconds });
  const { endpoint, key, database, container, caCertPath } = cosmos.connection;
  await mergeConnection('cosmos', { endpoint, key, database, container, caCertPath }, dir);
  log.info({ endpoint, database, container, caCertPath, defaultTtlSeconds }, 'cosmos ready');
  process.stdout.write(`cosmos: Cosmos DB server on ${endpoint} (${database}/${container}, CA ${caCertPath})\n`);

  stopOnSignals({ name: 'cosmos', log, stop: () => cosmos.stop(), connectionKey: 'cosmos', dir });
}

runMain('cosmos', run);
