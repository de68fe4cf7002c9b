/**
 * How the Event Hubs extension (5.3+) forms a function's batches from one partition's stream, as a pure
 * accumulator: events are held until `minEventBatchSize` are waiting, then dispatched in batches of up to
 * `maxEventBatchSize`; a partial batch is dispatched once the oldest held event has waited `maxWaitTime`.
 * With `minEventBatchSize` 1 whatever has arrived is dispatched at once (the extension ignores
 * `maxWaitTime` then). No clock, no I/O: the caller passes the time.
 */
export interface BatchingSettings {
  readonly maxEventBatchSize: number;
  readonly minEventBatchSize: number;
  readonly maxWaitTimeMs: number;
}

export class BatchAccumulator<T> {
  private held: T[] = [];
  /** When each held event arrived, in the same order. */
  private arrivedAtMs: number[] = [];

  constructor(private readonly settings: BatchingSettings) {}

  /** Events held, not yet dispatched. */
  get size(): number {
    return this.held.length;
  }

  add(events: readonly T[], nowMs: number): void {
    for (const event of events) {
      this.held.push(event);
      this.arrivedAtMs.push(nowMs);
    }
  }

  /** The next batch to dispatch now, or undefined when the batch should keep filling. */
  take(nowMs: number): T[] | undefined {
    if (this.held.length === 0) return undefined;
    const { maxEventBatchSize, minEventBatchSize, maxWaitTimeMs } = this.settings;
    const waited = nowMs - (this.arrivedAtMs[0] as number);
    if (this.held.length < minEventBatchSize && waited < maxWaitTimeMs) return undefined;
    this.arrivedAtMs.splice(0, maxEventBatchSize);
    return this.held.splice(0, maxEventBatchSize);
  }

  /** How long until a partial batch is due (0 when one is due now; undefined when nothing is held). */
  dueInMs(nowMs: number): number | undefined {
    if (this.held.length === 0) return undefined;
    if (this.held.length >= this.settings.minEventBatchSize) return 0;
    return Math.max(0, (this.arrivedAtMs[0] as number) + this.settings.maxWaitTimeMs - nowMs);
  }

  /** Forget what is held (the partition was lost: the new owner gets these events from the checkpoint). */
  clear(): void {
    this.held = [];
    this.arrivedAtMs = [];
  }
}

/**
 * The SDK receive wait: short enough that a partial batch is dispatched close to `maxWaitTime` (the pump
 * calls back at least this often while idle), long enough that an idle partition costs little.
 */
export function receiveWaitMs(settings: BatchingSettings): number {
  if (settings.minEventBatchSize <= 1) return Math.max(50, Math.min(settings.maxWaitTimeMs, 1000));
  return Math.max(50, Math.min(1000, Math.round(settings.maxWaitTimeMs / 10)));
}
