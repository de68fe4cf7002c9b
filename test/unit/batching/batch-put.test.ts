import { describe, expect, it } from 'vitest';
import {
  isRetryableBatchPutError,
  outcomeFromBatchPutError,
  outcomeFromBatchPutResponse,
} from '../../../batching/batch-put.js';

const awsError = (name: string, status?: number) =>
  Object.assign(new Error(`${name} happened`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });

describe('BatchPutMessage outcomes', () => {
  it('an answer without error entries delivers every message', () => {
    expect(outcomeFromBatchPutResponse({})).toEqual({ type: 'delivered', failures: [] });
    expect(outcomeFromBatchPutResponse({ batchPutMessageErrorEntries: [] })).toEqual({
      type: 'delivered',
      failures: [],
    });
  });

  it('error entries fail only their messages; transient entry codes are retryable', () => {
    const outcome = outcomeFromBatchPutResponse({
      batchPutMessageErrorEntries: [
        { messageId: 'a', errorCode: 'InvalidRequestException', errorMessage: 'bad payload' },
        { messageId: 'b', errorCode: 'InternalFailureException', errorMessage: 'try later' },
        { messageId: 'c' },
      ],
    });
    expect(outcome).toEqual({
      type: 'delivered',
      failures: [
        { messageId: 'a', code: 'InvalidRequestException', message: 'bad payload', retryable: false },
        { messageId: 'b', code: 'InternalFailureException', message: 'try later', retryable: true },
        {
          messageId: 'c',
          code: 'UnknownError',
          message: 'BatchPutMessage reported an error for this message',
          retryable: false,
        },
      ],
    });
  });

  it('throttling, 5xx and network errors are retryable; ResourceNotFound and InvalidRequest are final', () => {
    expect(isRetryableBatchPutError(awsError('ThrottlingException', 429))).toBe(true);
    expect(isRetryableBatchPutError(awsError('LimitExceededException', 410))).toBe(true); // the SDK's throttling list
    expect(isRetryableBatchPutError(awsError('ServiceUnavailableException', 503))).toBe(true);
    expect(isRetryableBatchPutError(awsError('InternalFailureException', 500))).toBe(true);
    expect(isRetryableBatchPutError(awsError('SomethingNew', 502))).toBe(true);
    expect(isRetryableBatchPutError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      true,
    );
    expect(isRetryableBatchPutError(awsError('ResourceNotFoundException', 404))).toBe(false);
    expect(isRetryableBatchPutError(awsError('InvalidRequestException', 400))).toBe(false);
  });

  it('an error that never got an HTTP answer is retried unless it is a modelled service exception', () => {
    expect(isRetryableBatchPutError(new Error('socket hang up'))).toBe(true);
    expect(isRetryableBatchPutError(awsError('InvalidRequestException'))).toBe(false);
  });

  it('a thrown error fails the whole batch with its name as the code', () => {
    expect(outcomeFromBatchPutError(awsError('ResourceNotFoundException', 404))).toEqual({
      type: 'failed',
      failure: { code: 'ResourceNotFoundException', message: 'ResourceNotFoundException happened', retryable: false },
    });
    expect(
      outcomeFromBatchPutError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toMatchObject({
      failure: { code: 'ECONNREFUSED', retryable: true },
    });
  });
});
