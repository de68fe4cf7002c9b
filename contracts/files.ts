/**
 * The two file protocols every writer of shared state uses: replace a file atomically (write a unique
 * temp file beside it, then rename over it, so a reader sees the old or the new content, never half),
 * and hold a lock file created exclusively (O_EXCL) for a read-modify-write across processes.
 *
 * The lock protocol is itself a contract: `iot-ingest devices` and the running IoT Hub emulator both
 * change `registry.json` under `registry.json.lock`, and every `npm run <part>` merges its key into
 * `connections.json` under `connections.json.lock`.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface AtomicWriteOptions {
  /** File mode of the new file. Default 0o644; use 0o600 for anything holding keys. */
  readonly mode?: number;
  /** Also survive a power loss: fsync the new content before the rename and the directory after it. Default false. */
  readonly durable?: boolean;
}

/** Replace `file` with `data` atomically. The temp name is unique, so concurrent writers never share one. */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    if (options.durable) {
      const handle = await open(temp, 'wx', options.mode ?? 0o644);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } else {
      await writeFile(temp, data, { mode: options.mode ?? 0o644 });
    }
    await rename(temp, file);
    if (options.durable) {
      const dir = await open(path.dirname(file), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    }
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

export interface FileLockOptions {
  /** A lock file older than this belongs to a process that died holding it, and is taken over. Default 10,000 ms. */
  readonly staleMs?: number;
  /** Give up (and throw) after waiting this long for a live lock. Default 15,000 ms. */
  readonly waitMs?: number;
}

export const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

// Within one process, work on the same lock is chained: the O_EXCL file only arbitrates between processes.
const chains = new Map<string, Promise<unknown>>();

/** Run `work` while holding `lockPath` (created exclusively, removed afterwards). */
export function withFileLock<T>(lockPath: string, work: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const previous = chains.get(lockPath) ?? Promise.resolve();
  const run = previous.then(() => lockAndRun(lockPath, work, options));
  const settled = run.catch(() => undefined);
  chains.set(lockPath, settled);
  void settled.then(() => {
    if (chains.get(lockPath) === settled) chains.delete(lockPath);
  });
  return run;
}

async function lockAndRun<T>(lockPath: string, work: () => Promise<T>, options: FileLockOptions): Promise<T> {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const giveUpAt = Date.now() + (options.waitMs ?? LOCK_WAIT_MS);
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > staleMs) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (Date.now() > giveUpAt)
        throw new Error(
          `cannot lock ${lockPath}: another process has held it for over ${options.waitMs ?? LOCK_WAIT_MS} ms`,
          { cause: err },
        );
      await sleep(Math.min(50, 2 + attempt * 2));
    }
  }
  try {
    return await work();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}
