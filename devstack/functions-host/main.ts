/**
 * `npm run functions`: the local Functions host. Endpoints come from `.devstack/connections.json`
 * (`iotHub`, `storage`, `cosmos`, `iotAnalytics`, written by `npm run hub|storage|cosmos|iotanalytics`)
 * or from app settings in the environment (which win; e.g. `IOTHUB_EVENTS` for a real IoT Hub).
 * Settings are validated before anything starts; SIGINT/SIGTERM stop it cleanly.
 */
import { pino } from 'pino';
import { devstackDir, readConnections } from '../connections.js';
import { settingsFromConnections } from './settings.js';
import { startFunctionsHost } from './host.js';

const log = pino({ name: 'iot-ingest:functions-host' });

async function run(): Promise<void> {
  const dir = devstackDir();
  const settings = settingsFromConnections(await readConnections(dir), process.env);
  const host = await startFunctionsHost({ settings, ensureResources: true, logger: log });
  process.stdout.write(
    `functions: warmPath, coldPath, analyticsForwarder reading ${host.config.eventHub.eventHubName ?? '?'} (consumer groups warm, cold, analytics)\n`,
  );
  const status = setInterval(() => log.info({ counters: host.counters() }, 'functions host status'), 30_000);
  status.unref();
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(status);
    log.info({ signal, counters: host.counters() }, 'stopping functions host');
    host.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: (err as Error).message }, 'functions host did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

run().catch((err: unknown) => {
  process.stderr.write(`functions: ${(err as Error).message}\n`);
  process.exit(1);
});
