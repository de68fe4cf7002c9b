/**
 * The direct sink, exactly the connector's: one BatchPutMessage per batch. How answers and errors map
 * to outcomes (per-entry failures, what is retryable) is shared with the cloud forwarder in
 * batching/batch-put.ts.
 */
import { BatchPutMessageCommand, IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import { outcomeFromBatchPutError, outcomeFromBatchPutResponse } from '@iot-ingest/batching';
import type { Batch, BatchOutcome, Sink } from '@iot-ingest/batching';

/** The slice of the SDK client the sink uses. */
export interface IotAnalyticsLike {
  send(command: BatchPutMessageCommand): Promise<{
    batchPutMessageErrorEntries?: { messageId?: string; errorCode?: string; errorMessage?: string }[];
  }>;
}

export function createIotAnalyticsClient(options: { region: string; endpoint?: string }): IoTAnalyticsClient {
  return new IoTAnalyticsClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
}

export class IotAnalyticsSink implements Sink {
  constructor(private readonly client: IotAnalyticsLike) {}

  async send(batch: Batch): Promise<BatchOutcome> {
    try {
      const response = await this.client.send(
        new BatchPutMessageCommand({
          channelName: batch.channel,
          messages: batch.messages.map((m) => ({ messageId: m.messageId, payload: m.payload })),
        }),
      );
      return outcomeFromBatchPutResponse(response);
    } catch (err) {
      return outcomeFromBatchPutError(err);
    }
  }
}
