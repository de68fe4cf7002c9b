/**
 * What every function does first with its trigger batch: read events into records, and dead-letter
 * (log + blob) whatever is malformed — without blocking the rest of the batch.
 */
import type { InvocationContext } from '@azure/functions';
import type { Runtime } from './clients.js';
import { writeMalformed } from './deadLetter.js';
import type { Logger } from './log.js';
import { functionsLogger } from './log.js';
import type { MalformedEvent, Reading, RecordOptions, TelemetryEvent } from './record.js';
import { toReadingsAll } from './record.js';
import { ResendFilter } from './resend.js';
import { eventsFromTrigger } from './trigger.js';

export interface TriggerBatch {
  readonly events: TelemetryEvent[];
  readonly readings: Reading[];
  readonly malformed: MalformedEvent[];
  readonly partition: string;
  readonly firstSequenceNumber: number;
  readonly lastSequenceNumber: number;
  readonly log: Logger;
}

/** The record options of a config: built once per config (the trusted set is looked up per event). */
const recordOptionsCache = new WeakMap<Runtime['config'], RecordOptions>();

function recordOptions(config: Runtime['config']): RecordOptions {
  let options = recordOptionsCache.get(config);
  if (!options) {
    options = { defaultChannel: config.analytics.connector.defaultChannelName, trustedModules: new Set(config.edge.trustedModules) };
    recordOptionsCache.set(config, options);
  }
  return options;
}

/** One re-send window per runtime (a worker's, or a test's). */
const resendFilters = new WeakMap<Runtime, ResendFilter>();

export function readTriggerBatch(functionName: string, messages: unknown, context: InvocationContext, runtime: Runtime): TriggerBatch {
  const events = eventsFromTrigger(messages, context.triggerMetadata);
  const normalized = toReadingsAll(events, recordOptions(runtime.config));
  const malformed = normalized.malformed;
  let firstSequenceNumber = -1;
  let lastSequenceNumber = -1;
  for (const e of events) {
    if (firstSequenceNumber < 0 || e.sequenceNumber < firstSequenceNumber) firstSequenceNumber = e.sequenceNumber;
    if (e.sequenceNumber > lastSequenceNumber) lastSequenceNumber = e.sequenceNumber;
  }
  const partition = events[0]?.partition ?? '?';
  let filter = resendFilters.get(runtime);
  if (!filter) {
    filter = new ResendFilter();
    resendFilters.set(runtime, filter);
  }
  const { readings, resent } = filter.filter(`${functionName}/${partition}`, firstSequenceNumber, lastSequenceNumber, normalized.readings);
  const log = functionsLogger.child({
    function: functionName,
    invocationId: context.invocationId,
    partition,
    firstSequenceNumber,
    lastSequenceNumber,
    ...(context.retryContext ? { retryCount: context.retryContext.retryCount } : {}),
  });
  if (resent > 0) log.info({ resent }, 'edge readings re-sent after a module restart skipped (already written)');
  return { events, readings, malformed, partition, firstSequenceNumber, lastSequenceNumber, log };
}

/** Log each malformed item with its position and write it to the dead-letter container. */
export async function deadLetterMalformed(batch: TriggerBatch, runtime: Runtime): Promise<void> {
  if (batch.malformed.length === 0) return;
  for (const item of batch.malformed) {
    batch.log.warn(
      { sequenceNumber: item.sequenceNumber, offset: item.offset, badEntries: item.entries?.length, deviceId: item.deviceId, reason: item.reason },
      'malformed event dead-lettered',
    );
  }
  const blobs = await writeMalformed(runtime.deadLetterContainer(), batch.malformed);
  runtime.counters.malformed += batch.malformed.length;
  runtime.counters.blobs += blobs;
}
