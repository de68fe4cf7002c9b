/**
 * `npm run hub`: the IoT Hub emulator alone in the foreground. State under `<devstack>/iothub/`, key
 * `iotHub` merged into `<devstack>/connections.json`, removed again on a clean stop.
 *
 * Flags (env): `--mqtt-port` (IOTHUB_MQTT_PORT, default 8883), `--amqp-port` (IOTHUB_AMQP_PORT, default
 * 5672), `--amqps-port` (IOTHUB_AMQPS_PORT, default 5671: AMQP over TLS with the devstack CA), `--host`
 * (IOTHUB_HOST, default 127.0.0.1), `--partitions` (IOTHUB_PARTITIONS, default 4), `--dir`
 * (IOT_INGEST_DEVSTACK_DIR, default .devstack). Port 0 = a free port. Keys are never printed.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { devstackDir, mergeConnection } from '@iot-ingest/contracts';
import { DEFAULTS, startIotHub } from './emulator.js';

const log = pino({ name: 'iot-ingest:devstack:iothub' });

function parseInteger(raw: string, setting: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new Error(`${setting}: '${raw}' must be an integer from ${min} to ${max}`);
  }
  return Number(raw);
}

function setting(flag: string | undefined, flagName: string, env: string, fallback: string): [string, string] {
  if (flag !== undefined) return [flag, flagName];
  const fromEnv = process.env[env];
  return fromEnv !== undefined ? [fromEnv, env] : [fallback, flagName];
}

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'mqtt-port': { type: 'string' },
      'amqp-port': { type: 'string' },
      'amqps-port': { type: 'string' },
      host: { type: 'string' },
      partitions: { type: 'string' },
      dir: { type: 'string' },
    },
    strict: true,
  });
  const mqttPort = parseInteger(
    ...setting(values['mqtt-port'], '--mqtt-port', 'IOTHUB_MQTT_PORT', String(DEFAULTS.mqttPort)),
    0,
    65535,
  );
  const amqpPort = parseInteger(
    ...setting(values['amqp-port'], '--amqp-port', 'IOTHUB_AMQP_PORT', String(DEFAULTS.amqpPort)),
    0,
    65535,
  );
  const amqpsPort = parseInteger(
    ...setting(values['amqps-port'], '--amqps-port', 'IOTHUB_AMQPS_PORT', String(DEFAULTS.amqpsPort)),
    0,
    65535,
  );
  const partitionCount = parseInteger(
    ...setting(values.partitions, '--partitions', 'IOTHUB_PARTITIONS', String(DEFAULTS.partitionCount)),
    1,
    1024,
  );
  const [host] = setting(values.host, '--host', 'IOTHUB_HOST', DEFAULTS.host);
  const dir = values.dir ?? devstackDir();

  const hub = await startIotHub({ dir, host, mqttPort, amqpPort, amqpsPort, partitionCount, logger: log });
  const { connection } = hub;
  await mergeConnection('iotHub', connection, dir);
  const amqpEndpoint = `sb://localhost:${connection.amqpPort}`;
  process.stdout.write(
    [
      `iothub: device MQTT   mqtts://${connection.hostName}:${connection.mqttPort} (CA ${connection.caCertPath})`,
      `iothub: Event Hubs    ${amqpEndpoint}/${connection.eventHubName} (${connection.partitionCount} partitions; connection string in connections.json)`,
      `iothub: Event Hubs    amqps://localhost:${connection.amqpsPort} (TLS, CA ${connection.caCertPath}; connections.json iotHub.amqpsPort)`,
      `iothub: registry      ${connection.registryPath} (iot-ingest devices add <id>)`,
      '',
    ].join('\n'),
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping the IoT Hub emulator');
    hub
      .stop()
      .then(() => mergeConnection('iotHub', undefined, dir))
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, 'the IoT Hub emulator did not stop cleanly');
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

run().catch((err: unknown) => {
  process.stderr.write(`iothub: ${(err as Error).message}\n`);
  process.exit(1);
});
