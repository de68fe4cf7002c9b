/**
 * Azurite Blob, in process: the devstack's Blob Storage.
 *
 * Invariants: state lives under `<dir>/azurite/` (never Azurite's cwd-relative default), the telemetry
 * CLI path is never used (the in-process server sends nothing out of the machine), and the API version
 * check is off because `@azure/storage-blob` 12.32 speaks a newer x-ms-version than Azurite 3.35 knows.
 * The containers the pipeline writes to exist before `startStorage` resolves.
 */
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import type BlobServerClass from 'azurite/dist/src/blob/BlobServer.js';
import type BlobConfigurationClass from 'azurite/dist/src/blob/BlobConfiguration.js';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export const COLD_CONTAINER = 'telemetry';
export const DEAD_LETTER_CONTAINER = 'analytics-deadletter';

export interface StorageOptions {
  /** Devstack state directory; Azurite keeps its files in `<dir>/azurite/`. */
  dir: string;
  /** Listen address, default `127.0.0.1`. */
  host?: string;
  /** Listen port, default 0 (a free port). */
  port?: number;
  /** Extra containers to create besides `telemetry` and `analytics-deadletter`. */
  containers?: string[];
}

// A type alias (not an interface) so it can be passed to mergeConnection as is.
export type StorageConnection = {
  connectionString: string;
  coldContainer: typeof COLD_CONTAINER;
  deadLetterContainer: typeof DEAD_LETTER_CONTAINER;
  /** `http://<host>:<port>/devstoreaccount1` */
  blobEndpoint: string;
};

export interface StorageServer {
  connection: StorageConnection;
  stop(): Promise<void>;
}

// Azurite's deep modules are CommonJS with `exports.default`; require() gives the same shape under
// every loader (tsx, vitest, node), where import() interop differs.
const require = createRequire(import.meta.url);

function loadAzurite(): { BlobServer: typeof BlobServerClass; BlobConfiguration: typeof BlobConfigurationClass } {
  const server = require('azurite/dist/src/blob/BlobServer.js') as { default: typeof BlobServerClass };
  const config = require('azurite/dist/src/blob/BlobConfiguration.js') as { default: typeof BlobConfigurationClass };
  return { BlobServer: server.default, BlobConfiguration: config.default };
}

export function storageConnectionString(blobEndpoint: string): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
    `BlobEndpoint=${blobEndpoint};`
  );
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startStorage(options: StorageOptions): Promise<StorageServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`storage port: ${String(port)} is not a port number (0–65535, 0 = any free port)`);
  }
  const stateDir = path.resolve(options.dir, 'azurite');
  await mkdir(stateDir, { recursive: true });

  const { BlobServer, BlobConfiguration } = loadAzurite();
  const config = new BlobConfiguration(
    host,
    port,
    undefined, // keepAliveTimeout: Azurite's default
    path.join(stateDir, '__azurite_db_blob__.json'),
    path.join(stateDir, '__azurite_db_blob_extent__.json'),
    [{ locationId: 'Default', locationPath: path.join(stateDir, '__blobstorage__'), maxConcurrency: 10 }],
    false, // access log: off (it would go to stdout)
    undefined,
    false, // debug log: off
    undefined,
    false, // loose
    true, // skipApiVersionCheck
  );
  const server = new BlobServer(config);
  try {
    await server.start();
  } catch (err) {
    throw new Error(`storage: Azurite could not listen on ${host}:${port}: ${(err as Error).message}`, {
      cause: err,
    });
  }

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= server.close());

  try {
    const actualPort = Number(new URL(server.getHttpServerAddress()).port);
    const blobEndpoint = `http://${urlHost(host)}:${actualPort}/${DEV_ACCOUNT_NAME}`;
    const connectionString = storageConnectionString(blobEndpoint);
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const names = new Set([COLD_CONTAINER, DEAD_LETTER_CONTAINER, ...(options.containers ?? [])]);
    for (const name of names) await service.getContainerClient(name).createIfNotExists();
    return {
      connection: {
        connectionString,
        coldContainer: COLD_CONTAINER,
        deadLetterContainer: DEAD_LETTER_CONTAINER,
        blobEndpoint,
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw new Error(`storage: Azurite started but the containers could not be created: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
