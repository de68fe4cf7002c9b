import { describe, expect, it } from 'vitest';
import { isRetryable } from '../../../edge-module/sinks/iothub/retry.js';
import { isRetryableAwsError } from '../../../edge-module/sinks/iotanalytics.js';

const named = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });

describe('IoT Hub send errors', () => {
  it('disconnects, timeouts, throttling and unknown errors are retried; only permanent ones are final', () => {
    for (const name of ['NotConnectedError', 'TimeoutError', 'ThrottlingError', 'ServiceUnavailableError', 'InternalServerError', 'UnauthorizedError', 'Error']) {
      expect(isRetryable(named(name))).toBe(true);
    }
    for (const name of ['MessageTooLargeError', 'ArgumentError', 'FormatError']) expect(isRetryable(named(name))).toBe(false);
  });
});

describe('IoT Analytics errors', () => {
  it('throttling, 5xx and network errors are retryable; ResourceNotFound and InvalidRequest are final', () => {
    expect(isRetryableAwsError(named('ThrottlingException', { $metadata: { httpStatusCode: 429 } }))).toBe(true);
    expect(isRetryableAwsError(named('ServiceUnavailableException', { $metadata: { httpStatusCode: 503 } }))).toBe(true);
    expect(isRetryableAwsError(named('InternalFailureException', { $metadata: { httpStatusCode: 500 } }))).toBe(true);
    expect(isRetryableAwsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetryableAwsError(named('ResourceNotFoundException', { $metadata: { httpStatusCode: 404 } }))).toBe(false);
    expect(isRetryableAwsError(named('InvalidRequestException', { $metadata: { httpStatusCode: 400 } }))).toBe(false);
  });
});
