/**
 * analyticsForwarder (consumer group `analytics`): each reading's ORIGINAL bytes to its IoT Analytics
 * channel by BatchPutMessage, through the connector's engine (`batching/`), within the invocation's time
 * budget. What cannot be delivered — rejected by the service, refused by the engine, or still queued when
 * the budget runs out — goes to one dead-letter blob per invocation with its error. Nothing is dropped
 * silently: every reading ends as exactly one status (forwarded or dead-lettered).
 *
 * Message ids are the record ids (`{partition}-{sequenceNumber}-{index}`): unique within a batch, and
 * the same on a replay, so a redelivered reading is recognisable downstream.
 */
import type { EventHubHandler } from '@azure/functions';
import { BatchingEngine } from '@iot-ingest/batching';
import { Pump } from '@iot-ingest/batching';
import type { ConnectorConfig } from '@iot-ingest/batching';
import type { Sink, StatusReport } from '@iot-ingest/batching';
import { createIotAnalyticsSink } from './analyticsSink.js';
import type { Runtime } from './clients.js';
import type { UndeliveredMessage } from './deadLetter.js';
import { writeForwarderDeadLetter } from './deadLetter.js';
import { deadLetterMalformed, readTriggerBatch } from './invocation.js';
import type { Logger } from './log.js';
import type { Reading } from './record.js';
import { defineEventHubFunction } from './registration.js';

export const ANALYTICS_FORWARDER = 'analyticsForwarder';

export interface ForwardOptions {
  /** The connector parameters; PublishInterval is ignored (the invocation's batch is flushed at once). */
  readonly config: ConnectorConfig;
  readonly sink: Sink;
  /** Epoch ms after which nothing new is sent; what is left is dead-lettered. */
  readonly deadlineMs: number;
  readonly log?: Logger;
  readonly now?: () => number;
}

export interface ForwardResult {
  readonly forwarded: number;
  readonly undelivered: UndeliveredMessage[];
  /** Fail statuses per error code (forwarded ones are `success`). */
  readonly failuresByCode: Record<string, number>;
}

const NO_CHANNEL_MESSAGE =
  'the reading names no channel (no "channel" property, no envelope channel) and IotAnalyticsDefaultChannelName is not set';

/** Send readings through a fresh engine + pump; resolves when every reading has a status. */
export async function forwardReadings(readings: readonly Reading[], options: ForwardOptions): Promise<ForwardResult> {
  const now = options.now ?? Date.now;
  const config = options.config;
  const byId = new Map<string, Reading>();
  const undelivered: UndeliveredMessage[] = [];
  const failuresByCode: Record<string, number> = {};
  let forwarded = 0;

  const fail = (reading: Reading, error: string, errorMessage: string, reason: string): void => {
    failuresByCode[error] = (failuresByCode[error] ?? 0) + 1;
    undelivered.push({
      messageId: reading.record.id,
      recordId: reading.record.id,
      channel: reading.record.channel,
      deviceId: reading.record.deviceId,
      error,
      errorMessage,
      reason,
      payloadBase64: Buffer.from(reading.payload).toString('base64'),
    });
  };
  const onStatus = (report: StatusReport): void => {
    const reading = byId.get(report.statusId ?? report.messageId);
    if (!reading) {
      options.log?.error({ messageId: report.messageId, status: report.status }, 'status for an unknown message');
      return;
    }
    if (report.status === 'success') forwarded++;
    else fail(reading, report.error, report.errorMessage, report.reason);
  };

  // PublishInterval does not apply: the invocation's readings are sent as fast as the service takes them.
  const engine = new BatchingEngine({
    config: { ...config, publishIntervalMs: 0 },
    retry: { initialIntervalMs: 200, maxIntervalMs: 5_000 },
  });
  const pump = new Pump({
    engine,
    sink: options.sink,
    clock: { now },
    timer: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    onStatus,
    onSinkError: (batch, error) =>
      options.log?.warn({ channel: batch.channel, err: (error as Error)?.message }, 'sink threw'),
  });
  pump.start();

  const outOfTime = (reading: Reading): void =>
    fail(reading, 'ShutdownException', 'the invocation time budget ran out before this reading was sent', 'shutdown');
  for (const reading of readings) {
    const channel = reading.record.channel;
    if (channel === null) {
      fail(reading, 'InvalidRequestException', NO_CHANNEL_MESSAGE, 'invalid');
      continue;
    }
    // Queues only live for this invocation: wait for room (backpressure) instead of dropping. A reading
    // that could never fit is offered anyway and refused by the engine with its status.
    const size = reading.payload.byteLength;
    if (!(await pump.waitForRoom(channel, size, options.deadlineMs)) && engine.couldEverFit(channel, size)) {
      outOfTime(reading);
      continue;
    }
    byId.set(reading.record.id, reading);
    pump.offer({ channel, payload: reading.payload, requestId: reading.record.id });
  }
  await pump.flush(options.deadlineMs);
  await pump.stop();
  for (const status of engine.failAll(
    'shutdown',
    'ShutdownException',
    'the invocation time budget ran out before this reading was sent',
  )) {
    onStatus(status);
  }
  return { forwarded, undelivered, failuresByCode };
}

export function createAnalyticsForwarderHandler(runtime: Runtime): EventHubHandler {
  // One sink (one IoT Analytics client) per worker; one engine per invocation.
  let sink: ReturnType<typeof createIotAnalyticsSink> | undefined;
  return async (messages, context) => {
    const startedAt = Date.now();
    const batch = readTriggerBatch(ANALYTICS_FORWARDER, messages, context, runtime);
    await deadLetterMalformed(batch, runtime);
    sink ??= createIotAnalyticsSink(runtime.iotAnalytics());
    const result = await forwardReadings(batch.readings, {
      config: runtime.config.analytics.connector,
      sink,
      deadlineMs: startedAt + runtime.config.analytics.forwardBudgetMs,
      log: batch.log,
    });
    runtime.counters.forwarded += result.forwarded;
    if (result.undelivered.length > 0) {
      // If this write fails the invocation throws and the host replays the batch (at-least-once).
      const name = await writeForwarderDeadLetter(runtime.deadLetterContainer(), {
        function: ANALYTICS_FORWARDER,
        invocationId: context.invocationId,
        partition: batch.partition,
        firstSequenceNumber: batch.firstSequenceNumber,
        lastSequenceNumber: batch.lastSequenceNumber,
        writtenAt: new Date().toISOString(),
        messages: result.undelivered,
      });
      runtime.counters.deadLettered += result.undelivered.length;
      runtime.counters.blobs += 1;
      const first = result.undelivered[0];
      batch.log.warn(
        {
          deadLettered: result.undelivered.length,
          failuresByCode: result.failuresByCode,
          firstError: `${first?.error}: ${first?.errorMessage}`,
          blob: name,
        },
        'readings dead-lettered',
      );
    }
    batch.log.info(
      {
        events: batch.events.length,
        readings: batch.readings.length,
        forwarded: result.forwarded,
        deadLettered: result.undelivered.length,
      },
      'readings forwarded',
    );
  };
}

export const analyticsForwarderFunction = defineEventHubFunction(
  ANALYTICS_FORWARDER,
  'analytics',
  createAnalyticsForwarderHandler,
);
