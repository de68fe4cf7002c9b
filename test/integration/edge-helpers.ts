/**
 * Helpers for the edge module's integration tests: a small local BatchPutMessage endpoint (real HTTP,
 * spoken to by the real @aws-sdk client), module start-up on free ports, and an MQTT.js device.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { parseEdgeConfig } from '../../edge-module/config.js';
import type { EdgeConfig } from '../../edge-module/config.js';
import { startEdgeModule } from '../../edge-module/app.js';
import type { EdgeModule, EdgeModuleClient } from '../../edge-module/app.js';

export interface PutCall {
  readonly channelName: string;
  readonly messages: { messageId: string; payload: Buffer }[];
}

export interface BatchPutEndpoint {
  readonly endpoint: string;
  readonly calls: PutCall[];
  /** Answer the next requests with this HTTP status and error type (e.g. 503 ServiceUnavailableException). */
  fail(count: number, status: number, errorType: string): void;
  /** Channels that do not exist (ResourceNotFoundException, as IoT Analytics answers). */
  readonly missingChannels: Set<string>;
  client(): IoTAnalyticsClient;
  close(): Promise<void>;
}

export async function startBatchPutEndpoint(): Promise<BatchPutEndpoint> {
  const calls: PutCall[] = [];
  const missingChannels = new Set<string>();
  let failures: { count: number; status: number; errorType: string } | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown, errorType?: string) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': 'local', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/messages/batch') return reply(404, { message: 'not found' }, 'ResourceNotFoundException');
      if (failures && failures.count > 0) {
        failures.count -= 1;
        return reply(failures.status, { message: `injected ${failures.errorType}` }, failures.errorType);
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { channelName: string; messages: { messageId: string; payload: string }[] };
      if (missingChannels.has(body.channelName)) {
        return reply(404, { message: 'A resource with the specified name could not be found.' }, 'ResourceNotFoundException');
      }
      calls.push({ channelName: body.channelName, messages: body.messages.map((m) => ({ messageId: m.messageId, payload: Buffer.from(m.payload, 'base64') })) });
      reply(200, { batchPutMessageErrorEntries: [] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    calls,
    missingChannels,
    fail(count, status, errorType) {
      failures = { count, status, errorType };
    },
    client: () =>
      new IoTAnalyticsClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function edgeConfig(env: Record<string, string | undefined>): EdgeConfig {
  const result = parseEdgeConfig({ MQTT_PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'silent', SHUTDOWN_DEADLINE_SECONDS: '2', ...env });
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('; '));
  return result.config;
}

export async function startModule(
  env: Record<string, string | undefined>,
  clients: { iotAnalytics?: ReturnType<BatchPutEndpoint['client']>; moduleClient?: EdgeModuleClient } = {},
): Promise<EdgeModule> {
  return startEdgeModule({
    config: edgeConfig(env),
    log: pino({ level: 'silent' }),
    ...(clients.iotAnalytics ? { iotAnalytics: clients.iotAnalytics } : {}),
    ...(clients.moduleClient ? { moduleClient: clients.moduleClient } : {}),
  });
}

export const STATUS_TOPIC = 'iotanalytics/messages/put/status';

/** A Greengrass-style device: MQTT.js, subscribed to the status topic, collecting statuses as text. */
export async function connectDevice(url: string, options: mqtt.IClientOptions = {}): Promise<{ client: MqttClient; statuses: string[]; waitFor(n: number, timeoutMs?: number): Promise<string[]> }> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
  const statuses: string[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  client.on('message', (topic, payload) => {
    if (topic !== STATUS_TOPIC) return;
    statuses.push(payload.toString('utf8'));
    waiters = waiters.filter((w) => {
      if (statuses.length >= w.n) w.resolve();
      return statuses.length < w.n;
    });
  });
  await client.subscribeAsync(STATUS_TOPIC, { qos: 1 });
  return {
    client,
    statuses,
    waitFor(n, timeoutMs = 20_000) {
      if (statuses.length >= n) return Promise.resolve(statuses.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} statuses, got ${statuses.length}`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(statuses.slice());
          },
        });
      });
    },
  };
}
