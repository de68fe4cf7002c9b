/**
 * The local Functions host: runs the registered Event Hubs functions outside Azure, as the real host
 * would, against the IoT Hub emulator (or, given a real connection string, a real IoT Hub).
 *
 * Per function: an `EventHubConsumerClient` on its consumer group with a `BlobCheckpointStore` in the
 * `AzureWebJobsStorage` account (container `functions-checkpoints`), batches formed per partition as the
 * extension forms them (batching.ts: host.json `minEventBatchSize`, `maxEventBatchSize`, `maxWaitTime`),
 * the trigger's argument and metadata shape (trigger-input.ts) in a real `InvocationContext`, the
 * function's `retry` option (retry.ts), and a checkpoint after every `batchCheckpointFrequency` finished
 * (succeeded or finally abandoned) batches, written in the background so the next batch never waits for
 * it — never while retrying, never while stopping.
 *
 * Why the registration object instead of intercepting `app.eventHub`: each function file exports the
 * exact options it registers plus a handler factory (functions/registration.ts), so the host reads typed
 * data with no global patching, and runs the same handler code with its own config and clients.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventHubConsumerClient, earliestEventPosition, latestEventPosition } from '@azure/event-hubs';
import type { PartitionContext, ReceivedEventData, Subscription } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { ContainerClient } from '@azure/storage-blob';
import { DefaultAzureCredential } from '@azure/identity';
import azureFunctions from '@azure/functions';
import type { EventHubHandler, LogLevel } from '@azure/functions';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { loadFunctionsConfig } from '../../functions/config.js';
import type { FunctionsConfig, Settings } from '../../functions/config.js';
import { createRuntime } from '../../functions/clients.js';
import type { Runtime } from '../../functions/clients.js';
import type { FunctionCounters } from '../../functions/counters.js';
import type { FunctionRegistration } from '../../functions/registration.js';
import { FUNCTIONS, TIMERS } from '../../functions/catalog.js';
import type { TimerRegistration } from '../../functions/coldCompactor.js';
import { startTimer } from './timer.js';
import type { RunningTimer } from './timer.js';
import { BatchAccumulator, receiveWaitMs } from './batching.js';
import { parseHostJson, validateHostSettings } from './host-json.js';
import type { EventHubsHostSettings } from './host-json.js';
import { mayRetry, retryDelayMs } from './retry.js';
import { toTriggerInput } from './trigger-input.js';

export const ALL_FUNCTIONS: readonly FunctionRegistration[] = FUNCTIONS;
export const ALL_TIMERS: readonly TimerRegistration[] = TIMERS;
export const CHECKPOINT_CONTAINER = 'functions-checkpoints';
/**
 * Greedy: one local host claims every partition at once (the default 'balanced' claims one per 10 s
 * interval, so a fresh host would leave partitions unread for tens of seconds). Another host on the same
 * checkpoint container still shares the partitions through the ownership blobs.
 */
const CLIENT_OPTIONS = { loadBalancingOptions: { strategy: 'greedy' as const, updateIntervalInMs: 2_000 } };
// The package is CommonJS and Node's ESM loader does not detect `InvocationContext` as a named export.
const { InvocationContext } = azureFunctions;
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface FunctionsHostOptions {
  /** App settings (contracts §6) plus `AzureWebJobsStorage` (checkpoints). Validated before anything starts. */
  readonly settings: Settings;
  /** Default: all three functions. */
  readonly functions?: readonly FunctionRegistration[];
  /** Timer-triggered functions. Default: ALL_TIMERS when `functions` is not given, else none. */
  readonly timers?: readonly TimerRegistration[];
  /** Default: the repository's host.json. */
  readonly hostJsonPath?: string;
  /** Overrides of host.json's Event Hubs settings (tests use a short maxWaitTime). */
  readonly hostSettings?: Partial<EventHubsHostSettings>;
  /** False: never checkpoint (tests: a host "killed" before checkpointing, so the next one gets the same events). */
  readonly checkpoint?: boolean;
  /** Create the blob containers and the Cosmos database/container if missing (local stacks only). */
  readonly ensureResources?: boolean;
  /** Replace each function's retry delays (tests); the retry count still comes from the function. */
  readonly retryDelayMs?: (retryCount: number) => number;
  readonly logger?: Logger;
}

