/**
 * Fuzz over edgeHub inputs: 10,000 generated (mostly malformed) input messages on each of `put`,
 * `binary` and another input, sent by the IoT Hub emulator to the module; every one is answered with
 * exactly one status on output `status` (read back from the hub with EventHubConsumerClient).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import type { Subscription } from '@azure/event-hubs';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge } from '../../devstack/edge/index.js';
import type { RunningEdge } from '../../devstack/edge/index.js';
import { startIotHub } from '../../devstack/iothub/emulator.js';
import type { IotHub } from '../../devstack/iothub/emulator.js';

const RUNS = Number(process.env.EDGE_FUZZ_RUNS ?? 10_000);
const silent = pino({ level: 'silent' });
let dir: string;
let hub: IotHub;
let edge: RunningEdge;
let consumer: EventHubConsumerClient;
let subscription: Subscription;
let statuses = 0;
let malformedStatuses = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edge-hub-fuzz-'));
  hub = await startIotHub({ dir, mqttPort: 0, amqpPort: 0, logger: silent });
  edge = await startEdge({
    dir,
    hub: hub.connection,
    persistence: false,
    settings: {
      MemorySize: '262144',
      PublishInterval: '0',
      IotAnalyticsBatchSizePerChannel: '100',
      IotAnalyticsQueueSizePerChannel: '100000',
      IotAnalyticsMaxActiveChannels: '1000',
      IotAnalyticsDefaultChannelName: 'fuzz_default',
      LOG_LEVEL: 'silent',
    },
    log: silent,
  });
  consumer = new EventHubConsumerClient('$Default', hub.connection.eventHubsConnectionString);
  subscription = consumer.subscribe(
    {
      processEvents: async (batch) => {
        for (const e of batch) {
          if (e.properties?.['iot-ingest-schema'] !== undefined) continue;
          const body = e.body as { response?: { status?: unknown } } | undefined;
          if (body?.response?.status === 'success' || body?.response?.status === 'fail') statuses += 1;
          else malformedStatuses += 1;
        }
      },
      processError: async () => undefined,
    },
    { startPosition: earliestEventPosition, maxBatchSize: 1000, maxWaitTimeInSeconds: 1 },
  );
  // The SDK subscribes to inputs asynchronously after start, and the emulator (unlike edgeHub) does not
  // keep input messages for a module that has not subscribed yet: probe until the first status comes back.
  const { deviceId, moduleId } = edge.connection;
  const deadline = Date.now() + 30_000;
  while (statuses === 0 && Date.now() < deadline) {
    await hub.sendToModuleInput(deviceId, moduleId, 'put', '{"request":{"message":"{}"},"id":"probe"}', { channel: 'probe' });
    await new Promise((r) => setTimeout(r, 300));
  }
  if (statuses === 0) throw new Error('the module never answered the probe input');
  await new Promise((r) => setTimeout(r, 500));
});

afterAll(async () => {
  await subscription?.close();
  await consumer?.close();
  await edge?.stop();
  await hub?.stop();
  await rm(dir, { recursive: true, force: true });
});

const body = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
  { weight: 5, arbitrary: fc.json() },
  { weight: 5, arbitrary: fc.record({ request: fc.anything(), id: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o) ?? 'null') },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(131_073, 0x62)) },
);
const channel = fc.option(fc.string({ unit: fc.constantFrom(...'abXY09_-. '.split('')), maxLength: 140 }), { nil: undefined });

describe('fuzz over edgeHub inputs: every input answered on output status', () => {
  for (const [offset, input] of [[1, 'put'], [2, 'binary'], [3, 'telemetry_in']] as const) {
    it(`${RUNS} generated messages on input ${input} each get exactly one status`, async () => {
      const cases = fc.sample(fc.tuple(body, channel), { numRuns: RUNS, seed: 7700 + offset });
      const { deviceId, moduleId } = edge.connection;
      const before = statuses;
      for (let i = 0; i < cases.length; i += 500) {
        await Promise.all(
          cases.slice(i, i + 500).map(([b, ch]) => hub.sendToModuleInput(deviceId, moduleId, input, typeof b === 'string' ? b : b, ch === undefined ? {} : { channel: ch })),
        );
      }
      const deadline = Date.now() + 90_000;
      while (statuses - before < RUNS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 300));
      expect(statuses - before).toBe(RUNS);
      expect(malformedStatuses).toBe(0);
    }, 120_000);
  }
});
