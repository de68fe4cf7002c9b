import { describe, expect, it } from 'vitest';
import { isRetryable } from '../../../edge-module/sinks/iothub/retry.js';

const named = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });

describe('IoT Hub send errors', () => {
  it('disconnects, timeouts, throttling and unknown errors are retried; only permanent ones are final', () => {
    for (const name of [
      'NotConnectedError',
      'TimeoutError',
      'ThrottlingError',
      'ServiceUnavailableError',
      'InternalServerError',
      'UnauthorizedError',
      'Error',
    ]) {
      expect(isRetryable(named(name))).toBe(true);
    }
    for (const name of ['MessageTooLargeError', 'ArgumentError', 'FormatError'])
      expect(isRetryable(named(name))).toBe(false);
  });
});
