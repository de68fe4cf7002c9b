/**
 * Every function of the app, as registrations (registration.ts): the Azure entry (index.ts) registers
 * them with the runtime, and the local host (devstack/functions-host) runs the same list. Add a new
 * function here and both pick it up.
 */
import { analyticsForwarderFunction } from './analyticsForwarder.js';
import { coldCompactorFunction } from './coldCompactor.js';
import type { TimerRegistration } from './coldCompactor.js';
import { coldPathFunction } from './coldPath.js';
import { hotPathFunction } from './hotPath.js';
import { hotSweepFunction } from './hotSweep.js';
import type { FunctionRegistration } from './registration.js';
import { warmPathFunction } from './warmPath.js';

export const FUNCTIONS: readonly FunctionRegistration[] = [
  warmPathFunction,
  coldPathFunction,
  analyticsForwarderFunction,
  hotPathFunction,
];

/** Timer-triggered functions. */
export const TIMERS: readonly TimerRegistration[] = [coldCompactorFunction, hotSweepFunction];
