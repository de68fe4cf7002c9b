/**
 * Shared setup for the functions' integration tests: the real servers (Azurite, the Cosmos DB server,
 * the IoT Analytics emulator) on loopback with free ports and a fresh temp dir, the app settings that
 * point at them, and readers for what the functions wrote.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CosmosClient } from '@azure/cosmos';
import type { Container } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import type { ReceivedEventData } from '@azure/event-hubs';
import { startStorage } from '../../devstack/storage/index.js';
import type { StorageServer } from '../../devstack/storage/index.js';
import { startCosmos } from '../../devstack/cosmos/index.js';
import type { CosmosServer } from '../../devstack/cosmos/index.js';
import { startIotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';
import type { IotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';
import type { TelemetryRecord } from '../../functions/record.js';

export interface Backends {
  dir: string;
  storage: StorageServer;
  cosmos: CosmosServer;
  iota: IotAnalyticsEmulator;
  /** App settings for the Function app pointing at these servers (no IoT Hub settings). */
  settings: Record<string, string>;
  cosmosContainer(): Container;
  blobs(name: string): ContainerClient;
  stop(): Promise<void>;
}

export async function startBackends(channels: string[]): Promise<Backends> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-functions-'));
  const [storage, cosmos, iota] = await Promise.all([
    startStorage({ dir, port: 0 }),
    startCosmos({ dir, port: 0 }),
    // Seeded fault dice: the throttling test then sees the same 429s on every run instead of relying on chance.
    startIotAnalyticsEmulator({ dir, port: 0, channels, faultSeed: 7 }),
  ]);
  const agent = new https.Agent({ ca: await readFile(cosmos.connection.caCertPath), keepAlive: true });
  const cosmosClient = new CosmosClient({
    endpoint: cosmos.connection.endpoint,
    key: cosmos.connection.key,
    agent,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const blobService = BlobServiceClient.fromConnectionString(storage.connection.connectionString);
  const settings: Record<string, string> = {
    AzureWebJobsStorage: storage.connection.connectionString,
    COLD_STORAGE_CONNECTION_STRING: storage.connection.connectionString,
    COSMOS_ENDPOINT: cosmos.connection.endpoint,
    COSMOS_KEY: cosmos.connection.key,
    COSMOS_CA_CERT_PATH: cosmos.connection.caCertPath,
    COSMOS_DEFAULT_TTL_SECONDS: '3600',
    AWS_REGION: iota.connection.region,
    AWS_ENDPOINT_URL_IOTANALYTICS: iota.connection.endpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    IotAnalyticsDefaultChannelName: channels[0] ?? 'iot_ingest_default',
    ANALYTICS_FORWARD_BUDGET_SECONDS: '20',
  };
  return {
    dir,
    storage,
    cosmos,
    iota,
    settings,
    cosmosContainer: () => cosmosClient.database(cosmos.connection.database).container(cosmos.connection.container),
    blobs: (name) => blobService.getContainerClient(name),
    stop: async () => {
      cosmosClient.dispose();
      agent.destroy();
      await Promise.allSettled([storage.stop(), cosmos.stop(), iota.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface StoredMessage {
  messageId: string;
  payload: string;
  receivedAt: string;
}

export async function storedMessages(iota: IotAnalyticsEmulator, channel: string): Promise<StoredMessage[]> {
  const res = await fetch(`${iota.connection.endpoint}/_emulator/channels/${channel}/messages`);
  if (res.status !== 200) throw new Error(`emulator messages for ${channel}: HTTP ${res.status}`);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as StoredMessage);
}

export async function listBlobNames(container: ContainerClient, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
  return names.sort();
}

export async function readColdBlob(container: ContainerClient, name: string): Promise<{ records: TelemetryRecord[]; contentType?: string; contentEncoding?: string }> {
  const client = container.getBlockBlobClient(name);
  const properties = await client.getProperties();
  const raw = await client.downloadToBuffer();
  const records = gunzipSync(raw)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TelemetryRecord);
  return { records, contentType: properties.contentType, contentEncoding: properties.contentEncoding };
}

export async function readJsonBlob<T>(container: ContainerClient, name: string): Promise<T> {
  return JSON.parse((await container.getBlockBlobClient(name).downloadToBuffer()).toString('utf8')) as T;
}

export async function queryAll<T>(container: Container, query: string, parameters: Array<{ name: string; value: string }> = []): Promise<T[]> {
  const { resources } = await container.items.query<T>({ query, parameters }).fetchAll();
  return resources;
}

/** A received event as `@azure/event-hubs` hands it to the host (for tests that call handlers directly). */
export function receivedEvent(options: {
  body: Buffer;
  sequenceNumber: number;
  deviceId: string;
  enqueuedTimeUtc: Date;
  properties?: Record<string, unknown>;
  moduleId?: string;
}): ReceivedEventData {
  const systemProperties: Record<string, unknown> = { 'iothub-connection-device-id': options.deviceId, contentType: 'application/json' };
  if (options.moduleId) systemProperties['iothub-connection-module-id'] = options.moduleId;
  return {
    body: options.body,
    properties: options.properties ?? {},
    enqueuedTimeUtc: options.enqueuedTimeUtc,
    partitionKey: null,
    offset: String(options.sequenceNumber * 1000),
    sequenceNumber: options.sequenceNumber,
    systemProperties,
    getRawAmqpMessage: () => {
      throw new Error('not used');
    },
  };
}

export function envelopeBody(channel: string, payloads: Array<{ json?: unknown; base64?: string; requestId?: string }>): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      channel,
      messages: payloads.map((p, i) => ({ id: `m${i}`, acceptedAt: 1, ...p })),
    }),
  );
}

export async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
}
