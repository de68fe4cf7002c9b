/**
 * `npm run iotanalytics`: the IoT Analytics emulator alone, channels under `.devstack/iotanalytics/`,
 * key `iotAnalytics` merged into `.devstack/connections.json`.
 * Flags: `--host`, `--port`, `--channels a,b` (env `IOTANALYTICS_HOST`, `IOTANALYTICS_PORT`,
 * `IOTANALYTICS_CHANNELS`; default 127.0.0.1, 8086 and `iot_ingest_default`).
 * Faults from `IOTANALYTICS_FAULT_*` (see faults.ts; `IOTANALYTICS_FAULT_SEED` replays the dice) or later
 * through `POST /_emulator/faults`.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { devstackDir, mergeConnection } from '@iot-ingest/contracts';
import { parsePort, runMain, stopOnSignals } from '../foreground.js';
import { DEFAULT_CHANNEL, faultsFromEnv, startIotAnalyticsEmulator } from './index.js';

const log = pino({ name: 'iot-ingest:devstack:iotanalytics' });

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: { host: { type: 'string' }, port: { type: 'string' }, channels: { type: 'string' } },
    strict: true,
  });
  const host = values.host ?? process.env.IOTANALYTICS_HOST ?? '127.0.0.1';
  const port = parsePort(
    values.port ?? process.env.IOTANALYTICS_PORT ?? '8086',
    values.port ? '--port' : 'IOTANALYTICS_PORT',
  );
  const channels = (values.channels ?? process.env.IOTANALYTICS_CHANNELS ?? DEFAULT_CHANNEL)
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const faults = faultsFromEnv();
  const seedRaw = process.env.IOTANALYTICS_FAULT_SEED;
  if (seedRaw !== undefined && !/^[0-9]+$/.test(seedRaw)) {
    throw new Error(`IOTANALYTICS_FAULT_SEED: '${seedRaw}' must be a non-negative integer`);
  }
  const faultSeed = seedRaw === undefined ? undefined : Number(seedRaw);
  const dir = devstackDir();
  const emulator = await startIotAnalyticsEmulator({
    dir,
    host,
    port,
    channels,
    faults,
    ...(faultSeed === undefined ? {} : { faultSeed }),
  });
  const { endpoint, region } = emulator.connection;
  await mergeConnection('iotAnalytics', { endpoint, region }, dir);
  log.info({ endpoint, region, channels, faults }, 'iotanalytics ready');
  process.stdout.write(`iotanalytics: IoT Analytics emulator on ${endpoint} (channels ${channels.join(', ')})\n`);

  stopOnSignals({ name: 'iotanalytics', log, stop: () => emulator.stop(), connectionKey: 'iotAnalytics', dir });
}

runMain('iotanalytics', run);
