/**
 * hotSweep (timer, every 10 seconds): the hot path's clock. Raises `stale` alerts for devices silent past
 * their rule's `staleSeconds`, closes windows a device stopped feeding, and retries webhook deliveries that
 * are due. Runs as a singleton (the Functions host's timer lock); its writes are conditional on etags like
 * the trigger's, so it never overwrites a partition owner's newer state.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import type { Runtime } from './clients.js';
import { workerRuntime } from './clients.js';
import type { TimerHandler, TimerRegistration } from './coldCompactor.js';
import { functionsLogger } from './log.js';
import { hotProcessor } from './hotPath.js';

export const HOT_SWEEP = 'hotSweep';
/** NCRONTAB with seconds: every 10 s. A stale alert is raised within 10 s of its deadline. */
export const HOT_SWEEP_SCHEDULE = '*/10 * * * * *';

export function createHotSweepHandler(runtime: Runtime): TimerHandler {
  return async (_timer, context) => {
    const processor = hotProcessor(runtime);
    if (!processor.hasRules) return;
    const log = functionsLogger.child({ function: HOT_SWEEP, invocationId: context.invocationId });
    const result = await processor.sweep(log);
    if (result.devices > 0) log.info(result, 'hot sweep done');
  };
}

export const hotSweepFunction: TimerRegistration = {
  name: HOT_SWEEP,
  options: {
    schedule: HOT_SWEEP_SCHEDULE,
    // A missed run needs no replay: the next one sees every deadline that passed.
    runOnStartup: false,
    useMonitor: false,
    handler: (timer: Timer, context: InvocationContext) => createHotSweepHandler(workerRuntime())(timer, context),
  },
  createHandler: (runtime) => createHotSweepHandler(runtime),
};