/** One claimed partition of one function: the batch being filled and the checkpoint writes in order. */
interface PartitionState {
  readonly batches: BatchAccumulator<ReceivedEventData>;
  /** Finished batches since the last checkpoint (host.json batchCheckpointFrequency). */
  sinceCheckpoint: number;
  checkpointing: Promise<void>;
}

export interface HostCounters extends FunctionCounters {
  invocations: number;
  /** Events processed per function (counted when the invocation finishes, successfully or abandoned). */
  events: Record<string, number>;
  /** Failed invocations (each retry counts). */
  errors: number;
  /** Batches given up after the last retry (checkpointed past, as Azure does). */
  abandoned: number;
}

export interface FunctionsHost {
  readonly config: FunctionsConfig;
  readonly runtime: Runtime;
  counters(): HostCounters;
  stop(): Promise<void>;
}

export class HostSettingError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'HostSettingError';
  }
}

export async function startFunctionsHost(options: FunctionsHostOptions): Promise<FunctionsHost> {
  const log = options.logger ?? pino({ name: 'iot-ingest:functions-host' });
  const config = loadFunctionsConfig(options.settings); // throws, naming every bad setting
  const webJobsStorage = options.settings.AzureWebJobsStorage?.trim();
  if (!webJobsStorage) {
    throw new HostSettingError('AzureWebJobsStorage', 'AzureWebJobsStorage is required (the host keeps its checkpoints there)');
  }
  const hostJsonPath = options.hostJsonPath ?? path.join(REPO_ROOT, 'host.json');
  const hostSettings: EventHubsHostSettings = {
    ...parseHostJson(JSON.parse(await readFile(hostJsonPath, 'utf8')) as unknown),
    ...options.hostSettings,
  };
  validateHostSettings(hostSettings);
  const runtime = createRuntime(config);
  const checkpoints = new ContainerClient(webJobsStorage, CHECKPOINT_CONTAINER);
  await checkpoints.createIfNotExists();
  if (options.ensureResources) await ensureResources(runtime);

  const counters: Pick<HostCounters, 'invocations' | 'events' | 'errors' | 'abandoned'> = { invocations: 0, events: {}, errors: 0, abandoned: 0 };
  let stopping = false;
  const sleepers = new Set<() => void>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  const running: Array<{ client: EventHubConsumerClient; subscription: Subscription }> = [];
  // Invocations under way: stop() lets them finish (and checkpoint) before closing the clients.
  const inFlight = new Set<Promise<boolean>>();
  // Checkpoint writes of finished batches: stop() waits for them too.
  const checkpointWrites = new Set<Promise<void>>();
  try {
    for (const fn of options.functions ?? ALL_FUNCTIONS) {
      running.push(startFunction(fn));
    }
  } catch (err) {
    await Promise.allSettled(running.map(async (r) => (await r.subscription.close(), await r.client.close())));
    await runtime.close();
    throw err;
  }
  const timers: RunningTimer[] = (options.timers ?? (options.functions ? [] : ALL_TIMERS)).map((t) =>
    startTimer(t, runtime, {
      log: log.child({ function: t.name }),
      onInvocation: (ok) => {
        counters.invocations++;
        if (!ok) counters.errors++;
      },
    }),
  );
  log.info(
    { functions: (options.functions ?? ALL_FUNCTIONS).map((f) => f.name), timers: timers.map((t) => t.name), eventHubName: config.eventHub.eventHubName, ...hostSettings },
    'functions host started',
  );

  function startFunction(fn: FunctionRegistration): { client: EventHubConsumerClient; subscription: Subscription } {
    const connectionSetting = fn.options.connection;
    const connectionString = options.settings[connectionSetting]?.trim();
    const fullyQualifiedNamespace = options.settings[`${connectionSetting}__fullyQualifiedNamespace`]?.trim();
    const eventHubName = resolveExpression(fn.options.eventHubName, options.settings);
    const consumerGroup = fn.options.consumerGroup ?? '$Default';
    const store = new BlobCheckpointStore(checkpoints);
    let client: EventHubConsumerClient;
    if (connectionString) {
      client = /EntityPath=/i.test(connectionString)
        ? new EventHubConsumerClient(consumerGroup, connectionString, store, CLIENT_OPTIONS)
        : new EventHubConsumerClient(consumerGroup, connectionString, eventHubName, store, CLIENT_OPTIONS);
    } else if (fullyQualifiedNamespace) {
      client = new EventHubConsumerClient(consumerGroup, fullyQualifiedNamespace, eventHubName, new DefaultAzureCredential(), store, CLIENT_OPTIONS);
    } else {
      throw new HostSettingError(connectionSetting, `${connectionSetting} is required by function ${fn.name} (its trigger connection)`);
    }
    const handler = fn.createHandler(runtime);
    const fnLog = log.child({ function: fn.name, consumerGroup });
    const partitions = new Map<string, PartitionState>();
    const stateOf = (partitionId: string): PartitionState => {
      let state = partitions.get(partitionId);
      if (!state) {
        state = { batches: new BatchAccumulator<ReceivedEventData>(hostSettings), sinceCheckpoint: 0, checkpointing: Promise.resolve() };
        partitions.set(partitionId, state);
      }
      return state;
    };
    /** After `batchCheckpointFrequency` finished batches: a checkpoint at the last one, in the background, in order per partition. */
    const checkpointAfter = (state: PartitionState, batch: readonly ReceivedEventData[], context: PartitionContext): void => {
      if (++state.sinceCheckpoint < hostSettings.batchCheckpointFrequency) return;
      state.sinceCheckpoint = 0;
      // The next batch never waits for the checkpoint write.
      const last = batch[batch.length - 1] as ReceivedEventData;
      const write = state.checkpointing
        .then(() => context.updateCheckpoint(last))
        .catch((err: unknown) =>
          fnLog.warn({ partitionId: context.partitionId, err: (err as Error).message }, 'checkpoint failed; the next one covers it'),
        );
      state.checkpointing = write;
      checkpointWrites.add(write);
      void write.finally(() => checkpointWrites.delete(write));
    };
    const subscription = client.subscribe(
      {
        processEvents: async (events, context) => {
          if (stopping) return;
          const state = stateOf(context.partitionId);
          state.batches.add(events, Date.now());
          // The pump waits for this call, so one partition's invocations stay in order; the SDK keeps
          // prefetching meanwhile, and what arrives is taken on the next call.
          for (let batch = state.batches.take(Date.now()); batch && !stopping; batch = state.batches.take(Date.now())) {
            const finished = batch;
            // A batch that finished is checkpointed even when the host is stopping (as the extension's
            // processor does before it closes): the next owner must not get it again. The checkpoint is
            // scheduled inside the tracked promise, so stop() always sees its write.
            const invocation = invoke(fn, handler, finished, context, fnLog).then((done) => {
              if (done && options.checkpoint !== false) checkpointAfter(state, finished, context);
              return done;
            });
            inFlight.add(invocation);
            const done = await invocation.finally(() => inFlight.delete(invocation));
            if (!done) return;
          }
        },
        processClose: async (_reason, context) => {
          // Held events were never checkpointed: the partition's next owner receives them again.
          const state = partitions.get(context.partitionId);
          partitions.delete(context.partitionId);
          state?.batches.clear();
          await state?.checkpointing;
        },
        processError: async (err, context) => {
          if (stopping) return;
          fnLog.warn({ partitionId: context.partitionId, err: (err as Error).message }, 'event hub client error (the client retries)');
        },
      },
      {
        maxBatchSize: hostSettings.maxEventBatchSize,
        maxWaitTimeInSeconds: receiveWaitMs(hostSettings) / 1000,
        prefetchCount: Math.max(hostSettings.prefetchCount, hostSettings.maxEventBatchSize),
        startPosition: hostSettings.initialOffset === 'fromEnd' ? latestEventPosition : earliestEventPosition,
        skipParsingBodyAsJson: true,
      },
    );
    return { client, subscription };
  }

  /** Invoke with the function's retry policy. True when the batch is finished (succeeded or abandoned). */
  async function invoke(
    fn: FunctionRegistration,
    handler: EventHubHandler,
    events: ReceivedEventData[],
    context: PartitionContext,
    fnLog: Logger,
  ): Promise<boolean> {
    const { messages, triggerMetadata } = toTriggerInput(
      events,
      {
        fullyQualifiedNamespace: context.fullyQualifiedNamespace,
        eventHubName: context.eventHubName,
        consumerGroup: context.consumerGroup,
        partitionId: context.partitionId,
      },
      fn.options.dataType,
    );
    const retry = fn.options.retry;
    const finished = (): true => {
      counters.events[fn.name] = (counters.events[fn.name] ?? 0) + events.length;
      return true;
    };
    for (let retryCount = 0; ; retryCount++) {
      if (stopping) return false;
      let lastError: Error | undefined;
      const invocationId = randomUUID();
      const invocation = new InvocationContext({
        invocationId,
        functionName: fn.name,
        triggerMetadata,
        ...(retryCount > 0 && retry ? { retryContext: { retryCount, maxRetryCount: retry.maxRetryCount } } : {}),
        logHandler: (level: LogLevel, ...args: unknown[]) => logAt(fnLog, level, invocationId, args),
        options: { trigger: { ...fn.options, type: 'eventHubTrigger', name: 'messages' } as never },
      });
      counters.invocations++;
      try {
        await handler(messages, invocation);
        return finished();
      } catch (err) {
        lastError = err as Error;
        counters.errors++;
      }
      const next = retryCount + 1;
      if (!mayRetry(retry, next) || !retry) {
        counters.abandoned++;
        fnLog.error(
          { partitionId: context.partitionId, firstSequenceNumber: events[0]?.sequenceNumber, retries: retryCount, err: lastError?.message },
          'function failed after its last retry; the batch is abandoned and the checkpoint moves on',
        );
        return finished();
      }
      const delayMs = options.retryDelayMs ? options.retryDelayMs(next) : retryDelayMs(retry, next);
      fnLog.warn({ partitionId: context.partitionId, retry: next, delayMs, err: lastError?.message }, 'function failed; retrying the batch');
      await sleep(delayMs);
    }
  }

  let stopped: Promise<void> | undefined;
  return {
    config,
    runtime,
    counters: () => ({ ...runtime.counters, ...counters, events: { ...counters.events } }),
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        for (const wake of [...sleepers]) wake();
        await Promise.allSettled(timers.map((t) => t.stop()));
        await Promise.allSettled([...inFlight]);
        await Promise.allSettled([...checkpointWrites]);
        await Promise.allSettled(running.map((r) => r.subscription.close()));
        await Promise.allSettled(running.map((r) => r.client.close()));
        await runtime.close();
        log.info('functions host stopped');
      })()),
  };
}

