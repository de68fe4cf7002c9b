/**
 * Where the CLI's queries go: flags first, then the standard environment variables, then the local
 * devstack's `.devstack/connections.json` (`$IOT_INGEST_DEVSTACK_DIR`), so the same command queries a
 * real Cosmos DB and storage account or the local one. Settings from connections.json are used only
 * when they describe the same endpoint, never mixed with another account's.
 */
import { connectionsPath, devstackDir, readConnectionsSync } from '@iot-ingest/contracts';
import type { Connections } from '@iot-ingest/contracts';

export interface CosmosFlags {
  cosmosEndpoint?: string;
  cosmosKey?: string;
  cosmosDatabase?: string;
  cosmosContainer?: string;
  cosmosCaCert?: string;
}

export interface StorageFlags {
  storageConnectionString?: string;
  storageAccountUrl?: string;
  coldContainer?: string;
}

export interface CosmosTarget {
  endpoint: string;
  /** Absent: Microsoft Entra ID (DefaultAzureCredential). */
  key?: string;
  database: string;
  container: string;
  caCertPath?: string;
}

export type StorageTarget = { connectionString: string; container: string } | { accountUrl: string; container: string };

/** The parts of connections.json the CLI reads (the shape lives in @iot-ingest/contracts). */
export type DevstackConnections = Pick<Connections, 'cosmos' | 'storage'>;

export function devstackConnectionsPath(env: NodeJS.ProcessEnv = process.env): string {
  return connectionsPath(devstackDir(env));
}

/** connections.json, or `{}` when there is none (no devstack running here). */
export function readDevstackConnections(env: NodeJS.ProcessEnv = process.env): DevstackConnections {
  return readConnectionsSync(devstackDir(env));
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

export function resolveCosmos(flags: CosmosFlags, env: NodeJS.ProcessEnv, devstack: DevstackConnections): CosmosTarget {
  const explicit = nonEmpty(flags.cosmosEndpoint) ?? nonEmpty(env.COSMOS_ENDPOINT);
  const file = devstack.cosmos;
  const endpoint = explicit ?? nonEmpty(file?.endpoint);
  if (!endpoint) {
    throw new Error(
      'no Cosmos DB endpoint: pass --cosmos-endpoint, set COSMOS_ENDPOINT, or start the devstack (npm run cosmos) ' +
        'so .devstack/connections.json has "cosmos"',
    );
  }
  const sameAsFile = file !== undefined && (explicit === undefined || explicit === file.endpoint);
  const fromFile = <T>(value: T | undefined): T | undefined => (sameAsFile ? value : undefined);
  try {
    new URL(endpoint);
  } catch {
    throw new Error(`Cosmos DB endpoint: '${endpoint}' is not a URL`);
  }
  const key = nonEmpty(flags.cosmosKey) ?? nonEmpty(env.COSMOS_KEY) ?? fromFile(nonEmpty(file?.key));
  const caCertPath =
    nonEmpty(flags.cosmosCaCert) ?? nonEmpty(env.COSMOS_CA_CERT_PATH) ?? fromFile(nonEmpty(file?.caCertPath));
  return {
    endpoint,
    ...(key ? { key } : {}),
    database:
      nonEmpty(flags.cosmosDatabase) ?? nonEmpty(env.COSMOS_DATABASE) ?? fromFile(file?.database) ?? 'iot-ingest',
    container:
      nonEmpty(flags.cosmosContainer) ?? nonEmpty(env.COSMOS_CONTAINER) ?? fromFile(file?.container) ?? 'telemetry',
    ...(caCertPath ? { caCertPath } : {}),
  };
}

export function resolveStorage(
  flags: StorageFlags,
  env: NodeJS.ProcessEnv,
  devstack: DevstackConnections,
): StorageTarget {
  const connectionString =
    nonEmpty(flags.storageConnectionString) ??
    (nonEmpty(flags.storageAccountUrl) ? undefined : nonEmpty(env.AZURE_STORAGE_CONNECTION_STRING));
  const accountUrl =
    nonEmpty(flags.storageAccountUrl) ?? (connectionString ? undefined : nonEmpty(env.AZURE_STORAGE_ACCOUNT_URL));
  const explicitContainer = nonEmpty(flags.coldContainer) ?? nonEmpty(env.COLD_CONTAINER);
  if (connectionString) return { connectionString, container: explicitContainer ?? 'telemetry' };
  if (accountUrl) {
    try {
      new URL(accountUrl);
    } catch {
      throw new Error(`storage account URL: '${accountUrl}' is not a URL`);
    }
    return { accountUrl, container: explicitContainer ?? 'telemetry' };
  }
  const file = devstack.storage;
  if (file?.connectionString) {
    return {
      connectionString: file.connectionString,
      container: explicitContainer ?? file.coldContainer ?? 'telemetry',
    };
  }
  throw new Error(
    'no storage account: pass --storage-connection-string or --storage-account-url, set ' +
      'AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL, or start the devstack (npm run storage) ' +
      'so .devstack/connections.json has "storage"',
  );
}
