/**
 * The AWS IoT Analytics API the SDK sends (restJson1, PROTOCOLS.md §3), as a route table. Channels exist
 * only once created; BatchPutMessage to an unknown channel is 404 ResourceNotFoundException, as in AWS.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AwsError, invalidRequest, resourceNotFound } from './errors.js';
import { decideFault } from './faults.js';
import type { Faults } from './faults.js';
import { readJson } from './http.js';
import type { Reply } from './http.js';
import type { OperationRequest, Route } from './routes.js';
import { increment } from './stats.js';
import type { EmulatorStats } from './stats.js';
import { channelArn } from './store.js';
import type { ChannelRecord, ChannelStore, RetentionPeriod } from './store.js';
import { assertChannelName, checkBatch } from './validate.js';

const SAMPLE_MAX_MESSAGES = 10;
const storage = { serviceManagedS3: {} };

/** What the operations read and change; faults and stats are replaced whole by the test API. */
export interface EmulatorState {
  readonly store: ChannelStore;
  faults: Faults;
  stats: EmulatorStats;
  readonly random: () => number;
}

const epochSeconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

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

/** The channel name of a `/channels/{name}…` route. */
const channelOf = (request: OperationRequest): string => request.params.name as string;

async function batchPutMessage(state: EmulatorState, { req }: OperationRequest): Promise<Reply> {
  const batch = checkBatch(await readJson(req));
  increment(state.stats.batchPutCallsByChannel, batch.channelName);
  if (state.faults.latencyMs) await sleep(state.faults.latencyMs);
  const fault = decideFault(state.faults, batch.channelName, state.random);
  if (fault.kind === 'missingChannel') throw resourceNotFound();
  if (fault.kind === 'throttle')
    throw new AwsError('ThrottlingException', 'Rate exceeded (fault injected by the emulator).');
  if (fault.kind === 'serverError') {
    throw fault.status === 503
      ? new AwsError('ServiceUnavailableException', 'Service unavailable (fault injected by the emulator).')
      : new AwsError('InternalFailureException', 'Internal failure (fault injected by the emulator).');
  }
  state.store.require(batch.channelName);
  if (batch.accepted.length > 0) {
    await state.store.append(batch.channelName, batch.accepted, new Date());
    increment(state.stats.messagesStoredByChannel, batch.channelName, batch.accepted.length);
  }
  state.stats.entryErrors += batch.entryErrors.length;
  return { status: 200, body: { batchPutMessageErrorEntries: batch.entryErrors } };
}

async function createChannel(state: EmulatorState, { req }: OperationRequest): Promise<Reply> {
  const body = (await readJson(req)) as { channelName?: unknown; retentionPeriod?: unknown };
  assertChannelName(body.channelName);
  const c = await state.store.create(body.channelName, parseRetention(body.retentionPeriod));
  return {
    status: 201,
    body: { channelName: c.name, channelArn: channelArn(c.name), retentionPeriod: c.retentionPeriod },
  };
}

async function listChannels(state: EmulatorState, { url }: OperationRequest): Promise<Reply> {
  const maxResults = Number(url.searchParams.get('maxResults') ?? 100);
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 250) {
    throw invalidRequest("'maxResults' must be an integer from 1 to 250.");
  }
  const start = Number(url.searchParams.get('nextToken') ?? 0);
  if (!Number.isInteger(start) || start < 0) throw invalidRequest("'nextToken' is not a token from ListChannels.");
  const all = state.store.list();
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
}

async function describeChannel(state: EmulatorState, request: OperationRequest): Promise<Reply> {
  const name = channelOf(request);
  const c = state.store.require(name);
  const withStats = request.url.searchParams.get('includeStatistics') === 'true';
  const size = withStats ? await state.store.sizeBytes(name) : 0;
  return {
    status: 200,
    body: {
      channel: channelJson(c),
      ...(withStats ? { statistics: { size: { estimatedSizeInBytes: size, estimatedOn: Date.now() / 1000 } } } : {}),
    },
  };
}

async function updateChannel(state: EmulatorState, request: OperationRequest): Promise<Reply> {
  const body = (await readJson(request.req)) as { retentionPeriod?: unknown };
  await state.store.update(channelOf(request), parseRetention(body.retentionPeriod));
  return { status: 200, body: {} };
}

async function deleteChannel(state: EmulatorState, request: OperationRequest): Promise<Reply> {
  await state.store.delete(channelOf(request));
  return { status: 204 };
}

async function sampleChannelData(state: EmulatorState, request: OperationRequest): Promise<Reply> {
  const { searchParams } = request.url;
  const raw = searchParams.get('maxMessages');
  const maxMessages = raw === null ? SAMPLE_MAX_MESSAGES : Number(raw);
  if (!Number.isInteger(maxMessages) || maxMessages < 1 || maxMessages > SAMPLE_MAX_MESSAGES) {
    throw invalidRequest(`'maxMessages' must be an integer from 1 to ${SAMPLE_MAX_MESSAGES}.`);
  }
  const fromMs = parseTime(searchParams.get('startTime'), 'startTime');
  const toMs = parseTime(searchParams.get('endTime'), 'endTime');
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) {
    throw invalidRequest("'startTime' must be before 'endTime'.");
  }
  const inRange = (await state.store.readMessages(channelOf(request))).filter((m) => {
    const at = Date.parse(m.receivedAt);
    return (fromMs === undefined || at >= fromMs) && (toMs === undefined || at < toMs);
  });
  // The most recent messages in the range, oldest first.
  return { status: 200, body: { payloads: inRange.slice(-maxMessages).map((m) => m.payload) } };
}

export function awsRoutes(state: EmulatorState): Route[] {
  const bind =
    (operation: (state: EmulatorState, request: OperationRequest) => Promise<Reply>) =>
    (request: OperationRequest): Promise<Reply> =>
      operation(state, request);
  return [
    { method: 'POST', path: '/messages/batch', operation: 'BatchPutMessage', handle: bind(batchPutMessage) },
    { method: 'POST', path: '/channels', operation: 'CreateChannel', handle: bind(createChannel) },
    { method: 'GET', path: '/channels', operation: 'ListChannels', handle: bind(listChannels) },
    { method: 'GET', path: '/channels/{name}', operation: 'DescribeChannel', handle: bind(describeChannel) },
    { method: 'PUT', path: '/channels/{name}', operation: 'UpdateChannel', handle: bind(updateChannel) },
    { method: 'DELETE', path: '/channels/{name}', operation: 'DeleteChannel', handle: bind(deleteChannel) },
    { method: 'GET', path: '/channels/{name}/sample', operation: 'SampleChannelData', handle: bind(sampleChannelData) },
  ];
}
