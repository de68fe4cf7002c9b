/**
 * `npm run edge`: the edge module against the running hub emulator (`npm run hub` first). Settings come
 * from the environment like in IoT Edge (e.g. `IotAnalyticsBatchSizePerChannel=20 npm run edge`);
 * `EDGE_DEVICE_ID`, `EDGE_MODULE_ID`, `EDGE_PERSISTENCE=0` pick the identity and turn off store and forward.
 */
import { devstackDir, mergeConnection, readConnections } from '@iot-ingest/contracts';
import { CONNECTOR_PARAMETERS } from '@iot-ingest/batching';
import { startEdge } from './index.js';

// Every listener setting is MQTT_* (edge-module/README.md), so those pass through by prefix.
const MODULE_SETTINGS = [
  'SINK', 'PERSISTENCE_DIR', 'PERSISTENCE_MAX_BYTES', 'PERSISTENCE_TTL_SECONDS', 'METRICS_PORT', 'METRICS_HOST', 'SHUTDOWN_DEADLINE_SECONDS',
  'LOG_LEVEL', 'HUB_ENVELOPE_TARGET_BYTES', 'AWS_REGION', 'AWS_ENDPOINT_URL_IOTANALYTICS',
];

async function main(): Promise<void> {
  const dir = devstackDir();
  const connections = await readConnections(dir);
  const hub = connections.iotHub;
  if (!hub) throw new Error(`no iotHub in ${dir}/connections.json: start the hub emulator first (npm run hub)`);
  const settings: Record<string, string> = {};
  const listenerSettings = Object.keys(process.env).filter((name) => name.startsWith('MQTT_'));
  for (const name of [...CONNECTOR_PARAMETERS, ...MODULE_SETTINGS, ...listenerSettings]) {
    const value = process.env[name];
    if (value !== undefined) settings[name] = value;
  }
  const edge = await startEdge({
    dir,
    hub,
    persistence: process.env.EDGE_PERSISTENCE !== '0',
    ...(process.env.EDGE_DEVICE_ID ? { deviceId: process.env.EDGE_DEVICE_ID } : {}),
    ...(process.env.EDGE_MODULE_ID ? { moduleId: process.env.EDGE_MODULE_ID } : {}),
    settings,
  });
  await mergeConnection('edgeModule', { ...edge.connection }, dir);
  process.stdout.write(
    `edge module ${edge.connection.deviceId}/${edge.connection.moduleId} up\n  mqtt:    ${edge.connection.mqttUrl}\n  metrics: ${edge.connection.metricsUrl}\n`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    edge
      .stop()
      .then(() => mergeConnection('edgeModule', undefined, dir))
      .then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`edge: stop failed: ${(err as Error).message}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`edge: ${(err as Error).message}\n`);
  process.exit(1);
});
