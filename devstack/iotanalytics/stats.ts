/** Request counters of the emulator, read by tests through `stats()` or `GET /_emulator/stats`. */
export interface EmulatorStats {
  /** Every AWS API request (not `/_emulator/*`). */
  requests: number;
  /** By HTTP status answered, e.g. `{"200": 5, "429": 2}`. */
  byStatus: Record<string, number>;
  /** By the SDK's attempt number from `amz-sdk-request: attempt=N; max=M` (`"unknown"` when absent). */
  byAttempt: Record<string, number>;
  /** By operation name (`BatchPutMessage`, `CreateChannel`, …). */
  byOperation: Record<string, number>;
  /** BatchPutMessage calls per channel name (every answer, faults included). */
  batchPutCallsByChannel: Record<string, number>;
  /** Messages stored, per channel. */
  messagesStoredByChannel: Record<string, number>;
  /** Per-entry errors returned in 200 answers. */
  entryErrors: number;
}

export function emptyStats(): EmulatorStats {
  return {
    requests: 0,
    byStatus: {},
    byAttempt: {},
    byOperation: {},
    batchPutCallsByChannel: {},
    messagesStoredByChannel: {},
    entryErrors: 0,
  };
}

export function increment(counter: Record<string, number>, key: string, by = 1): void {
  counter[key] = (counter[key] ?? 0) + by;
}

/** `attempt=2; max=3` → `"2"`. */
export function attemptOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /attempt=(\d+)/.exec(value ?? '');
  return match?.[1] ?? 'unknown';
}
