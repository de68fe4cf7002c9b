/**
 * `npm run storage`: Azurite Blob alone, state under `.devstack/azurite/`, key `storage` merged into
 * `.devstack/connections.json`. Flags: `--host`, `--port` (env `STORAGE_HOST`, `STORAGE_PORT`; default
 * 127.0.0.1 and 10000, 0 = any free port).
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { devstackDir, mergeConnection } from '../connections.js';
import { startStorage } from './index.js';

const log = pino({ name: 'iot-ingest:devstack:storage' });

function parsePort(raw: string, setting: string): number {
  if (!/^[0-9]+$/.test(raw) || Number(raw) > 65535) throw new Error(`${setting}: '${raw}' is not a port (0–65535)`);
  return Number(raw);
}

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

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping storage');
    storage
      .stop()
      .then(() => mergeConnection('storage', undefined, dir))
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, 'storage did not stop cleanly');
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

run().catch((err: unknown) => {
  process.stderr.write(`storage: ${(err as Error).message}\n`);
  process.exit(1);
});
