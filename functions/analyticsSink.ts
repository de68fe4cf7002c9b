/**
 * The forwarder's `Sink`: one batch → one BatchPutMessage call (`@aws-sdk/client-iotanalytics`).
 *
 * Outcome mapping (PROTOCOLS.md §3): HTTP 200 with `batchPutMessageErrorEntries` → per-entry failures;
 * any thrown error → the whole batch failed. Throttling, 5xx and network errors are retryable (the SDK
 * has already retried them up to its own maxAttempts); other client errors (missing channel, invalid
 * request) are not, and end in the dead-letter container.
 */
import { BatchPutMessageCommand } from '@aws-sdk/client-iotanalytics';
import type { IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import type { Batch, BatchOutcome, Sink } from '../batching/types.js';

const RETRYABLE_CODES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'LimitExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'InternalFailureException',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Whether a BatchPutMessage failure (thrown error or entry error code) may succeed if tried again. */
export function isRetryable(err: unknown): boolean {
  if (typeof err === 'string') return RETRYABLE_CODES.has(err);
  const e = err as { name?: string; code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined) return status === 429 || status >= 500 || RETRYABLE_CODES.has(e.name ?? '');
  return RETRYABLE_CODES.has(e?.name ?? '') || NETWORK_CODES.has(e?.code ?? '') || e?.$retryable !== undefined;
}

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
            messages: batch.messages.map((m) => ({ messageId: m.id, payload: m.payload })),
          }),
        );
        const failures = (response.batchPutMessageErrorEntries ?? []).map((entry) => ({
          messageId: entry.messageId ?? '',
          code: entry.errorCode ?? 'UnknownError',
          message: entry.errorMessage ?? '',
          retryable: isRetryable(entry.errorCode ?? ''),
        }));
        return { type: 'delivered', failures };
      } catch (err) {
        const e = err as { name?: string; code?: string; message?: string };
        return {
          type: 'failed',
          failure: { code: e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error'), message: String(e?.message ?? err), retryable: isRetryable(err) },
        };
      }
    },
  };
}
