/**
 * Shared pieces of the IoT Hub emulator's integration tests: a tiny in-memory PartitionedLog (so the
 * MQTT side can be tested without the durable log), identity helpers and SDK client helpers.
 */
import { createHash } from 'node:crypto';
import { Client, ModuleClient } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import type { HubEventInput, PartitionHealth, PartitionInfo, PartitionedLog, StoredEvent } from '../../devstack/iothub/log-types.js';
import { updateRegistry, withDevice, withModule } from '../../contracts/registry.js';
import type { DeviceIdentity, ModuleIdentity } from '../../contracts/registry.js';

export class MemoryLog implements PartitionedLog {
  readonly partitions: StoredEvent[][];
  /** Every event in append order, across partitions. */
  readonly appended: StoredEvent[] = [];
  private readonly listeners: Set<(event: StoredEvent) => void>[];

  constructor(readonly partitionCount: number) {
    this.partitions = Array.from({ length: partitionCount }, () => []);
    this.listeners = Array.from({ length: partitionCount }, () => new Set());
  }

  partitionFor(key: string): number {
    return createHash('sha256').update(key).digest().readUInt32BE(0) % this.partitionCount;
  }

  all(): StoredEvent[] {
    return this.appended;
  }

  async append(
    event: HubEventInput,
    partition = this.partitionFor(event.partitionKey ?? event.deviceId),
  ): Promise<StoredEvent> {
    await new Promise((resolve) => setImmediate(resolve));
    const events = this.partitions[partition];
    if (!events) throw new Error(`no partition ${partition}`);
    const stored: StoredEvent = {
      ...event,
      partition,
      sequenceNumber: events.length,
      offset: String(events.length),
      enqueuedTimeUtc: Date.now(),
    };
    events.push(stored);
    this.appended.push(stored);
    for (const listener of this.listeners[partition] ?? []) listener(stored);
    return stored;
  }

  read(partition: number, from: number, max: number): readonly StoredEvent[] {
    return (this.partitions[partition] ?? []).slice(from, from + max);
  }

  health(): PartitionHealth {
    return { unreadableFrames: 0, tornTailBytes: 0, failure: undefined };
  }

  sequenceNumberAfterTime(partition: number, epochMs: number): number {
    const events = this.partitions[partition] ?? [];
    const found = events.findIndex((e) => e.enqueuedTimeUtc > epochMs);
    return found < 0 ? events.length : found;
  }

  sequenceNumberForOffset(partition: number, offset: string): number | undefined {
    return this.partitions[partition]?.find((e) => e.offset === offset)?.sequenceNumber;
  }

  info(partition: number): PartitionInfo {
    const events = this.partitions[partition] ?? [];
    const last = events.at(-1);
    return {
      partition,
      beginSequenceNumber: events.length ? 0 : -1,
      lastSequenceNumber: last?.sequenceNumber ?? -1,
      lastOffset: last?.offset ?? '-1',
      lastEnqueuedTimeUtc: last?.enqueuedTimeUtc ?? 0,
      isEmpty: events.length === 0,
    };
  }

  onAppend(partition: number, listener: (event: StoredEvent) => void): () => void {
    this.listeners[partition]?.add(listener);
    return () => this.listeners[partition]?.delete(listener);
  }

  async close(): Promise<void> {}
}

const NOW = () => new Date().toISOString();

export async function addDevice(registryFile: string, deviceId: string, edge = false): Promise<DeviceIdentity> {
  return updateRegistry(registryFile, (data) => {
    const r = withDevice(data, deviceId, { nowIso: NOW(), edge });
    return { data: r.data, result: r.device };
  });
}

export async function addModule(registryFile: string, deviceId: string, moduleId: string): Promise<ModuleIdentity> {
  return updateRegistry(registryFile, (data) => {
    const r = withModule(data, deviceId, moduleId, { nowIso: NOW() });
    return { data: r.data, result: r.module };
  });
}

/** Options passed in ONE setOptions call (a later call without `ca` would drop it, PROTOCOLS.md §1.9). */
export interface ClientTuning {
  readonly tokenValidTimeInSeconds?: number;
  readonly tokenRenewalMarginInSeconds?: number;
}

function options(ca: string, tuning: ClientTuning): Record<string, unknown> {
  return tuning.tokenValidTimeInSeconds === undefined
    ? { ca }
    : {
        ca,
        tokenRenewal: {
          tokenValidTimeInSeconds: tuning.tokenValidTimeInSeconds,
          tokenRenewalMarginInSeconds: tuning.tokenRenewalMarginInSeconds ?? 1,
        },
      };
}

export async function openDeviceClient(
  connectionString: string,
  ca: string,
  tuning: ClientTuning = {},
): Promise<Client> {
  const client = Client.fromConnectionString(connectionString, Mqtt);
  await client.setOptions(options(ca, tuning));
  await client.open();
  return client;
}

export async function openModuleClient(
  connectionString: string,
  ca: string,
  tuning: ClientTuning = {},
): Promise<ModuleClient> {
  const client = ModuleClient.fromConnectionString(connectionString, Mqtt);
  await client.setOptions(options(ca, tuning));
  await client.open();
  return client;
}

/** Polls until `check` returns true (or fails the test after `timeoutMs`). */
export async function eventually(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
