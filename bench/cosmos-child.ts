/**
 * The devstack Cosmos DB server in its own process (`npm run cosmos` with a given state dir and a free
 * port), for benchmarks: the server's work then does not share the measured process's event loop, as a
 * real account's does not.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface CosmosChild {
  endpoint: string;
  key: string;
  database: string;
  caCertPath: string;
  stop(): Promise<void>;
}

export async function startCosmosChild(dir: string): Promise<CosmosChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'devstack/cosmos/main.ts', '--port', '0'], {
    env: { ...process.env, IOT_INGEST_DEVSTACK_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Cosmos DB server on')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`cosmos child exited (${String(code)}): ${output.slice(-500)}`)));
  });
  const connections = JSON.parse(await readFile(path.join(dir, 'connections.json'), 'utf8')) as {
    cosmos: { endpoint: string; key: string; database: string; caCertPath: string };
  };
  return {
    ...connections.cosmos,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
