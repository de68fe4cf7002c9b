/**
 * How each function file describes itself: the exact options it registers with `app.eventHub`, and a
 * factory for its handler given a runtime (config + clients). Azure runs `options.handler` (the
 * worker's runtime from app settings); the local Functions host reads the same options object and
 * builds the handler with its own runtime — so both run the same code with the same trigger settings,
 * without patching `app` or the module system.
 */
import type { EventHubFunctionOptions, EventHubHandler, InvocationContext, RetryOptions } from '@azure/functions';
import type { Runtime } from './clients.js';
import { workerRuntime } from './clients.js';
import { BINARY_DATA_TYPE } from './trigger.js';

/** `dataType` is not in the typings but is passed to the binding as is (PROTOCOLS.md §4.1). */
export type EventHubRegistrationOptions = EventHubFunctionOptions & { dataType: typeof BINARY_DATA_TYPE };

export interface FunctionRegistration {
  readonly name: string;
  readonly options: EventHubRegistrationOptions;
  createHandler(runtime: Runtime): EventHubHandler;
}

/** The trigger's connection setting and hub name setting (contracts §6). */
export const CONNECTION_SETTING = 'IOTHUB_EVENTS';
export const EVENTHUB_NAME_EXPRESSION = '%IOTHUB_EVENTHUB_NAME%';

/**
 * A failed batch is replayed with exponential backoff; the checkpoint does not move meanwhile. After the
 * last retry the host moves on (Azure's semantics), so writers must dead-letter rather than throw for
 * data that can never succeed.
 */
export const DEFAULT_RETRY: RetryOptions = Object.freeze({
  strategy: 'exponentialBackoff',
  maxRetryCount: 8,
  minimumInterval: { seconds: 2 },
  maximumInterval: { minutes: 2 },
}) as RetryOptions;

export function defineEventHubFunction(
  name: string,
  consumerGroup: string,
  createHandler: (runtime: Runtime) => EventHubHandler,
): FunctionRegistration {
  const options: EventHubRegistrationOptions = {
    connection: CONNECTION_SETTING,
    eventHubName: EVENTHUB_NAME_EXPRESSION,
    consumerGroup,
    cardinality: 'many',
    dataType: BINARY_DATA_TYPE,
    retry: DEFAULT_RETRY,
    // The worker's runtime is built on the first invocation (settings validated then, clients reused after).
    handler: (messages: unknown, context: InvocationContext) => createHandler(workerRuntime())(messages, context),
  };
  return { name, options, createHandler };
}
