/**
 * SDK clients, built once per worker from typed config and reused by every invocation (connection
 * reuse is most of the warm path's speed). Each client is created lazily on first use, so a function
 * only builds what it needs.
 *
 * Local: keys / connection strings, and for the devstack's Cosmos server a CA trusted by that one client.
 * Azure: only endpoints → DefaultAzureCredential (managed identity).
 */
import type https from 'node:https';
import { CosmosClient } from '@azure/cosmos';
import type { Container } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/identity';
import { IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import { cosmosClientOptions } from '@iot-ingest/contracts';
import type { FunctionsConfig } from './config.js';
import { workerConfig } from './config.js';
import type { FunctionCounters } from './counters.js';
import { newCounters } from './counters.js';

export interface Runtime {
  readonly config: FunctionsConfig;
  readonly counters: FunctionCounters;
  cosmosContainer(): Container;
  /** The hot path's container (`COSMOS_ALERTS_CONTAINER`), on the same client. */
  alertsContainer(): Container;
  coldContainer(): ContainerClient;
  parquetContainer(): ContainerClient;
  deadLetterContainer(): ContainerClient;
  iotAnalytics(): IoTAnalyticsClient;
  close(): Promise<void>;
}

export function createRuntime(config: FunctionsConfig): Runtime {
  let credential: TokenCredential | undefined;
  const azureCredential = (): TokenCredential => (credential ??= new DefaultAzureCredential());

  let cosmos: { client: CosmosClient; agent: https.Agent | undefined; container: Container } | undefined;
  let blobs: BlobServiceClient | undefined;
  let analytics: IoTAnalyticsClient | undefined;

  const cosmosAccount = (): { client: CosmosClient; container: Container } => {
    if (!cosmos) {
      const { endpoint, key, caCertPath, database, container } = config.cosmos;
      const options = cosmosClientOptions({ endpoint, key, caCertPath, credential: key ? undefined : azureCredential() });
      const client = new CosmosClient(options);
      cosmos = { client, agent: options.agent, container: client.database(database).container(container) };
    }
    return cosmos;
  };

  const blobService = (): BlobServiceClient => {
    const { connectionString, accountUrl } = config.storage;
    blobs ??= connectionString
      ? BlobServiceClient.fromConnectionString(connectionString)
      : new BlobServiceClient(accountUrl as string, azureCredential());
    return blobs;
  };

  return {
    config,
    counters: newCounters(),
    cosmosContainer: () => cosmosAccount().container,
    alertsContainer: () => cosmosAccount().client.database(config.cosmos.database).container(config.hot.alertsContainer),
    coldContainer: () => blobService().getContainerClient(config.storage.coldContainer),
    parquetContainer: () => blobService().getContainerClient(config.storage.parquetContainer),
    deadLetterContainer: () => blobService().getContainerClient(config.storage.deadLetterContainer),
    iotAnalytics() {
      const { region, endpoint, credentials } = config.analytics;
      analytics ??= new IoTAnalyticsClient({
        region,
        ...(endpoint ? { endpoint } : {}),
        // A copy: the SDK marks the credentials object it is given (and the config is frozen).
        ...(credentials ? { credentials: { ...credentials } } : {}),
      });
      return analytics;
    },
    async close() {
      cosmos?.client.dispose();
      cosmos?.agent?.destroy();
      analytics?.destroy();
      cosmos = undefined;
      analytics = undefined;
      blobs = undefined;
    },
  };
}

let worker: Runtime | undefined;

/** The worker's runtime: config from app settings (process.env), clients shared by all invocations. */
export function workerRuntime(): Runtime {
  worker ??= createRuntime(workerConfig());
  return worker;
}
