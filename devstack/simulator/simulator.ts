/**
 * The device simulator: N devices producing readings at a total rate, some straight to the IoT Hub
 * (`azure-iot-device`), some through the edge module on the Greengrass topics (MQTT.js). It counts what
 * it sent and the statuses it received, and can track every reading (id → publish time) for tests and
 * the end-to-end benchmark.
 */
import type { ConnectorStatus, GreengrassDevice, GreengrassInput } from './greengrass-device.js';
import { openGreengrassDevice, openStatusMonitor } from './greengrass-device.js';
import type { HubDevice } from './hub-device.js';
import { openHubDevice } from './hub-device.js';
import { SensorModel } from './telemetry.js';

export interface SimulatorOptions {
  /** Total number of devices (0 allowed: the simulator then does nothing). */
  readonly devices: number;
  /** Readings per second across all devices. */
  readonly ratePerSecond: number;
  /** How many of the devices publish straight to the hub; the rest go through the edge module. Default: half, rounded up. */
  readonly directDevices?: number;
  /** Stop each device after this many readings (default: unlimited). */
  readonly readingsPerDevice?: number;
  /** First sequence number of every device (to continue a previous run without reusing ids). Default 0. */
  readonly firstSeq?: number;
  /** Device id prefix, default `sim`. Ids: `{prefix}-direct-001`, `{prefix}-gg-001`. */
  readonly devicePrefix?: string;
  /** Returns the device's connection string, registering it in the hub registry when missing. */
  readonly connectionStringFor?: (deviceId: string) => Promise<string>;
  /** The hub's CA (PEM text or file path). Needed when there are direct devices. */
  readonly hubCa?: string;
  /** The edge module's MQTT listener. Needed when there are Greengrass devices. */
  readonly edgeMqttUrl?: string;
  /** Channel for `put` and `binary` publishes. */
  readonly channel: string;
  /** Greengrass inputs to use, in rotation by sequence number; default put, put, binary, custom topic. */
  readonly greengrassInputs?: readonly GreengrassInput[];
  /** Keep every sent reading's id and publish time (tests, benchmark). Default false. */
  readonly trackReadings?: boolean;
  /** At most this many unacknowledged publishes per device; the schedule waits beyond it. Default 1000. */
  readonly maxInFlightPerDevice?: number;
  /** Probability per reading that a heat anomaly starts (telemetry.ts), 0–1. Default 0. */
  readonly anomalyRate?: number;
  /** Called on send failures (for logging); never throws into the loop. */
  readonly onError?: (deviceId: string, err: Error) => void;
}

export interface SimulatorCounters {
  readonly devicesDirect: number;
  readonly devicesGreengrass: number;
  /** Readings acknowledged by their first hop (hub or edge), by path. */
  readonly sentDirect: number;
  readonly sentGreengrass: number;
  readonly sendErrors: number;
  readonly statusSuccess: number;
  readonly statusFail: number;
  /** Fail statuses by error code. */
  readonly statusFailByError: Readonly<Record<string, number>>;
  /** Heat anomalies injected (anomalyRate). */
  readonly anomalies: number;
}

export interface TrackedReading {
  readonly deviceId: string;
  readonly path: 'direct' | 'greengrass';
  /** Epoch ms when the publish was issued. */
  readonly publishedAtMs: number;
  /** For Greengrass `put`: the request id its status carries. */
  readonly requestId?: string;
}

export interface Simulator {
  counters(): SimulatorCounters;
  /** Acknowledged readings by readingId (only with trackReadings). */
  readonly sent: ReadonlyMap<string, TrackedReading>;
  /** Status per correlated request id (only with trackReadings). */
  readonly statusById: ReadonlyMap<string, ConnectorStatus['response']>;
  /** Resolves when every device has sent readingsPerDevice readings (never, when unlimited). */
  finished(): Promise<void>;
  /** The next sequence number per device (to continue in a later run). */
  nextSeq(): number;
  stop(): Promise<void>;
}

const TICK_MS = 20;

interface DeviceSlot {
  readonly id: string;
  readonly path: 'direct' | 'greengrass';
  readonly model: SensorModel;
  readonly client: HubDevice | GreengrassDevice;
  inFlight: number;
  issued: number;
}

