/**
 * Which IoT Hub send failures are retryable. The device is the only copy of the data, so anything not
 * known to be permanent is retried (the messages go back to the front of their queue): disconnects,
 * timeouts, throttling, service errors, and unknown errors. Only errors that no retry can fix are final.
 * UnauthorizedError stays retryable on purpose: edgeHub answers it while it is still syncing a module's
 * identity after a deployment or restart, which passes; RetryTimeoutSeconds bounds it if it does not.
 */
const PERMANENT = new Set([
  'MessageTooLargeError', // the envelope is over the hub's limit: the packer's bug, never fixed by retrying
  'ArgumentError',
  'FormatError',
  'NotImplementedError',
]);

export function isRetryable(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name !== 'string' || !PERMANENT.has(name);
}

export function errorCode(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name !== '' ? name : 'Error';
}

export function errorMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}
