/**
 * `.devstack/connections.json`: the one file through which local components publish their endpoints.
 *
 * Each component merges only its own key, atomically (temp file + rename), so components started
 * separately never clobber each other. Readers (the CLI, tests, benchmarks) find endpoints here or in
 * flags/environment, never by guessing ports.
 */
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
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

// Merges within one process are serialised by a promise chain; across processes by a lock file created
// with O_EXCL (a read-modify-write without it could lose a key when two components start at once).
// Each write is a temp file + rename, so readers never see a half-written file.
let queue: Promise<unknown> = Promise.resolve();

const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

async function withLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const lockPath = path.join(dir, 'connections.json.lock');
  const giveUpAt = Date.now() + LOCK_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a crashed process is taken over once it is clearly stale.
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS) await unlink(lockPath).catch(() => undefined);
      if (Date.now() > giveUpAt)
        throw new Error(`cannot lock ${lockPath}: held for over ${LOCK_WAIT_MS} ms`, { cause: err });
      await sleep(Math.min(50, 2 + attempt * 2));
    }
  }
  try {
    return await work();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

/** Merge `value` under `key` (or delete the key when value is undefined), atomically. */
export function mergeConnection<K extends keyof Connections & string>(
  key: K,
  value: Connections[K] | undefined,
  dir = devstackDir(),
): Promise<Connections> {
  const run = queue.then(async () => {
    await mkdir(dir, { recursive: true });
    return withLock(dir, async () => {
      const current = await readConnections(dir);
      if (value === undefined) delete current[key];
      else current[key] = value;
      const target = connectionsPath(dir);
      const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(temp, JSON.stringify(current, null, 2) + '\n', { mode: 0o600 });
      await rename(temp, target);
      return current;
    });
  });
  queue = run.catch(() => undefined);
  return run;
}
