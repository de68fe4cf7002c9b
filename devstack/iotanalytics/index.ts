/**
 * The AWS IoT Analytics emulator: the REST (restJson1) operations `@aws-sdk/client-iotanalytics` sends,
 * on plain HTTP on loopback, storing per channel under `<dir>/iotanalytics/` (PROTOCOLS.md §3).
 *
 * AWS API: BatchPutMessage (`POST /messages/batch`), CreateChannel, DescribeChannel, ListChannels,
 * UpdateChannel, DeleteChannel, SampleChannelData. Channels exist only once created (BatchPutMessage to
 * an unknown channel is 404 ResourceNotFoundException, as in AWS). Errors carry `x-amzn-errortype` and
 * `{"message"}`; every answer carries `x-amzn-requestid`. SigV4 is not checked.
 * Test API: `GET /_emulator/channels/{channel}/messages` (JSON Lines), `GET|DELETE /_emulator/stats`,
 * `GET|POST /_emulator/faults`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AwsError, invalidRequest, resourceNotFound } from './errors.js';
import type { AwsErrorName } from './errors.js';
import { decideFault, parseFaults } from './faults.js';
import { seededRandom } from '../random.js';
import type { Faults } from './faults.js';
import { attemptOf, emptyStats, increment } from './stats.js';
import type { EmulatorStats } from './stats.js';
import { ChannelStore, REGION, channelArn } from './store.js';
import type { ChannelRecord, RetentionPeriod } from './store.js';
import { assertChannelName, checkBatch } from './validate.js';

export type { Faults } from './faults.js';
export { faultsFromEnv, parseFaults } from './faults.js';
export type { EmulatorStats } from './stats.js';

export const DEFAULT_CHANNEL = 'iot_ingest_default';
// 100 messages × 128 KB, base64-inflated, plus JSON framing; anything bigger is not a valid call.
const MAX_BODY_BYTES = 20 * 1024 * 1024;
const SAMPLE_MAX_MESSAGES = 10;

export interface IotAnalyticsOptions {
  /** Devstack state directory; channels live in `<dir>/iotanalytics/`. */
  dir: string;
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Channels created at start when missing. */
  channels?: string[];
  /** Initial faults (none by default; see `faultsFromEnv` for the environment form). */
  faults?: Faults;
  /** Seed for the fault dice, so a run with rates can be replayed exactly; default: Math.random. */
  faultSeed?: number;
}

// A type alias (not an interface) so it can be passed to mergeConnection as is.
export type IotAnalyticsConnection = {
  /** `http://<host>:<port>` */
  endpoint: string;
  region: typeof REGION;
};

export interface IotAnalyticsEmulator {
  connection: IotAnalyticsConnection;
  /** Replaces the current faults (an empty object clears them). */
  setFaults(faults: Faults): void;
  stats(): EmulatorStats;
  resetStats(): void;
  stop(): Promise<void>;
}

interface Reply {
  status: number;
  body?: unknown;
  contentType?: string;
  errorType?: AwsErrorName;
}

const epochSeconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);
const storage = { serviceManagedS3: {} };

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) throw invalidRequest(`Request body over ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidRequest('The request body is not valid JSON.');
  }
}

function parseRetention(value: unknown): RetentionPeriod {
  if (value === undefined) return { unlimited: true };
  const r = value as RetentionPeriod;
  if (typeof r !== 'object' || r === null) throw invalidRequest("'retentionPeriod' must be an object.");
  if (r.unlimited) return { unlimited: true };
  if (!Number.isInteger(r.numberOfDays) || (r.numberOfDays ?? 0) < 1) {
    throw invalidRequest("'retentionPeriod.numberOfDays' must be an integer >= 1 when not unlimited.");
  }
  return { unlimited: false, numberOfDays: r.numberOfDays! };
}

function parseTime(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (Number.isNaN(ms)) throw invalidRequest(`'${name}' is not a timestamp: '${value}'.`);
  return ms;
}

function channelJson(c: ChannelRecord): Record<string, unknown> {
  return {
    name: c.name,
    storage,
    arn: channelArn(c.name),
    status: 'ACTIVE',
    retentionPeriod: c.retentionPeriod,
    creationTime: epochSeconds(c.creationTimeMs),
    lastUpdateTime: epochSeconds(c.lastUpdateTimeMs),
    lastMessageArrivalTime: epochSeconds(c.lastMessageArrivalTimeMs),
  };
}

export async function startIotAnalyticsEmulator(options: IotAnalyticsOptions): Promise<IotAnalyticsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`iotanalytics port: ${String(port)} is not a port number (0–65535, 0 = any free port)`);
  }
  for (const name of options.channels ?? []) {
    try {
      assertChannelName(name);
    } catch {
      throw new Error(`iotanalytics channels: '${name}' is not a valid channel name (^(?!__)[a-zA-Z0-9_]{1,128}$)`);
    }
  }
  let faults = parseFaults(options.faults ?? {});
  let stats = emptyStats();
  const random = options.faultSeed === undefined ? Math.random : seededRandom(options.faultSeed);
  const store = await ChannelStore.open(options.dir);
  for (const name of options.channels ?? []) if (!store.get(name)) await store.create(name);

  async function batchPutMessage(req: http.IncomingMessage): Promise<Reply> {
    const batch = checkBatch(await readJson(req));
    increment(stats.batchPutCallsByChannel, batch.channelName);
    if (faults.latencyMs) await sleep(faults.latencyMs);
    const fault = decideFault(faults, batch.channelName, random);
    if (fault.kind === 'missingChannel') throw resourceNotFound();
    if (fault.kind === 'throttle')
      throw new AwsError('ThrottlingException', 'Rate exceeded (fault injected by the emulator).');
    if (fault.kind === 'serverError') {
      throw fault.status === 503
        ? new AwsError('ServiceUnavailableException', 'Service unavailable (fault injected by the emulator).')
        : new AwsError('InternalFailureException', 'Internal failure (fault injected by the emulator).');
    }
    store.require(batch.channelName);
    if (batch.accepted.length > 0) {
      await store.append(batch.channelName, batch.accepted, new Date());
      increment(stats.messagesStoredByChannel, batch.channelName, batch.accepted.length);
    }
    stats.entryErrors += batch.entryErrors.length;
    return { status: 200, body: { batchPutMessageErrorEntries: batch.entryErrors } };
  }

  async function route(req: http.IncomingMessage, url: URL): Promise<[string, () => Promise<Reply>]> {
    const method = req.method ?? 'GET';
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (method === 'POST' && url.pathname === '/messages/batch') return ['BatchPutMessage', () => batchPutMessage(req)];
    if (parts[0] === 'channels' && parts.length === 1) {
      if (method === 'POST') {
        return [
          'CreateChannel',
          async () => {
            const body = (await readJson(req)) as { channelName?: unknown; retentionPeriod?: unknown };
            assertChannelName(body.channelName);
            const c = await store.create(body.channelName, parseRetention(body.retentionPeriod));
            return {
              status: 201,
              body: { channelName: c.name, channelArn: channelArn(c.name), retentionPeriod: c.retentionPeriod },
            };
          },
        ];
      }
      if (method === 'GET') {
        return [
          'ListChannels',
          async () => {
            const maxResults = Number(url.searchParams.get('maxResults') ?? 100);
            if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 250) {
              throw invalidRequest("'maxResults' must be an integer from 1 to 250.");
            }
            const start = Number(url.searchParams.get('nextToken') ?? 0);
            if (!Number.isInteger(start) || start < 0)
              throw invalidRequest("'nextToken' is not a token from ListChannels.");
            const all = store.list();
            const page = all.slice(start, start + maxResults);
            return {
              status: 200,
              body: {
                channelSummaries: page.map((c) => ({
                  channelName: c.name,
                  channelStorage: storage,
                  status: 'ACTIVE',
                  creationTime: epochSeconds(c.creationTimeMs),
                  lastUpdateTime: epochSeconds(c.lastUpdateTimeMs),
                  lastMessageArrivalTime: epochSeconds(c.lastMessageArrivalTimeMs),
                })),
                ...(start + maxResults < all.length ? { nextToken: String(start + maxResults) } : {}),
              },
            };
          },
        ];
      }
    }
    if (parts[0] === 'channels' && parts.length === 2) {
      const name = parts[1]!;
      if (method === 'GET') {
        return [
          'DescribeChannel',
          async () => {
            const c = store.require(name);
            const withStats = url.searchParams.get('includeStatistics') === 'true';
            const size = withStats ? await store.sizeBytes(name) : 0;
            return {
              status: 200,
              body: {
                channel: channelJson(c),
                ...(withStats
                  ? { statistics: { size: { estimatedSizeInBytes: size, estimatedOn: Date.now() / 1000 } } }
                  : {}),
              },
            };
          },
        ];
      }
      if (method === 'PUT') {
        return [
          'UpdateChannel',
          async () => {
            const body = (await readJson(req)) as { retentionPeriod?: unknown };
            const c = store.require(name);
            c.retentionPeriod = parseRetention(body.retentionPeriod);
            c.lastUpdateTimeMs = Date.now();
            return { status: 200, body: {} };
          },
        ];
      }
      if (method === 'DELETE') {
        return [
          'DeleteChannel',
          async () => {
            await store.delete(name);
            return { status: 204 };
          },
        ];
      }
    }
    if (parts[0] === 'channels' && parts.length === 3 && parts[2] === 'sample' && method === 'GET') {
      return [
        'SampleChannelData',
        async () => {
          const raw = url.searchParams.get('maxMessages');
          const maxMessages = raw === null ? SAMPLE_MAX_MESSAGES : Number(raw);
          if (!Number.isInteger(maxMessages) || maxMessages < 1 || maxMessages > SAMPLE_MAX_MESSAGES) {
            throw invalidRequest(`'maxMessages' must be an integer from 1 to ${SAMPLE_MAX_MESSAGES}.`);
          }
          const fromMs = parseTime(url.searchParams.get('startTime'), 'startTime');
          const toMs = parseTime(url.searchParams.get('endTime'), 'endTime');
          if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) {
            throw invalidRequest("'startTime' must be before 'endTime'.");
          }
          const inRange = (await store.readMessages(parts[1]!)).filter((m) => {
            const at = Date.parse(m.receivedAt);
            return (fromMs === undefined || at >= fromMs) && (toMs === undefined || at < toMs);
          });
          // The most recent messages in the range, oldest first.
          return { status: 200, body: { payloads: inRange.slice(-maxMessages).map((m) => m.payload) } };
        },
      ];
    }
    return [
      'Unknown',
      async () => {
        throw new AwsError('UnknownOperationException', `No operation at ${method} ${url.pathname}.`);
      },
    ];
  }

  async function emulatorApi(req: http.IncomingMessage, url: URL): Promise<Reply> {
    const method = req.method ?? 'GET';
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[1] === 'channels' && parts.length === 4 && parts[3] === 'messages' && method === 'GET') {
      return { status: 200, body: await store.readRaw(parts[2]!), contentType: 'application/x-ndjson' };
    }
    if (url.pathname === '/_emulator/stats') {
      if (method === 'GET') return { status: 200, body: stats };
      if (method === 'DELETE') {
        stats = emptyStats();
        return { status: 204 };
      }
    }
    if (url.pathname === '/_emulator/faults') {
      if (method === 'GET') return { status: 200, body: faults };
      if (method === 'POST') {
        try {
          faults = parseFaults(await readJson(req));
        } catch (err) {
          if (err instanceof AwsError) throw err;
          throw invalidRequest((err as Error).message);
        }
        return { status: 200, body: faults };
      }
    }
    throw new AwsError('UnknownOperationException', `No emulator operation at ${method} ${url.pathname}.`);
  }

  function send(res: http.ServerResponse, reply: Reply, requestId: string): void {
    const headers: http.OutgoingHttpHeaders = { 'x-amzn-requestid': requestId };
    if (reply.errorType) headers['x-amzn-errortype'] = reply.errorType;
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
      return;
    }
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    headers['content-type'] = reply.contentType ?? 'application/json';
    headers['content-length'] = Buffer.byteLength(text);
    res.writeHead(reply.status, headers).end(text);
  }

  function errorReply(err: unknown): Reply {
    const aws =
      err instanceof AwsError
        ? err
        : new AwsError('InternalFailureException', `Emulator failure: ${(err as Error)?.message ?? String(err)}`);
    return { status: aws.statusCode, errorType: aws.errorType, body: aws.body() };
  }

  const server = http.createServer((req, res) => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname.startsWith('/_emulator/')) {
      emulatorApi(req, url).then(
        (reply) => send(res, reply, requestId),
        (err: unknown) => send(res, errorReply(err), requestId),
      );
      return;
    }
    void (async () => {
      let operation = 'Unknown';
      let reply: Reply;
      try {
        const [name, handler] = await route(req, url);
        operation = name;
        reply = await handler();
      } catch (err) {
        reply = errorReply(err);
      }
      stats.requests += 1;
      increment(stats.byStatus, String(reply.status));
      increment(stats.byAttempt, attemptOf(req.headers['amz-sdk-request']));
      increment(stats.byOperation, operation);
      send(res, reply, requestId);
    })();
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`iotanalytics: cannot listen on ${host}:${port}: ${err.message}`, { cause: err })),
    );
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;

  let stopped: Promise<void> | undefined;
  return {
    connection: { endpoint, region: REGION },
    setFaults(next: Faults): void {
      faults = parseFaults(next);
    },
    stats: () => structuredClone(stats),
    resetStats(): void {
      stats = emptyStats();
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => store.flush())),
  };
}
