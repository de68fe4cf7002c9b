/**
 * The IoT Hub emulator's durable partitioned log (the seam in `../log-types.ts`).
 *
 * Layout under `dir`: `log.json` (the format and the partition count it was created with) and one folder
 * per partition, `p<n>/<20-digit base offset>.seg`, each a @iot-ingest/durable-log segment whose frames
 * hold one event each (`record.ts`). Durability, ordering and retention rules are in `partition.ts`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@iot-ingest/contracts';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { HubEventInput, PartitionedLog, PartitionHealth, PartitionInfo, StoredEvent } from '../log-types.js';
import { partitionForKey } from './hash.js';
import { PartitionLog } from './partition.js';

export interface OpenPartitionedLogOptions {
  /** State directory (e.g. `.devstack/iothub/log`); created if missing. */
  dir: string;
  /** 1–1024. Must match the count an existing log was created with. */
  partitionCount: number;
  /** Longest an append waits for its fsync batch. Default 5 ms; 0 = flush on every append burst. */
  fsyncIntervalMs?: number;
  /** Per partition: delete the oldest segments while the partition is larger. Default: no limit. */
  retentionBytes?: number;
  /** Delete segments whose newest event is older than this. Default: no limit. */
  retentionMs?: number;
  /** Per partition: start a new segment file beyond this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Pending bytes per partition that trigger a flush before the interval ends. Default 1 MiB. */
  flushBytes?: number;
  /** Per partition: recent events kept in memory for readers. Default 16 MiB. */
  cacheBytes?: number;
  /** How often retention is checked besides after each flush. Default 10 s. */
  retentionCheckIntervalMs?: number;
  logger?: Logger;
}

const DEFAULTS = {
  fsyncIntervalMs: 5,
  segmentBytes: 64 * 1024 * 1024,
  flushBytes: 1024 * 1024,
  cacheBytes: 16 * 1024 * 1024,
  retentionCheckIntervalMs: 10_000,
} as const;

const MAX_PARTITIONS = 1024;
const LOG_META_FILE = 'log.json';
/** 1: the emulator's own frames (before the shared durable log); 2: durable-log frames. */
const LOG_FORMAT = 2;

function requireInteger(name: string, value: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`openPartitionedLog: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

async function checkPartitionCount(dir: string, partitionCount: number): Promise<void> {
  const file = path.join(dir, LOG_META_FILE);
  let existing: { version?: unknown; partitionCount?: unknown } | undefined;
  try {
    existing = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; partitionCount?: unknown };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (existing) {
    if (existing.version !== LOG_FORMAT) {
      throw new Error(
        `openPartitionedLog: the log in ${dir} is in format ${String(existing.version)}, this emulator reads format ${LOG_FORMAT}; it is local state: start empty (npm start -- --reset) or use a new dir`,
      );
    }
    if (existing.partitionCount !== partitionCount) {
      throw new Error(
        `openPartitionedLog: partitionCount ${partitionCount} does not match the log in ${dir}, created with ${String(existing.partitionCount)} partitions (use that count or a new dir)`,
      );
    }
    return;
  }
  await writeFileAtomic(file, `${JSON.stringify({ version: LOG_FORMAT, partitionCount })}\n`);
}

export async function openPartitionedLog(options: OpenPartitionedLogOptions): Promise<PartitionedLog> {
  const { dir, partitionCount } = options;
  requireInteger('partitionCount', partitionCount, 1, MAX_PARTITIONS);
  requireInteger('fsyncIntervalMs', options.fsyncIntervalMs, 0, 60_000);
  requireInteger('retentionBytes', options.retentionBytes, 1);
  requireInteger('retentionMs', options.retentionMs, 1);
  requireInteger('segmentBytes', options.segmentBytes, 1024);
  requireInteger('flushBytes', options.flushBytes, 1);
  requireInteger('cacheBytes', options.cacheBytes, 0);
  requireInteger('retentionCheckIntervalMs', options.retentionCheckIntervalMs, 1);
  const logger = (options.logger ?? pino({ name: 'iot-ingest:iothub-log', level: process.env.LOG_LEVEL ?? 'info' })).child({
    component: 'iothub-log',
  });
  await mkdir(dir, { recursive: true });
  await checkPartitionCount(dir, partitionCount);
  const partitionOptions = {
    fsyncIntervalMs: options.fsyncIntervalMs ?? DEFAULTS.fsyncIntervalMs,
    flushBytes: options.flushBytes ?? DEFAULTS.flushBytes,
    segmentBytes: options.segmentBytes ?? DEFAULTS.segmentBytes,
    cacheBytes: options.cacheBytes ?? DEFAULTS.cacheBytes,
    retentionBytes: options.retentionBytes,
    retentionMs: options.retentionMs,
    logger,
  };
  const partitions = await Promise.all(
    Array.from({ length: partitionCount }, (_, p) => PartitionLog.open(p, path.join(dir, `p${p}`), partitionOptions)),
  );
  let retentionTimer: NodeJS.Timeout | undefined;
  if (options.retentionBytes !== undefined || options.retentionMs !== undefined) {
    retentionTimer = setInterval(() => {
      const now = Date.now();
      for (const partition of partitions) {
        try {
          partition.enforceRetention(now);
        } catch (error) {
          logger.error({ partition: partition.partition, err: error }, 'retention check failed');
        }
      }
    }, options.retentionCheckIntervalMs ?? DEFAULTS.retentionCheckIntervalMs);
    retentionTimer.unref();
  }

  function partitionAt(partition: number): PartitionLog {
    const found = Number.isInteger(partition) ? partitions[partition] : undefined;
    if (!found) throw new RangeError(`partition ${String(partition)} does not exist (partitions 0–${partitionCount - 1})`);
    return found;
  }

  const log: PartitionedLog = {
    partitionCount,
    partitionFor: (key: string): number => partitionForKey(key, partitionCount),
    append(event: HubEventInput, partition?: number): Promise<StoredEvent> {
      try {
        const target = partition ?? partitionForKey(event.partitionKey ?? event.deviceId, partitionCount);
        return partitionAt(target).append(event);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    read: (partition: number, fromSequenceNumber: number, max: number): readonly StoredEvent[] =>
      partitionAt(partition).read(fromSequenceNumber, max),
    sequenceNumberAfterTime: (partition: number, epochMs: number): number =>
      partitionAt(partition).sequenceNumberAfterTime(epochMs),
    sequenceNumberForOffset: (partition: number, offset: string): number | undefined =>
      partitionAt(partition).sequenceNumberForOffset(offset),
    info: (partition: number): PartitionInfo => partitionAt(partition).info(),
    health: (partition: number): PartitionHealth => partitionAt(partition).health(),
    onAppend: (partition: number, listener: (event: StoredEvent) => void): (() => void) =>
      partitionAt(partition).onAppend(listener),
    async close(): Promise<void> {
      if (retentionTimer) clearInterval(retentionTimer);
      retentionTimer = undefined;
      await Promise.all(partitions.map((partition) => partition.close()));
    },
  };
  return log;
}
