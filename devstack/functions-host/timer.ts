/**
 * Timer triggers in the local host: the function's NCRONTAB schedule (six fields, seconds first, UTC, as
 * the Functions host reads it; parsed by cron-parser), one run at a time — a run still going when the next
 * is due makes that one skip, as the host's singleton lock does — with a real InvocationContext and a
 * `Timer` argument. `stop()` waits for a run under way.
 */
import { randomUUID } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import azureFunctions from '@azure/functions';
import type { Logger } from 'pino';
import type { Runtime } from '../../functions/clients.js';
import type { TimerRegistration } from '../../functions/coldCompactor.js';

const { InvocationContext } = azureFunctions;

export interface RunningTimer {
  readonly name: string;
  stop(): Promise<void>;
}

export function nextRunMs(schedule: string, afterMs: number): number {
  return CronExpressionParser.parse(schedule, { currentDate: new Date(afterMs), tz: 'UTC' }).next().getTime();
}

export function startTimer(
  fn: TimerRegistration,
  runtime: Runtime,
  options: { log: Logger; onInvocation(ok: boolean): void },
): RunningTimer {
  const handler = fn.createHandler(runtime);
  nextRunMs(fn.options.schedule, Date.now()); // a bad schedule fails the host's start, naming it
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let last: Date | undefined;

  const schedule = (): void => {
    if (stopped) return;
    const next = nextRunMs(fn.options.schedule, Date.now());
    timer = setTimeout(fire, Math.max(0, next - Date.now()));
    timer.unref();
  };
  const fire = (): void => {
    schedule();
    if (running) {
      options.log.warn('the previous run is still going; this one is skipped');
      return;
    }
    const invocationId = randomUUID();
    const context = new InvocationContext({
      invocationId,
      functionName: fn.name,
      logHandler: (level, ...args) => options.log[level === 'error' ? 'error' : level === 'warning' ? 'warn' : 'debug']({ invocationId }, args.map(String).join(' ')),
      options: { trigger: { type: 'timerTrigger', name: 'timer', schedule: fn.options.schedule } as never },
    });
    const now = new Date();
    const timerArgument = {
      isPastDue: false,
      schedule: { adjustForDST: false },
      scheduleStatus: { last: (last ?? now).toISOString(), next: new Date(nextRunMs(fn.options.schedule, now.getTime())).toISOString(), lastUpdated: now.toISOString() },
    };
    last = now;
    running = handler(timerArgument, context)
      .then(
        () => options.onInvocation(true),
        (err: unknown) => {
          options.onInvocation(false);
          options.log.error({ invocationId, err: (err as Error).message }, 'timer function failed');
        },
      )
      .finally(() => (running = undefined));
  };
  schedule();
  return {
    name: fn.name,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
