/**
 * hotPath (consumer group `hot`): the rules file's rules evaluated on the stream as it arrives (the
 * reference architecture's Stream Analytics step), alerts stored in Cosmos DB container `alerts` and
 * POSTed to the alert webhook (its Logic Apps step). See functions/hot/ and docs/hot-path.md.
 *
 * Malformed events are dead-lettered by the other paths as well; here they are only counted and skipped
 * (the blob names are the same, so writing them again is harmless, but not needed).
 */
import type { EventHubHandler, InvocationContext } from '@azure/functions';
import type { Runtime } from './clients.js';
import { readTriggerBatch } from './invocation.js';
import type { Logger } from './log.js';
import { defineEventHubFunction } from './registration.js';
import { HotProcessor } from './hot/processor.js';
import type { BatchResult } from './hot/processor.js';
import { HotStore } from './hot/store.js';

export const HOT_PATH = 'hotPath';

const processors = new WeakMap<Runtime, HotProcessor>();

/** The runtime's one hot processor (its state cache is shared by the trigger and the sweep timer). */
export function hotProcessor(runtime: Runtime): HotProcessor {
  let processor = processors.get(runtime);
  if (!processor) {
    processor = new HotProcessor({
      settings: runtime.config.hot,
      store: new HotStore(() => runtime.alertsContainer()),
      counters: runtime.counters,
    });
    processors.set(runtime, processor);
  }
  return processor;
}

export function createHotPathHandler(runtime: Runtime): EventHubHandler {
  return async (messages, context) => {
    const started = startBatch(messages, context, runtime);
    if (!started) return;
    const result = await started.result;
    started.log.info({ ...started.summary, ...result }, 'hot batch evaluated');
  };
}

/**
 * The trigger batch read and handed to the processor, in a frame of its own: what the handler keeps while
 * the processor awaits Cosmos and the webhook is only the logger and two counts, not the batch's events.
 */
function startBatch(
  messages: unknown,
  context: InvocationContext,
  runtime: Runtime,
): { result: Promise<BatchResult>; log: Logger; summary: { events: number; malformed: number } } | undefined {
  const batch = readTriggerBatch(HOT_PATH, messages, context, runtime);
  const processor = hotProcessor(runtime);
  if (!processor.hasRules) return undefined;
  return {
    result: processor.processRecords(
      batch.readings.map((r) => r.record),
      batch.log,
    ),
    log: batch.log,
    summary: { events: batch.events.length, malformed: batch.malformed.length },
  };
}

export const hotPathFunction = defineEventHubFunction(HOT_PATH, 'hot', createHotPathHandler);
