/**
 * A function's `retry` option (`@azure/functions` RetryOptions) → delays, as the host applies it: the
 * failed batch is invoked again after the delay, the checkpoint does not move meanwhile, and after
 * `maxRetryCount` retries (-1 = forever) the host gives up on the batch and moves on. Pure.
 */
import type { Duration, RetryOptions } from '@azure/functions';

export function durationToMs(value: Duration | number): number {
  if (typeof value === 'number') return value;
  return (((value.hours ?? 0) * 60 + (value.minutes ?? 0)) * 60 + (value.seconds ?? 0)) * 1000 + (value.milliseconds ?? 0);
}

/** The delay before retry number `retryCount` (1-based). Exponential: minimum × 2^(n-1), capped, ±20 % jitter. */
export function retryDelayMs(options: RetryOptions, retryCount: number, random: () => number = Math.random): number {
  if (options.strategy === 'fixedDelay') return durationToMs(options.delayInterval);
  const min = durationToMs(options.minimumInterval);
  const max = durationToMs(options.maximumInterval);
  const base = Math.min(max, min * 2 ** Math.max(0, retryCount - 1));
  return Math.max(min, Math.min(max, Math.round(base * (0.8 + 0.4 * random()))));
}

/** Whether retry number `retryCount` (1-based) is allowed. */
export function mayRetry(options: RetryOptions | undefined, retryCount: number): boolean {
  if (!options) return false;
  return options.maxRetryCount === -1 || retryCount <= options.maxRetryCount;
}
