/**
 * The fault tests' child processes: a TypeScript entry run with tsx from the repository root, resolved
 * once it prints its JSON "ready" line on stdout (rejected if it exits first or stays silent too long).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export function startUntilReady<T extends { msg?: string }>(
  entry: string,
  env: Record<string, string>,
  isReady: (line: T) => boolean,
  children: ChildProcess[],
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; ready: T }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start: ${stderr}`)), timeoutMs);
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as T;
        if (isReady(entry)) {
          clearTimeout(timer);
          resolve({ child, ready: entry });
        }
      } catch {
        // not a JSON line
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code ?? signal}) before it was ready: ${stderr}`));
    });
  });
}

/** Resolves when the child has exited (at once if it already has). */
export const exited = (child: ChildProcess): Promise<unknown> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
