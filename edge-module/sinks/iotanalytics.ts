/**
 * The direct sink, exactly the connector's: one BatchPutMessage per batch. Per-entry errors become
 * EntryFailures (final); throttling, 5xx and network errors are retryable (after the SDK's own retries),
 * so the batch goes back to the front of its queue; other errors (ResourceNotFound, InvalidRequest) are final.
 */
import { BatchPutMessageCommand, IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import type { Batch, BatchOutcome, Sink } from '../../batching/types.js';

/** The slice of the SDK client the sink uses. */
export interface IotAnalyticsLike {
  send(command: BatchPutMessageCommand): Promise<{
    batchPutMessageErrorEntries?: { messageId?: string; errorCode?: string; errorMessage?: string }[];
  }>;
}

const RETRYABLE_CODES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'LimitExceededException',
  'InternalFailureException',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

export function isRetryableAwsError(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown } | null;
  if (!e) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === 429 || (status !== undefined && status >= 500)) return true;
  if (e.$retryable) return true;
  if ((e.name && RETRYABLE_CODES.has(e.name)) || (e.code && RETRYABLE_CODES.has(e.code))) return true;
  // No HTTP status at all: the request never got an answer (network); retry.
  return status === undefined && !(e.name && /Exception$/.test(e.name));
}

export function createIotAnalyticsClient(options: { region: string; endpoint?: string }): IoTAnalyticsClient {
  return new IoTAnalyticsClient({ region: options.region, ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
}

export class IotAnalyticsSink implements Sink {
  constructor(private readonly client: IotAnalyticsLike) {}

  async send(batch: Batch): Promise<BatchOutcome> {
    try {
      const response = await this.client.send(
        new BatchPutMessageCommand({
          channelName: batch.channel,
          messages: batch.messages.map((m) => ({ messageId: m.id, payload: m.payload })),
        }),
      );
      const failures = (response.batchPutMessageErrorEntries ?? []).map((entry) => ({
        messageId: entry.messageId ?? '',
        code: entry.errorCode ?? 'UnknownError',
        message: entry.errorMessage ?? 'BatchPutMessage reported an error for this message',
        retryable: false,
      }));
      return { type: 'delivered', failures };
    } catch (err) {
      const e = err as { name?: string; message?: string };
      return {
        type: 'failed',
        failure: { code: e?.name ?? 'Error', message: e?.message ?? String(err), retryable: isRetryableAwsError(err) },
      };
    }
  }
}
