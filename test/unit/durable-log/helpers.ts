/** Shared by the durable log's tests: temp dirs, a logger that records its lines, small append/read helpers. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DurableLog, frameFor } from '../../../durable-log/index.js';
import type { DurableLogOptions, LogFileSystem, LogLogger } from '../../../durable-log/index.js';

export interface LoggedLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

export function recordingLogger(): LogLogger & { lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at = (level: LoggedLine['level']) => (fields: object, message: string) => {
    lines.push({ level, fields: fields as Record<string, unknown>, message });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const dirs: string[] = [];

export async function tempDir(prefix = 'durable-log-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

export function openLog(
  dir: string,
  options: Partial<DurableLogOptions<number>> & { fs?: LogFileSystem } = {},
): Promise<DurableLog<number>> {
  return DurableLog.open<number>({ dir, ...options });
}

/** Appends `text` and resolves with its sequence number once durable. */
export function appendText(log: DurableLog<number>, text: string, timestampMs = Date.now()): Promise<number> {
  return log.append(frameFor(Buffer.from(text)), timestampMs, (seq) => seq);
}

/** Every readable frame of the log, as text, in order. */
export function readAllText(log: DurableLog<number>): string[] {
  const out: string[] = [];
  for (let next = log.beginSeq; next < log.endSeq;) {
    const { frames, next: after } = log.readSync(next);
    out.push(...frames.map((f) => f.payload.toString('utf8')));
    if (after === next) break;
    next = after;
  }
  return out;
}

/** Whether `promise` has settled within a few event-loop turns. */
export async function settlesSoon(promise: Promise<unknown>, ms = 50): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
}
