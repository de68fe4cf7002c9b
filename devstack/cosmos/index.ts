/**
 * `@vercel/cosmosdb-server` over HTTPS: the devstack's Cosmos DB.
 *
 * Invariants: the server presents a certificate from the devstack CA (its bundled one expired in
 * 2021), answers with keep-alive (else every request is a new TLS handshake), and the database and
 * container (partition key `/pk`, default TTL) exist before `startCosmos` resolves.
 * Limits of the server, by design of that package: data in memory only (a restart starts empty),
 * no GROUP BY, and the default TTL is stored but never enforced.
 */
import type { AddressInfo } from 'node:net';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { ensureDevstackCertificates } from '../certs.js';
import { CosmosClient } from '@azure/cosmos';
import { cosmosClientOptions } from '@iot-ingest/contracts';

/** The Cosmos DB emulator's well-known key (public, documented by Microsoft; not a secret). */
export const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
export const DEFAULT_DATABASE = 'iot-ingest';
export const DEFAULT_CONTAINER = 'telemetry';
export const DEFAULT_TTL_SECONDS = 30 * 24 * 3600;

export interface CosmosOptions {
  /** Devstack state directory; only its `certs/` is used (the server keeps data in memory). */
  dir: string;
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  database?: string;
  container?: string;
  /** Container default TTL; stored by the server, not enforced. Default 30 days. */
  defaultTtlSeconds?: number;
}

// A type alias (not an interface) so it can be passed to mergeConnection as is.
export type CosmosConnection = {
  /** `https://<host>:<port>/` */
  endpoint: string;
  key: string;
  database: string;
  container: string;
  /** The devstack CA that signed the server certificate; trust it per client. */
  caCertPath: string;
};

export interface CosmosServer {
  connection: CosmosConnection;
  stop(): Promise<void>;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startCosmos(options: CosmosOptions): Promise<CosmosServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const database = options.database ?? DEFAULT_DATABASE;
  const container = options.container ?? DEFAULT_CONTAINER;
  const defaultTtlSeconds = options.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`cosmos port: ${String(port)} is not a port number (0–65535, 0 = any free port)`);
  }
  // -1 means "on, no default expiry" in Cosmos DB; 0 is refused by the real service.
  if (!Number.isInteger(defaultTtlSeconds) || (defaultTtlSeconds < 1 && defaultTtlSeconds !== -1)) {
    throw new Error(`cosmos defaultTtlSeconds: ${String(defaultTtlSeconds)} must be a positive integer or -1`);
  }

  const certs = await ensureDevstackCertificates(options.dir);
  const server = createHttpsServer({ cert: certs.serverCert, key: certs.serverKey, keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`cosmos: cannot listen on ${host}:${port}: ${err.message}`, { cause: err })),
    );
    server.listen(port, host, () => resolve());
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Keep-alive clients would otherwise hold the server open until their idle timeout.
      server.closeAllConnections();
    }));

  const actualPort = (server.address() as AddressInfo).port;
  const connection: CosmosConnection = {
    endpoint: `https://${urlHost(host)}:${actualPort}/`,
    key: EMULATOR_KEY,
    database,
    container,
    caCertPath: certs.caCertPath,
  };
  const client = new CosmosClient(cosmosClientOptions(connection));
  try {
    const { database: db } = await client.databases.createIfNotExists({ id: database });
    await db.containers.createIfNotExists({
      id: container,
      partitionKey: { paths: ['/pk'] },
      defaultTtl: defaultTtlSeconds,
    });
  } catch (err) {
    await stop();
    throw new Error(
      `cosmos: the server started but ${database}/${container} could not be created: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  } finally {
    client.dispose();
  }
  return { connection, stop };
}
