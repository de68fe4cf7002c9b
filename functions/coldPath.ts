/**
 * coldPath (consumer group `cold`): each invocation appends its records to the cold store as one block
 * per (partition, hour of enqueuedAt) object — `year=YYYY/month=MM/day=DD/hour=HH/p{partition}.jsonl.gz`
 * (coldLayout.ts), readable as soon as the invocation returns. The append protocol (ETag-conditioned
 * commits, redelivery recognised by block id) is coldAppend.ts; the hourly Parquet copy coldCompactor.ts.
 */
import type { EventHubHandler } from '@azure/functions';
import type { Runtime } from './clients.js';
import { ColdAppender } from '@iot-ingest/cold';
import { deadLetterMalformed, readTriggerBatch } from './invocation.js';
import { defineEventHubFunction } from './registration.js';

export const COLD_PATH = 'coldPath';

// One appender per runtime: it remembers each object's ETag and blocks between invocations.
const appenders = new WeakMap<Runtime, ColdAppender>();

export function coldAppender(runtime: Runtime): ColdAppender {
  let appender = appenders.get(runtime);
  if (!appender) appenders.set(runtime, (appender = new ColdAppender(runtime.coldContainer())));
  return appender;
}

export function createColdPathHandler(runtime: Runtime): EventHubHandler {
  return async (messages, context) => {
    const batch = readTriggerBatch(COLD_PATH, messages, context, runtime);
    await deadLetterMalformed(batch, runtime);
    const result = await coldAppender(runtime).append(batch.readings.map((r) => r.record));
    runtime.counters.blobs += result.blocks;
    runtime.counters.coldAlreadyStored += result.alreadyStored;
    batch.log.info(
      { events: batch.events.length, records: batch.readings.length, blocks: result.blocks, objects: result.objects, alreadyStored: result.alreadyStored },
      'cold blocks appended',
    );
  };
}

export const coldPathFunction = defineEventHubFunction(COLD_PATH, 'cold', createColdPathHandler);
