/**
 * SDK clients built from resolved endpoints, shared by the CLI and the devstack launchers.
 *
 * Trust is per client: a devstack CA (`caCertPath`) goes into that one client's HTTPS agent; TLS
 * verification is never turned off process-wide. Without a CA the platform's trust store applies
 * (a real Cosmos DB account).
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { CosmosClient } from '@azure/cosmos';
import type { CosmosClientOptions } from '@azure/cosmos';

export interface CosmosClientSettings {
  endpoint: string;
  /** Account key; when absent, `credential` (Microsoft Entra ID) is required. */
  key?: string;
  /** A token credential (e.g. DefaultAzureCredential) for an account reached without a key. */
  credential?: CosmosClientOptions['aadCredentials'];
  /** PEM file of a CA to trust for this client only (the devstack CA). */
  caCertPath?: string;
}

export function createCosmosClient(settings: CosmosClientSettings): CosmosClient {
  if (!settings.key && !settings.credential) {
    throw new Error(`cosmos: ${settings.endpoint} needs a key or a token credential`);
  }
  let ca: string | undefined;
  if (settings.caCertPath) {
    try {
      ca = readFileSync(settings.caCertPath, 'utf8');
    } catch (err) {
      throw new Error(`cosmos caCertPath: cannot read '${settings.caCertPath}': ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return new CosmosClient({
    endpoint: settings.endpoint,
    ...(settings.key ? { key: settings.key } : { aadCredentials: settings.credential }),
    // keepAlive: one TLS handshake per connection, not per request.
    ...(ca ? { agent: new https.Agent({ ca, keepAlive: true }) } : {}),
    // The local server and a single-region account have no other regions to discover.
    connectionPolicy: { enableEndpointDiscovery: false },
  });
}
