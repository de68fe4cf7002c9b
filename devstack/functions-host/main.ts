/**
 * `npm run functions`: the local Functions host. Endpoints come from `.devstack/connections.json`
 * (`iotHub`, `storage`, `cosmos`, `iotAnalytics`, written by `npm run hub|storage|cosmos|iotanalytics`)
 * or from app settings in the environment (which win; e.g. `IOTHUB_EVENTS` for a real IoT Hub).
 * Settings are validated before anything starts; SIGINT/SIGTERM stop it cleanly.
 */
import { pino } from 'pino';
import { devstackDir, readConnections } from '@iot-ingest/contracts';
import { runMain, stopOnSignals } from '../foreground.js';
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
  stopOnSignals({
    name: 'functions host',
    log,
    dir,
    stop: async () => {
      clearInterval(status);
      log.info({ counters: host.counters() }, 'functions host counters at stop');
      await host.stop();
    },
  });
}

runMain('functions', run);
