/**
 * `.devstack/connections.json`: the one file through which local components publish their endpoints
 * (docs/contracts.md §1). Each component merges only its own key, under a lock file and atomically, so
 * components started separately never clobber each other. Readers (the CLI, tests, benchmarks) find
 * endpoints here or in flags/environment, never by guessing ports.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withFileLock, writeFileAtomic } from './files.js';

/** Keys and shapes written by the components; extra fields are allowed. */
export interface Connections {
  iotHub?: {
    hostName: string;
    mqttPort: number;
    caCertPath: string;
    eventHubsConnectionString: string;
    partitionCount: number;
    amqpPort?: number;
    eventHubName?: string;
    registryPath?: string;
    [extra: string]: unknown;
  };
  edgeModule?: { mqttUrl: string; metricsUrl: string; [extra: string]: unknown };
  storage?: { connectionString: string; coldContainer: string; deadLetterContainer?: string; [extra: string]: unknown };
  cosmos?: {
    endpoint: string;
    key: string;
    database: string;
    container: string;
    caCertPath?: string;
    [extra: string]: unknown;
  };
  iotAnalytics?: { endpoint: string; region: string; [extra: string]: unknown };
  /** The devstack's alert webhook receiver; `url` carries its `sig` (a secret, like a Logic App trigger URL). */
  alertWebhook?: { url: string; [extra: string]: unknown };
  devstack?: { statusUrl?: string; components?: readonly string[]; [extra: string]: unknown };
  ready?: boolean;
  [extra: string]: unknown;
}

/** The devstack state directory: `$IOT_INGEST_DEVSTACK_DIR`, else `.devstack` under the working directory. */
export function devstackDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return path.resolve(env.IOT_INGEST_DEVSTACK_DIR ?? '.devstack');
}

export function connectionsPath(dir = devstackDir()): string {
  return path.join(dir, 'connections.json');
}

function parse(text: string, file: string): Connections {
  try {
    return JSON.parse(text) as Connections;
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The file's content; `{}` when it does not exist. */
export async function readConnections(dir = devstackDir()): Promise<Connections> {
  const file = connectionsPath(dir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parse(text, file);
}

export function readConnectionsSync(dir = devstackDir()): Connections {
  const file = connectionsPath(dir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parse(text, file);
}

/** Merge `value` under `key` (or delete the key when value is undefined), atomically. Keys are secrets: 0600. */
export async function mergeConnection<K extends keyof Connections & string>(
  key: K,
  value: Connections[K] | undefined,
  dir = devstackDir(),
): Promise<Connections> {
  await mkdir(dir, { recursive: true });
  const target = connectionsPath(dir);
  return withFileLock(`${target}.lock`, async () => {
    const current = await readConnections(dir);
    if (value === undefined) delete current[key];
    else current[key] = value;
    await writeFileAtomic(target, JSON.stringify(current, null, 2) + '\n', { mode: 0o600 });
    return current;
  });
}
