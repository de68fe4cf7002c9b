/**
 * `npm run storage`: Azurite Blob alone, state under `.devstack/azurite/`, key `storage` merged into
 * `.devstack/connections.json`. Flags: `--host`, `--port` (env `STORAGE_HOST`, `STORAGE_PORT`; default
 * 127.0.0.1 and 10000, 0 = any free port).
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { devstackDir, mergeConnection } from '@iot-ingest/contracts';
import { parsePort, runMain, stopOnSignals } from '../foreground.js';
import { startStorage } from './index.js';

const log = pino({ name: 'iot-ingest:devstack:storage' });

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: { host: { type: 'string' }, port: { type: 'string' } },
    strict: true,
  });
  const host = values.host ?? process.env.STORAGE_HOST ?? '127.0.0.1';
  const port = parsePort(values.port ?? process.env.STORAGE_PORT ?? '10000', values.port ? '--port' : 'STORAGE_PORT');
  const dir = devstackDir();
  const storage = await startStorage({ dir, host, port });
  const { connectionString, coldContainer, deadLetterContainer, blobEndpoint } = storage.connection;
  await mergeConnection('storage', { connectionString, coldContainer, deadLetterContainer, blobEndpoint }, dir);
  log.info({ blobEndpoint, coldContainer, deadLetterContainer, stateDir: dir }, 'storage ready');
  process.stdout.write(
    `storage: Azurite Blob on ${blobEndpoint} (containers ${coldContainer}, ${deadLetterContainer})\n`,
  );

  stopOnSignals({ name: 'storage', log, stop: () => storage.stop(), connectionKey: 'storage', dir });
}

runMain('storage', run);
