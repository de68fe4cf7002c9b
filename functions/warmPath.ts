/**
 * warmPath (consumer group `warm`): every reading into Cosmos DB, plus the `latest` document per device.
 * See warmWriter.ts for the invariants. A batch that still fails after the SDK's retries throws, so the
 * host replays it (deterministic ids: no duplicates).
 */
import type { EventHubHandler } from '@azure/functions';
import type { Runtime } from './clients.js';
import { deadLetterMalformed, readTriggerBatch } from './invocation.js';
import { defineEventHubFunction } from './registration.js';
import { writeWarm } from './warmWriter.js';

export const WARM_PATH = 'warmPath';

export function createWarmPathHandler(runtime: Runtime): EventHubHandler {
  return async (messages, context) => {
    const batch = readTriggerBatch(WARM_PATH, messages, context, runtime);
    await deadLetterMalformed(batch, runtime);
    const result = await writeWarm(
      runtime.cosmosContainer(),
      batch.readings.map((r) => r.record),
      { ttlSeconds: runtime.config.cosmos.defaultTtlSeconds },
    );
    runtime.counters.documents += result.documents;
    runtime.counters.latestUpdated += result.latestUpdated;
    batch.log.info({ events: batch.events.length, ...result, malformed: batch.malformed.length }, 'warm batch written');
  };
}

export const warmPathFunction = defineEventHubFunction(WARM_PATH, 'warm', createWarmPathHandler);
