/**
 * The live page's view of the stream: a consumer on the hub's `$Default` group (the one IoT Explorer
 * reads), from the newest event on, turning events into records with the Function app's own reader
 * (trigger shape → records), so a device's readings are named as the cloud names them. It keeps the last
 * readings of each device (their numeric fields) and the end-to-end latency: the reading's own `ts` to
 * the hub's `enqueuedAt`, and to the moment this consumer got it.
 */
import { DEFAULT_TRUSTED_MODULES } from '../../functions/config.js';
import { EventHubConsumerClient, latestEventPosition } from '@azure/event-hubs';
import type { Subscription } from '@azure/event-hubs';
import { toReadingsAll } from '../../functions/record.js';
import { eventsFromTrigger } from '../../functions/trigger.js';
import { toTriggerInput } from '../functions-host/trigger-input.js';

/** Points kept per device, and fields charted per device. */
const POINTS_PER_DEVICE = 240;
const MAX_FIELDS = 4;
const MAX_DEVICES = 64;
const LATENCY_WINDOW_MS = 30_000;

export interface ReadingPoint {
  /** Epoch ms of the reading's own `ts`. */
  readonly t: number;
  readonly values: Readonly<Record<string, number>>;
}

export interface LatencySummary {
  readonly samples: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface ReadingsTap {
  /** Points per device received after `cursor` (0: all kept), the fields each device charts, and the next cursor. */
  since(cursor: number): { devices: Record<string, ReadingPoint[]>; fields: Record<string, string[]>; cursor: number };
  latency(nowMs: number): { deviceToHub: LatencySummary; deviceToConsumer: LatencySummary };
  readonly received: number;
  stop(): Promise<void>;
}

/** Recent latency samples, summarised over a sliding window. */
export class LatencyWindow {
  private readonly samples: Array<{ atMs: number; ms: number }> = [];
  constructor(private readonly windowMs = LATENCY_WINDOW_MS) {}

  add(atMs: number, ms: number): void {
    if (Number.isFinite(ms)) this.samples.push({ atMs, ms });
  }

  summary(nowMs: number): LatencySummary {
    while (this.samples.length > 0 && this.samples[0]!.atMs < nowMs - this.windowMs) this.samples.shift();
    const sorted = this.samples.map((s) => s.ms).sort((a, b) => a - b);
    const at = (p: number): number | null =>
      sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
    return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99) };
  }
}

/** Numeric top-level fields of a body, at most MAX_FIELDS (the first ones seen stay the device's fields). */
export function numericFields(body: unknown, known: readonly string[] | undefined): Record<string, number> {
  const values: Record<string, number> = {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return values;
  const entries = Object.entries(body as Record<string, unknown>).filter(
    ([k, v]) => typeof v === 'number' && Number.isFinite(v) && k !== 'seq',
  );
  for (const [key, value] of entries) {
    if (known ? known.includes(key) : Object.keys(values).length < MAX_FIELDS) values[key] = value as number;
  }
  return values;
}

export function startReadingsTap(options: {
  eventHubsConnectionString: string;
  onError?: (err: Error) => void;
}): ReadingsTap {
  const client = new EventHubConsumerClient('$Default', options.eventHubsConnectionString);
  const points = new Map<string, Array<ReadingPoint & { n: number }>>();
  const fields = new Map<string, string[]>();
  const deviceToHub = new LatencyWindow();
  const deviceToConsumer = new LatencyWindow();
  let received = 0;

  const subscription: Subscription = client.subscribe(
    {
      processEvents: async (events, context) => {
        if (events.length === 0) return;
        const arrivedMs = Date.now();
        const partition = {
          fullyQualifiedNamespace: context.fullyQualifiedNamespace,
          eventHubName: context.eventHubName,
          consumerGroup: context.consumerGroup,
          partitionId: context.partitionId,
        };
        const { messages, triggerMetadata } = toTriggerInput(events, partition, 'binary');
        const { readings } = toReadingsAll(eventsFromTrigger(messages, triggerMetadata), { defaultChannel: undefined, trustedModules: new Set(DEFAULT_TRUSTED_MODULES) });
        for (const { record } of readings) {
          received++;
          const t = Date.parse(record.ts);
          deviceToHub.add(arrivedMs, Date.parse(record.enqueuedAt) - t);
          deviceToConsumer.add(arrivedMs, arrivedMs - t);
          if (!points.has(record.deviceId) && points.size >= MAX_DEVICES) continue;
          const values = numericFields(record.body, fields.get(record.deviceId));
          if (Object.keys(values).length === 0) continue;
          if (!fields.has(record.deviceId)) fields.set(record.deviceId, Object.keys(values));
          let list = points.get(record.deviceId);
          if (!list) points.set(record.deviceId, (list = []));
          list.push({ t, values, n: received });
          if (list.length > POINTS_PER_DEVICE) list.splice(0, list.length - POINTS_PER_DEVICE);
        }
      },
      processError: async (err) => options.onError?.(err as Error),
    },
    { startPosition: latestEventPosition, skipParsingBodyAsJson: true, maxBatchSize: 500, maxWaitTimeInSeconds: 0.25 },
  );

  return {
    since(cursor) {
      const devices: Record<string, ReadingPoint[]> = {};
      for (const [deviceId, list] of points) {
        const fresh = list.filter((p) => p.n > cursor).map(({ t, values }) => ({ t, values }));
        if (fresh.length > 0) devices[deviceId] = fresh;
      }
      return { devices, fields: Object.fromEntries(fields), cursor: received };
    },
    latency: (nowMs) => ({
      deviceToHub: deviceToHub.summary(nowMs),
      deviceToConsumer: deviceToConsumer.summary(nowMs),
    }),
    get received() {
      return received;
    },
    async stop() {
      await subscription.close();
      await client.close();
    },
  };
}
