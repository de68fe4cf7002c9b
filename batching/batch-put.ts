/**
 * BatchPutMessage outcomes, as pure logic shared by every IoT Analytics sink (the edge module's direct
 * sink and the cloud forwarder): an answer or a thrown SDK error → a BatchOutcome. No SDK import here;
 * the sinks make the call.
 *
 * Retryable (PROTOCOLS.md §3.3–3.4): HTTP 429 and 5xx, throttling codes (the SDK's list, including
 * LimitExceededException), timeouts, and network errors; also any error that never got an HTTP answer
 * unless it is a modelled service exception, because losing data is worse than one more try. Everything
 * else (ResourceNotFoundException, InvalidRequestException, bad or missing credentials) is final. The SDK has already retried
 * retryable errors up to its own maxAttempts before the engine sees them.
 */
import type { BatchOutcome, EntryFailure } from './types.js';

const RETRYABLE_CODES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'LimitExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'InternalFailureException',
  'InternalFailure',
  'ServiceUnavailableException',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
/**
 * Errors no retry can fix, even without an HTTP answer: missing or refused credentials. The SDK throws
 * CredentialsProviderError before any request when it finds none; retrying it would go on forever.
 */
const FINAL_CODES = new Set([
  'CredentialsProviderError',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'AccessDeniedException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'MissingAuthenticationToken',
  'ResourceNotFoundException',
]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** The fields of an SDK error this module reads. */
interface AwsErrorLike {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** Whether an entry error code (a string) or a thrown error may succeed when tried again. */
export function isRetryableBatchPutError(error: unknown): boolean {
  if (typeof error === 'string') return RETRYABLE_CODES.has(error);
  const e = error as AwsErrorLike | null | undefined;
  if (!e) return true;
  if ((e.name && FINAL_CODES.has(e.name)) || (e.code && FINAL_CODES.has(e.code))) return false;
  const status = e.$metadata?.httpStatusCode;
  if (status === 429 || (status !== undefined && status >= 500)) return true;
  if (e.$retryable) return true;
  if ((e.name && RETRYABLE_CODES.has(e.name)) || (e.code && (RETRYABLE_CODES.has(e.code) || NETWORK_CODES.has(e.code))))
    return true;
  // No HTTP answer at all: the request never reached the service (network); retry.
  return status === undefined && !(e.name && /Exception$/.test(e.name));
}

/** The answer of a successful call: HTTP 200, with per-entry errors for the messages that failed. */
export function outcomeFromBatchPutResponse(response: {
  batchPutMessageErrorEntries?: ReadonlyArray<{ messageId?: string; errorCode?: string; errorMessage?: string }>;
}): BatchOutcome {
  const failures: EntryFailure[] = (response.batchPutMessageErrorEntries ?? []).map((entry) => ({
    messageId: entry.messageId ?? '',
    code: entry.errorCode ?? 'UnknownError',
    message: entry.errorMessage || 'BatchPutMessage reported an error for this message',
    retryable: isRetryableBatchPutError(entry.errorCode ?? ''),
  }));
  return { type: 'delivered', failures };
}

/** A thrown error: the whole batch failed. */
export function outcomeFromBatchPutError(error: unknown): BatchOutcome {
  const e = error as AwsErrorLike | null | undefined;
  const code = e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error');
  return {
    type: 'failed',
    failure: { code, message: String(e?.message ?? error), retryable: isRetryableBatchPutError(error) },
  };
}
