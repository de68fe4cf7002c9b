/**
 * coldCompactor (timer, every 5 minutes): writes each closed hour of the cold store as Parquet
 * (`@iot-ingest/cold` runCompaction) once `COLD_COMPACT_GRACE_MINUTES` have passed after the hour,
 * into `COLD_PARQUET_CONTAINER`. Idempotent and resumable, so a missed or repeated run is harmless.
 */
import type { InvocationContext, Timer, TimerFunctionOptions } from '@azure/functions';
import { runCompaction } from '@iot-ingest/cold';
import type { Runtime } from './clients.js';
import { workerRuntime } from './clients.js';
import { functionsLogger } from './log.js';

export const COLD_COMPACTOR = 'coldCompactor';
/** NCRONTAB with seconds: at second 0 of every 5th minute. */
export const COLD_COMPACTOR_SCHEDULE = '0 */5 * * * *';

export type TimerHandler = (timer: Timer, context: InvocationContext) => Promise<void>;

export function createColdCompactorHandler(runtime: Runtime, now: () => number = Date.now): TimerHandler {
  return async (_timer, context) => {
    const log = functionsLogger.child({ function: COLD_COMPACTOR, invocationId: context.invocationId });
    const result = await runCompaction(runtime.coldContainer(), runtime.parquetContainer(), {
      nowMs: now(),
      graceMs: runtime.config.storage.compactGraceMs,
      log,
    });
    runtime.counters.parquetFiles += result.written;
    log.info({ ...result }, 'compaction run finished');
    // A failed hour is retried by the next run; fail the invocation so it shows in the host's metrics.
    if (result.failed > 0) throw new Error(`${result.failed} hour(s) could not be compacted; the next run retries them`);
  };
}

export interface TimerRegistration {
  readonly name: string;
  readonly options: TimerFunctionOptions;
  createHandler(runtime: Runtime): TimerHandler;
}

export const coldCompactorFunction: TimerRegistration = {
  name: COLD_COMPACTOR,
  options: {
    schedule: COLD_COMPACTOR_SCHEDULE,
    // Past-due runs are not replayed one by one: one run catches up (it is resumable).
    runOnStartup: false,
    useMonitor: true,
    handler: (timer: Timer, context: InvocationContext) => createColdCompactorHandler(workerRuntime())(timer, context),
  },
  createHandler: (runtime) => createColdCompactorHandler(runtime),
};
