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
 *
 * Files: operations.ts (the AWS route table), emulator-api.ts (the test API's), routes.ts (matching),
 * http.ts (bodies and replies), store.ts (channels on disk), validate.ts, faults.ts, stats.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { AwsError } from './errors.js';
import { parseFaults } from './faults.js';
import type { Faults } from './faults.js';
import { emulatorRoutes } from './emulator-api.js';
import { errorReply, send } from './http.js';
import type { Reply } from './http.js';
import { awsRoutes } from './operations.js';
import type { EmulatorState } from './operations.js';
import { seededRandom } from '../random.js';
import { matchRoute } from './routes.js';
import type { Route } from './routes.js';
import { attemptOf, emptyStats, increment } from './stats.js';
import type { EmulatorStats } from './stats.js';
import { ChannelStore, REGION } from './store.js';
import { assertChannelName } from './validate.js';

export type { Faults } from './faults.js';
export { faultsFromEnv, parseFaults } from './faults.js';
export type { EmulatorStats } from './stats.js';

export const DEFAULT_CHANNEL = 'iot_ingest_default';

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

function validateOptions(options: IotAnalyticsOptions): { host: string; port: number } {
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
  return { host, port };
}

/** Runs the matched route; an unmatched one is UnknownOperationException (404). */
async function dispatch(
  routes: readonly Route[],
  req: http.IncomingMessage,
  url: URL,
  what: string,
): Promise<[string, Reply]> {
  const method = req.method ?? 'GET';
  let operation = 'Unknown';
  try {
    const match = matchRoute(routes, method, url.pathname);
    if (!match) throw new AwsError('UnknownOperationException', `No ${what} at ${method} ${url.pathname}.`);
    operation = match.route.operation;
    return [operation, await match.route.handle({ req, url, params: match.params })];
  } catch (err) {
    return [operation, errorReply(err)];
  }
}

export async function startIotAnalyticsEmulator(options: IotAnalyticsOptions): Promise<IotAnalyticsEmulator> {
  const { host, port } = validateOptions(options);
  const store = await ChannelStore.open(options.dir);
  for (const name of options.channels ?? []) if (!store.get(name)) await store.create(name);
  const state: EmulatorState = {
    store,
    faults: parseFaults(options.faults ?? {}),
    stats: emptyStats(),
    random: options.faultSeed === undefined ? Math.random : seededRandom(options.faultSeed),
  };
  const aws = awsRoutes(state);
  const testApi = emulatorRoutes(state);

  const server = http.createServer((req, res) => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname.startsWith('/_emulator/')) {
      void dispatch(testApi, req, url, 'emulator operation').then(([, reply]) => send(res, reply, requestId));
      return;
    }
    void dispatch(aws, req, url, 'operation').then(([operation, reply]) => {
      const { stats } = state;
      stats.requests += 1;
      increment(stats.byStatus, String(reply.status));
      increment(stats.byAttempt, attemptOf(req.headers['amz-sdk-request']));
      increment(stats.byOperation, operation);
      send(res, reply, requestId);
    });
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
      state.faults = parseFaults(next);
    },
    stats: () => structuredClone(state.stats),
    resetStats(): void {
      state.stats = emptyStats();
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => store.flush())),
  };
}
