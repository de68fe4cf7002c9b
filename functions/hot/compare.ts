/**
 * Thresholds and window aggregates. Pure.
 */
import type { Aggregate, ComparisonOp } from './rules.js';
import type { FieldValue } from './field.js';

/**
 * `actual op expected`, or undefined when they cannot be compared (a string against a number, an ordering
 * op on a string): such a reading takes no part in the rule rather than counting as "false".
 */
export function compare(
  actual: FieldValue,
  op: ComparisonOp,
  expected: number | string | boolean,
): boolean | undefined {
  if (typeof actual !== typeof expected) return undefined;
  switch (op) {
    case '==':
      return actual === expected;
    case '!=':
      return actual !== expected;
  }
  if (typeof actual !== 'number') return undefined;
  const e = expected as number;
  switch (op) {
    case '>':
      return actual > e;
    case '>=':
      return actual >= e;
    case '<':
      return actual < e;
    case '<=':
      return actual <= e;
  }
}

/** An open tumbling window of one (rule, device): enough to give any aggregate when it closes. */
export interface WindowAccumulator {
  /** Epoch ms, a multiple of the window length (windows align to the epoch, as Stream Analytics' do). */
  readonly startMs: number;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** The record id of the window's last reading (the alert's `readingId`). */
  readonly lastReadingId: string;
}

export function windowStartMs(atMs: number, windowMs: number): number {
  return Math.floor(atMs / windowMs) * windowMs;
}

/** A window being filled while one batch is applied: the engine's own copy, changed in place. */
export type OpenWindow = { -readonly [K in keyof WindowAccumulator]: WindowAccumulator[K] };

export function openWindow(startMs: number, value: number, readingId: string): OpenWindow {
  return { startMs, count: 1, sum: value, min: value, max: value, lastReadingId: readingId };
}

/** In place: one reading per call, so no object per reading. */
export function addToWindow(window: OpenWindow, value: number, readingId: string): void {
  window.count += 1;
  window.sum += value;
  if (value < window.min) window.min = value;
  if (value > window.max) window.max = value;
  window.lastReadingId = readingId;
}

export function aggregate(window: WindowAccumulator, agg: Aggregate): number {
  switch (agg) {
    case 'avg':
      return window.sum / window.count;
    case 'min':
      return window.min;
    case 'max':
      return window.max;
    case 'count':
      return window.count;
  }
}
