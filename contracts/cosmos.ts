/**
 * How a Cosmos DB endpoint (a connections.json `cosmos` entry, CLI flags or app settings) becomes client
 * options, for every CosmosClient the project builds (the Functions app, the CLI, the devstack's probes).
 *
 * Trust is per client: a devstack CA (`caCertPath`) goes into that one client's HTTPS agent; TLS checks
 * are never turned off process-wide. Without a CA the platform's trust store applies (a real account).
 * Structural types keep this package free of the Cosmos SDK; the result is a valid `CosmosClientOptions`.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';

export interface CosmosEndpointSettings<Credential> {
  readonly endpoint: string;
  /** Account key; when absent, `credential` (Microsoft Entra ID, e.g. a managed identity) is required. */
  readonly key?: string | undefined;
  readonly credential?: Credential | undefined;
  /** PEM file of a CA to trust for this client only (the devstack CA). */
  readonly caCertPath?: string | undefined;
}

export interface CosmosClientOptionsLike<Credential> {
  endpoint: string;
  key?: string;
  aadCredentials?: Credential;
  agent?: https.Agent;
  connectionPolicy: { enableEndpointDiscovery: boolean };
}

export function cosmosClientOptions<Credential = never>(
  settings: CosmosEndpointSettings<Credential>,
): CosmosClientOptionsLike<Credential> {
  if (!settings.key && settings.credential === undefined) {
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
  return {
    endpoint: settings.endpoint,
    ...(settings.key ? { key: settings.key } : { aadCredentials: settings.credential as Credential }),
    // keepAlive: one TLS handshake per connection, not per request (the local server closes idle ones otherwise).
    ...(ca ? { agent: new https.Agent({ ca, keepAlive: true }) } : {}),
    // The local server and a single-region account have no other regions to discover.
    connectionPolicy: { enableEndpointDiscovery: false },
  };
}
