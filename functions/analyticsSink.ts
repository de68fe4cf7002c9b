/**
 * The forwarder's `Sink`: one batch → one BatchPutMessage call (`@aws-sdk/client-iotanalytics`).
 *
 * Outcome mapping (shared with the edge module's direct sink, batching/batch-put.ts): HTTP 200 with
 * `batchPutMessageErrorEntries` → per-entry failures; a thrown error → the whole batch failed; throttling,
 * 5xx and network errors are retryable; the rest (missing channel, invalid request) ends in the
 * dead-letter container.
 */
import { BatchPutMessageCommand } from '@aws-sdk/client-iotanalytics';
import type { IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import { outcomeFromBatchPutError, outcomeFromBatchPutResponse } from '@iot-ingest/batching';
import type { Batch, BatchOutcome, Sink } from '@iot-ingest/batching';

export interface CountingSink extends Sink {
  /** BatchPutMessage calls made, per channel. */
  readonly callsPerChannel: Map<string, number>;
}

export function createIotAnalyticsSink(client: IoTAnalyticsClient): CountingSink {
  const callsPerChannel = new Map<string, number>();
  return {
    callsPerChannel,
    async send(batch: Batch): Promise<BatchOutcome> {
      callsPerChannel.set(batch.channel, (callsPerChannel.get(batch.channel) ?? 0) + 1);
      try {
        const response = await client.send(
          new BatchPutMessageCommand({
            channelName: batch.channel,
            messages: batch.messages.map((m) => ({ messageId: m.messageId, payload: m.payload })),
          }),
        );
        return outcomeFromBatchPutResponse(response);
      } catch (err) {
        return outcomeFromBatchPutError(err);
      }
    },
  };
}
