/**
 * `.devstack/connections.json`: the one file through which local components publish their endpoints.
 *
 * Each component merges only its own key, atomically (temp file + rename), so components started
 * separately never clobber each other. Readers (the CLI, tests, benchmarks) find endpoints here or in
 * flags/environment, never by guessing ports.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Keys and shapes written by the components (see ARCHITECTURE.md and the issues). */
export interface Connections {
  iotHub?: {
    hostName: string;
    mqttPort: number;
    caCertPath: string;
    eventHubsConnectionString: string;
    partitionCount: number;
    [extra: string]: unknown;
  };
  edgeModule?: { mqttUrl: string; metricsUrl: string; [extra: string]: unknown };
  storage?: { connectionString: string; coldContainer: string; [extra: string]: unknown };
  cosmos?: { endpoint: string; key: string; database: string; container: string; [extra: string]: unknown };
  iotAnalytics?: { endpoint: string; region: string; [extra: string]: unknown };
  ready?: boolean;
  [extra: string]: unknown;
}

/** The devstack state directory: `$IOT_INGEST_DEVSTACK_DIR`, else `.devstack` under the working directory. */
export function devstackDir(): string {
  return path.resolve(process.env.IOT_INGEST_DEVSTACK_DIR ?? '.devstack');
}

export function connectionsPath(dir = devstackDir()): string {
  return path.join(dir, 'connections.json');
}

export async function readConnections(dir = devstackDir()): Promise<Connections> {
  try {
    return JSON.parse(await readFile(connectionsPath(dir), 'utf8')) as Connections;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${connectionsPath(dir)}: ${(err as Error).message}`, { cause: err });
  }
}

export function readConnectionsSync(dir = devstackDir()): Connections {
  try {
    return JSON.parse(readFileSync(connectionsPath(dir), 'utf8')) as Connections;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${connectionsPath(dir)}: ${(err as Error).message}`, { cause: err });
  }
}

// Merges within one process are serialised so two components in one process never race each other;
// across processes the rename makes each write atomic (last writer of a key wins, other keys survive
// unless two processes merge at the same instant, which the devstack never does).
let queue: Promise<unknown> = Promise.resolve();

/** Merge `value` under `key` (or delete the key when value is undefined), atomically. */
export function mergeConnection<K extends keyof Connections & string>(
  key: K,
  value: Connections[K] | undefined,
  dir = devstackDir(),
): Promise<Connections> {
  const run = queue.then(async () => {
    await mkdir(dir, { recursive: true });
    const current = await readConnections(dir);
    if (value === undefined) delete current[key];
    else current[key] = value;
    const target = connectionsPath(dir);
    const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temp, JSON.stringify(current, null, 2) + '\n', { mode: 0o600 });
    await rename(temp, target);
    return current;
  });
  queue = run.catch(() => undefined);
  return run;
}