export function deviceIds(options: Pick<SimulatorOptions, 'devices' | 'directDevices' | 'devicePrefix'>): {
  direct: string[];
  greengrass: string[];
} {
  const prefix = options.devicePrefix ?? 'sim';
  const directCount = Math.min(options.devices, options.directDevices ?? Math.ceil(options.devices / 2));
  const pad = (n: number): string => String(n).padStart(3, '0');
  return {
    direct: Array.from({ length: directCount }, (_, i) => `${prefix}-direct-${pad(i + 1)}`),
    greengrass: Array.from({ length: options.devices - directCount }, (_, i) => `${prefix}-gg-${pad(i + 1)}`),
  };
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  if (!Number.isInteger(options.devices) || options.devices < 0) {
    throw new Error(`simulator devices: '${options.devices}' must be a whole number >= 0`);
  }
  if (!(options.ratePerSecond >= 0)) throw new Error(`simulator rate: '${options.ratePerSecond}' must be >= 0`);
  const ids = deviceIds(options);
  const firstSeq = options.firstSeq ?? 0;
  const maxInFlight = options.maxInFlightPerDevice ?? 1000;
  const sent = new Map<string, TrackedReading>();
  const statusById = new Map<string, ConnectorStatus['response']>();
  const failByError: Record<string, number> = {};
  let sentDirect = 0;
  let sentGreengrass = 0;
  let sendErrors = 0;
  let statusSuccess = 0;
  let statusFail = 0;

  const slots: DeviceSlot[] = [];
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(closers.splice(0).map((close) => close()));
  };
  try {
    if (ids.direct.length > 0) {
      if (!options.connectionStringFor || !options.hubCa) {
        throw new Error('simulator: direct devices need the hub (connectionStringFor and hubCa)');
      }
      for (const id of ids.direct) {
        const client = await openHubDevice({
          connectionString: await options.connectionStringFor(id),
          ca: options.hubCa,
        });
        closers.push(() => client.close());
        slots.push({
          id,
          path: 'direct',
          model: new SensorModel(id, undefined, firstSeq, options.anomalyRate ?? 0),
          client,
          inFlight: 0,
          issued: 0,
        });
      }
    }
    if (ids.greengrass.length > 0) {
      const mqttUrl = options.edgeMqttUrl;
      if (!mqttUrl) throw new Error('simulator: Greengrass devices need the edge module (edgeMqttUrl)');
      const monitor = await openStatusMonitor(mqttUrl, `${options.devicePrefix ?? 'sim'}-status-monitor`, (status) => {
        if (status.response.status === 'success') statusSuccess++;
        else {
          statusFail++;
          const code = status.response.error ?? 'unknown';
          failByError[code] = (failByError[code] ?? 0) + 1;
        }
        if (options.trackReadings && status.id !== undefined) statusById.set(status.id, status.response);
      });
      closers.push(() => monitor.close());
      for (const id of ids.greengrass) {
        const inputs = options.greengrassInputs;
        const client = await openGreengrassDevice({
          mqttUrl,
          deviceId: id,
          channel: options.channel,
          ...(inputs && inputs.length > 0
            ? { inputFor: (seq: number) => inputs[seq % inputs.length] as GreengrassInput }
            : {}),
        });
        closers.push(() => client.close());
        slots.push({
          id,
          path: 'greengrass',
          model: new SensorModel(id, undefined, firstSeq, options.anomalyRate ?? 0),
          client,
          inFlight: 0,
          issued: 0,
        });
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  const limit = options.readingsPerDevice ?? Number.POSITIVE_INFINITY;
  const perDeviceRate = slots.length > 0 ? options.ratePerSecond / slots.length : 0;
  const startedAtMs = Date.now();
  let stopped = false;
  let settle: () => void = () => undefined;
  const finishedPromise = new Promise<void>((resolve) => (settle = resolve));
  const pending = new Set<Promise<void>>();

  const sendOne = (slot: DeviceSlot): void => {
    const now = Date.now();
    const reading = slot.model.next(now);
    slot.inFlight++;
    slot.issued++;
    const promise = (async () => {
      try {
        if (slot.path === 'direct') {
          await (slot.client as HubDevice).send(reading);
          sentDirect++;
          if (options.trackReadings)
            sent.set(reading.readingId, { deviceId: slot.id, path: 'direct', publishedAtMs: now });
        } else {
          const publication = await (slot.client as GreengrassDevice).send(reading);
          sentGreengrass++;
          if (options.trackReadings) {
            sent.set(reading.readingId, {
              deviceId: slot.id,
              path: 'greengrass',
              publishedAtMs: now,
              ...(publication.requestId !== undefined ? { requestId: publication.requestId } : {}),
            });
          }
        }
      } catch (err) {
        sendErrors++;
        options.onError?.(slot.id, err as Error);
      } finally {
        slot.inFlight--;
      }
    })();
    pending.add(promise);
    void promise.finally(() => pending.delete(promise));
  };

  const allIssued = (): boolean => slots.every((slot) => slot.issued >= limit);
  const tick = (): void => {
    if (stopped) return;
    const elapsedS = (Date.now() - startedAtMs) / 1000;
    for (const slot of slots) {
      const due = Math.min(limit, Math.floor(perDeviceRate * elapsedS));
      while (slot.issued < due && slot.inFlight < maxInFlight) sendOne(slot);
    }
    if (allIssued()) {
      clearInterval(timer);
      void Promise.all([...pending]).then(() => settle());
    }
  };
  const timer = setInterval(tick, TICK_MS);
  if (slots.length === 0 || limit === 0) {
    clearInterval(timer);
    settle();
  }

  return {
    counters: () => ({
      devicesDirect: ids.direct.length,
      devicesGreengrass: ids.greengrass.length,
      sentDirect,
      sentGreengrass,
      sendErrors,
      statusSuccess,
      statusFail,
      statusFailByError: { ...failByError },
      anomalies: slots.reduce((sum, slot) => sum + slot.model.anomalyCount, 0),
    }),
    sent,
    statusById,
    finished: () => finishedPromise,
    nextSeq: () => firstSeq + Math.max(0, ...slots.map((slot) => slot.issued)),
    async stop() {
      stopped = true;
      clearInterval(timer);
      // Give in-flight publishes a moment to be acknowledged, then close the clients.
      await Promise.race([Promise.all([...pending]), new Promise((resolve) => setTimeout(resolve, 2000))]);
      await closeAll();
    },
  };
}
