/**
 * The async driver around the engine: offers go in, due batches go to the sink, outcomes come back,
 * statuses go out. Clock and timers are injected, so tests drive it with a manual clock and the
 * engine stays free of I/O and timing.
 *
 * A sink that throws instead of answering is treated as a retryable failure (the messages stay queued
 * and the channel backs off): an unexpected error must never lose data.
 */
import type { BatchingEngine, OfferResult } from './engine.js';
import type { Batch, BatchOutcome, Offer, Sink, StatusReport } from './types.js';

export interface Clock {
  now(): number;
}

export interface Timer {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface PumpOptions {
  readonly engine: BatchingEngine;
  readonly sink: Sink;
  /** Injected: batching/ has no clock or timers of its own (e.g. `{ now: Date.now }`). */
  readonly clock: Clock;
  /** Injected, e.g. `{ setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h) }`. */
  readonly timer: Timer;
  /** Every status, exactly once per message. */
  readonly onStatus: (report: StatusReport) => void;
  /** After each batch settles: for metrics (batch size, latency). */
  readonly onBatch?: (batch: Batch, outcome: BatchOutcome, elapsedMs: number) => void;
  /** A sink threw instead of answering (already handled as retryable); for logs. */
  readonly onSinkError?: (batch: Batch, error: unknown) => void;
}

export class Pump {
  private readonly engine: BatchingEngine;
  private readonly sink: Sink;
  private readonly clock: Clock;
  private readonly timer: Timer;
  private readonly options: PumpOptions;
  private running = false;
  private flushing = false;
  private wakeHandle: unknown = undefined;
  private wakeAt = Infinity;
  private readonly inFlight = new Set<Promise<void>>();
  private idleWaiters: Array<() => void> = [];

  constructor(options: PumpOptions) {
    this.options = options;
    this.engine = options.engine;
    this.sink = options.sink;
    this.clock = options.clock;
    this.timer = options.timer;
  }

  /** Offer one message; its refusal or evictions are reported through onStatus right away. */
  offer(offer: Offer): OfferResult {
    const result = this.engine.offer(offer, this.clock.now());
    this.emit(result.statuses);
    if (result.accepted) this.schedule();
    return result;
  }

  /**
   * Backpressure: resolve true once `engine.offer` would take `bytes` for `channel` without refusing or
   * evicting anything, false when the deadline passes first or when waiting cannot help (an invalid
   * channel, a message over a hard limit: offer it and it is refused with its status). Room comes from
   * batches settling, so the pump must be started (or flushing) for this to make progress.
   */
  async waitForRoom(channel: string, bytes: number, deadline: number): Promise<boolean> {
    if (!this.engine.couldEverFit(channel, bytes)) return false;
    for (;;) {
      if (this.engine.hasRoom(channel, bytes)) return true;
      if (this.clock.now() >= deadline) return false;
      this.run(); // a batch taken out of a full queue makes room at once
      if (this.engine.hasRoom(channel, bytes)) return true;
      await this.waitForProgress(deadline);
    }
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  /** Stop sending new batches; resolves once the batches in flight have settled. */
  async stop(): Promise<void> {
    this.running = false;
    this.clearWake();
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Send everything queued as fast as the sink allows (ignoring PublishInterval, still honouring retry
   * backoff) until nothing is queued or in flight, or the deadline passes. What is left stays queued.
   */
  async flush(deadline: number): Promise<void> {
    const wasRunning = this.running;
    this.running = true;
    this.flushing = true;
    try {
      while (!this.engine.idle && this.clock.now() < deadline) {
        this.run();
        await this.waitForProgress(deadline);
      }
      // Let batches still in flight settle (their outcome is known soon) before returning.
      await Promise.allSettled([...this.inFlight]);
    } finally {
      this.flushing = false;
      this.running = wasRunning;
      if (!wasRunning) this.clearWake();
      else this.schedule();
    }
  }

  private emit(statuses: readonly StatusReport[]): void {
    for (const status of statuses) this.options.onStatus(status);
  }

  private clearWake(): void {
    if (this.wakeHandle !== undefined) this.timer.clearTimeout(this.wakeHandle);
    this.wakeHandle = undefined;
    this.wakeAt = Infinity;
  }

  /** Arm the timer for the engine's next due time (earlier wins). */
  private schedule(): void {
    if (!this.running) return;
    const now = this.clock.now();
    const due = this.engine.nextWakeAt(now, this.flushing);
    if (due === undefined || due >= this.wakeAt) return;
    this.clearWake();
    this.wakeAt = due;
    this.wakeHandle = this.timer.setTimeout(
      () => {
        this.wakeHandle = undefined;
        this.wakeAt = Infinity;
        this.run();
      },
      Math.max(0, due - now),
    );
  }

  private run(): void {
    if (!this.running) return;
    const { batches, statuses } = this.engine.tick(this.clock.now(), this.flushing);
    this.emit(statuses);
    for (const batch of batches) this.send(batch);
    this.schedule();
    this.notifyProgress();
  }

  private send(batch: Batch): void {
    const startedAt = this.clock.now();
    const settled = this.sink
      .send(batch)
      .catch((error: unknown): BatchOutcome => {
        this.options.onSinkError?.(batch, error);
        const err = error as { name?: string; message?: string };
        return {
          type: 'failed',
          failure: { code: err?.name ?? 'Error', message: String(err?.message ?? error), retryable: true },
        };
      })
      .then((outcome) => {
        const now = this.clock.now();
        const statuses = this.engine.complete(batch, outcome, now);
        this.options.onBatch?.(batch, outcome, now - startedAt);
        this.emit(statuses);
      })
      .finally(() => {
        this.inFlight.delete(settled);
        this.schedule();
        this.notifyProgress();
      });
    this.inFlight.add(settled);
  }

  private notifyProgress(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolve when a batch settles, the engine's next due time arrives, or the deadline passes. */
  private waitForProgress(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const now = this.clock.now();
      // The next moment a tick can send something (never sooner: that would spin).
      const due = this.running ? this.engine.nextWakeAt(now, this.flushing) : undefined;
      const until = Math.min(deadline, due ?? Infinity);
      let handle: unknown;
      const done = () => {
        if (handle !== undefined) this.timer.clearTimeout(handle);
        resolve();
      };
      if (until !== Infinity) handle = this.timer.setTimeout(done, Math.max(0, until - now));
      if (this.inFlight.size > 0 || until === Infinity) this.idleWaiters.push(done);
    });
  }
}
