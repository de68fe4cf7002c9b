/**
 * The module's entry point (the image runs `node dist/main.js`, the bundle of this file): environment → Config →
 * ModuleClient (MQTT) → the running module; SIGTERM/SIGINT stop it gracefully. Only wiring lives here.
 */
import azureIotDevice from 'azure-iot-device';
import azureIotDeviceMqtt from 'azure-iot-device-mqtt';
import { startEdgeModule } from './app.js';
import type { EdgeModuleClient } from './app.js';
import { EdgeConfigError, loadEdgeConfig } from './config.js';
import { createLogger } from './log.js';

const { ModuleClient } = azureIotDevice;
const { Mqtt } = azureIotDeviceMqtt;

/** In IoT Edge (IOTEDGE_* variables) or with EdgeHubConnectionString/IotHubConnectionString. */
function hasModuleIdentity(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.EdgeHubConnectionString || env.IotHubConnectionString || env.IOTEDGE_WORKLOADURI);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadEdgeConfig(process.env);
  } catch (err) {
    if (err instanceof EdgeConfigError) {
      process.stderr.write(`iot-ingest edge module: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let client: InstanceType<typeof ModuleClient> | undefined;
  if (config.sink === 'iothub' || hasModuleIdentity(process.env)) {
    // fromEnvironment: EdgeHubConnectionString (+ EdgeModuleCACertificateFile) or the IoT Edge workload API.
    client = await ModuleClient.fromEnvironment(Mqtt);
    client.on('error', (err: Error) => log.error({ error: err.name, detail: err.message }, 'module client error'));
    await client.open();
    log.info('connected to edgeHub');
  }
  const module = await startEdgeModule({
    config,
    log,
    ...(client ? { moduleClient: client as unknown as EdgeModuleClient } : {}),
  });
  log.info({ mqttUrl: module.mqtt.url, metricsUrl: module.metricsUrl, sink: config.sink, persistence: Boolean(config.persistence) }, 'edge module ready');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    module
      .stop()
      .then(() => client?.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ error: (err as Error).message }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`iot-ingest edge module failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
