/**
 * Waiting for a child process a benchmark started to say it is ready: the first stdout line that
 * `isReadyLine` accepts, unless the child exits first or `timeoutMs` passes.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ChildStart {
  readonly outcome: 'ready' | 'exited' | 'timeout';
  /** Settles when the child exits (with its code). */
  readonly exited: Promise<number | null>;
}

export async function waitForReadyLine(
  child: ChildProcess,
  isReadyLine: (line: string) => boolean,
  timeoutMs: number,
  onLine: (line: string) => void = () => undefined,
): Promise<ChildStart> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      onLine(line);
      if (isReadyLine(line)) resolve();
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  return { outcome, exited };
}
