/**
 * The edge module in a child process for edge-resend.test.ts, through the devstack's production path
 * (ModuleClient.fromEnvironment over MQTT/TLS, persistence on). With KILL_AFTER_UPSTREAM=N the process
 * kills itself with SIGKILL the moment IoT Hub has acknowledged its N-th upstream envelope — after the
 * PUBACK, before the sink returns, so before the status and the store's commit: the window in which a
 * restarted module must send the same readings again.
 */
import azureIotDevice from 'azure-iot-device';
import { pino } from 'pino';
import { startEdge } from '../../devstack/edge/index.js';

const killAfter = Number(process.env.KILL_AFTER_UPSTREAM ?? '0');
if (killAfter > 0) {
  const proto = azureIotDevice.ModuleClient.prototype as unknown as { sendOutputEvent: (output: string, message: unknown) => Promise<unknown> };
  const send = proto.sendOutputEvent;
  let acknowledged = 0;
  proto.sendOutputEvent = async function (this: unknown, output: string, message: unknown) {
    const result = await send.call(this, output, message);
    if (output === 'upstream' && ++acknowledged >= killAfter) process.kill(process.pid, 'SIGKILL');
    return result;
  };
}

const hub = JSON.parse(process.env.HUB_CONNECTION ?? '{}') as { hostName: string; mqttPort: number; caCertPath: string };
const edge = await startEdge({
  dir: process.env.DEVSTACK_DIR as string,
  hub,
  persistence: true,
  settings: JSON.parse(process.env.EDGE_SETTINGS ?? '{}') as Record<string, string>,
  log: pino({ level: 'warn' }),
});
process.stdout.write(`${JSON.stringify({ msg: 'edge ready', mqttUrl: edge.connection.mqttUrl, deviceId: edge.connection.deviceId })}\n`);
const stop = (): void => void edge.stop().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