/** `%SETTING%` → the setting's value (the host's binding expression syntax). */
export function resolveExpression(value: string, settings: Settings): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const resolved = settings[name];
    if (resolved === undefined || resolved === '') throw new HostSettingError(name, `${name} is required (used as %${name}% in a trigger)`);
    return resolved;
  });
}

async function ensureResources(runtime: Runtime): Promise<void> {
  await runtime.coldContainer().createIfNotExists();
  await runtime.parquetContainer().createIfNotExists();
  await runtime.deadLetterContainer().createIfNotExists();
  const container = runtime.cosmosContainer();
  const { cosmos } = runtime.config;
  const { database } = await container.database.client.databases.createIfNotExists({ id: cosmos.database });
  await database.containers.createIfNotExists({ id: cosmos.container, partitionKey: { paths: ['/pk'] }, defaultTtl: -1 });
  await database.containers.createIfNotExists({ id: runtime.config.hot.alertsContainer, partitionKey: { paths: ['/pk'] } });
}

function logAt(log: Logger, level: LogLevel, invocationId: string, args: unknown[]): void {
  const msg = args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  const method = level === 'error' || level === 'critical' ? 'error' : level === 'warning' ? 'warn' : level === 'information' ? 'info' : 'debug';
  log[method]({ invocationId }, msg);
}
